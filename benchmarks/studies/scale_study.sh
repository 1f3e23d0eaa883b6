#!/usr/bin/env bash
# Question: at which model size does each reasoning format start to work? Figures: BENCHMARKS.md, "Recipe
# variants (not shipped)"; docs/studies/scale_study.md.
# The scale study: the `small` recipe's data and schedule at several model sizes, each
# evaluated on the same questions. Rerunning resumes (training and evaluation alike). Usage:
#   benchmarks/studies/scale_study.sh DATA_DIR [OUT] [SIZE ...]
# SIZEs default to "tiny small"; the `small` run is the embedded default model's own recipe. DTYPE=fp32
# overrides the recipe's bf16 autocast, which a CPU without AVX-512 bf16 or AMX emulates slowly.
set -euo pipefail
DATA=$1
OUT=${2:-runs/scale}
shift $(( $# >= 2 ? 2 : 1 ))
SIZES=${*:-tiny small}
for size in $SIZES; do
  model_run="$OUT/train-$size"
  if [[ ! -f "$model_run/model/model.safetensors" ]]; then
    resume=()
    [[ -d "$model_run/checkpoint" ]] && resume=(--resume)
    dtype=()
    [[ -n "${DTYPE:-}" ]] && dtype=(--dtype "$DTYPE")
    reasonkit train --recipe small --size "$size" "${dtype[@]}" --data-dir "$DATA" --out "$model_run" \
      "${resume[@]}"
  fi
  bench() { reasonkit bench --model "$model_run/model" --out "$OUT/eval-$size" "$@"; }
  bench -b arithmetic -s scratchpad -s arithmetic_direct --limit 200
  bench -b multistep -s direct -s cot --limit 300
  bench -b multistep -s "self_consistency(inner=cot, n=40)" --limit 100
  bench -b world -s direct --limit 200
  bench -b world -s "maieutic(fallback='pair')" --limit 40  # as measured in docs/studies/scale_study.md
  bench -b corrections -s direct -s "memory(inner=direct, k=1)"
  bench -b csqa -s direct --limit 500
  bench -b csqa -s cot --limit 300
  reasonkit report "$OUT/eval-$size" --out "$OUT/report-$size"
done
