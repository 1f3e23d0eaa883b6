#!/usr/bin/env bash
# Question: what does every strategy score with a model on every benchmark it applies to? Figures: BENCHMARKS.md,
# "Synthetic suites" and "Accuracy on the real sets" (other strategies); docs/studies/default_model_table.md,
# docs/studies/commonsense_strategies.md.
# The accuracy table: every strategy on every benchmark it
# applies to, then the report (accuracy with 95% intervals, paired differences, chance / majority rows).
# Rerunning resumes. Usage:
#   benchmarks/studies/default_model_table.sh [MODEL] [OUT] [DATA_DIR]
# MODEL defaults to the embedded model; DATA_DIR (the original datasets) is needed for Com2Sense only.
set -euo pipefail
MODEL=${1:-default}
OUT=${2:-runs/table}
DATA=${3:-}
bench() { reasonkit bench --model "$MODEL" --out "$OUT" "$@"; }

# synthetic suites (trained formats)
bench -b arithmetic -s scratchpad -s arithmetic_direct --limit 200
bench -b arithmetic --split test_long -s scratchpad -s arithmetic_direct --limit 200 --out "$OUT/test_long"
bench -b multistep -s direct -s cot --limit 500  # the whole test split
bench -b multistep -s "self_consistency(inner=cot, n=40)" --limit 500
bench -b world -s direct --limit 200
bench -b world -s maieutic --limit 200
# maieutic answering an empty tree as before: P(true | E) against P(true | ~E)
bench -b world -s "maieutic(fallback='pair')" --limit 60
bench -b corrections -s direct -s "memory(inner=direct, k=1)"

# commonsense QA
bench -b csqa -s direct -s cot --limit 500
bench -b csqa -s "self_consistency(inner=cot, n=40)" --limit 500
# 4-shot prompts of the longer sets can pass the 512-token window: drop the oldest tokens (of the first shot)
for b in arc_easy arc_challenge openbookqa; do
  bench -b "$b" -s direct --limit 300
  bench -b "$b" -s cot --limit 300 --truncation left
done
for b in strategyqa creak csqa2; do
  bench -b "$b" -s direct --limit 300
  bench -b "$b" -s cot --limit 300 --truncation left
done
bench -b strategyqa -b creak -b csqa2 -s maieutic --limit 300 --truncation left
# self-consistency on every set cot applies to (csqa above)
for b in strategyqa creak csqa2 arc_easy arc_challenge openbookqa; do
  bench -b "$b" -s "self_consistency(inner=cot, n=40)" --limit 300 --truncation left
done
if [[ -n "$DATA" ]]; then
  # background knowledge the repo may use: GenericsKB sentences, retrieved by the memory strategy
  store="$OUT/stores/genericskb"
  [[ -f "$store/meta.json" ]] || reasonkit memory --store "$store" \
    --jsonl "$DATA/genericskb_subset/genericskb_50k.jsonl" --key generic_sentence --leak-check small --data-dir "$DATA"
  bench -b csqa -s "memory(inner=direct, store='$store', k=3)" --limit 500
  for b in strategyqa creak csqa2 arc_easy arc_challenge openbookqa; do
    bench -b "$b" -s "memory(inner=direct, store='$store', k=3)" --limit 300 --truncation left
  done
  bench -b com2sense --data-dir "$DATA" -s direct --limit 300
  bench -b com2sense --data-dir "$DATA" -s cot --limit 300 --truncation left
  bench -b com2sense --data-dir "$DATA" -s maieutic --limit 300 --truncation left
  bench -b com2sense --data-dir "$DATA" -s "self_consistency(inner=cot, n=40)" --limit 300 --truncation left
  bench -b com2sense --data-dir "$DATA" -s "memory(inner=direct, store='$store', k=3)" --limit 300 \
    --truncation left
fi
reasonkit report "$OUT" --out "$OUT/report"
