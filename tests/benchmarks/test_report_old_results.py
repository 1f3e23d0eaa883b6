"""The report reads trace fields through typed models (reasonkit.types); results written before they existed
still load and score the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasonkit.benchmarks.report import load_runs, signal_table, true_false_margin, votes_at_k
from reasonkit.benchmarks.runner import RESULTS_FILE, RUN_FILE, RunRecord
from reasonkit.types import SampledSteps, ScoredSteps, Trace, VoteAtK

# Lines as `reasonkit bench` wrote them before the typed trace fields (LM calls and path texts cut short).
OLD_SELF_CONSISTENCY = (
    '{"index":0,"question_id":"s1","question":{"id":"s1","text":"Fire is hot.","kind":"binary","options":null,'
    '"gold":true,"split":"dev","metadata":{"benchmark":"toy"}},"gold":true,"correct":false,"abstained":false,'
    '"lm_calls":1,"tokens":12,"finished_s":0.0106,"prediction":{"question_id":"s1","answer":false,'
    '"answer_text":"False","scores":{"True":0.5,"False":0.5},"confidence":0.5,"trace":{"strategy":'
    '"self_consistency","calls":[],"steps":{"paths":[{"text":"Because. So the answ","answer":true,"method":'
    '"binary_word","span":"yes.","logprob":-4.28,"n_tokens":6,"finish_reason":"eos","weight":0.49},{"text":'
    '"Hmm. So the answer i","answer":false,"method":"binary_word","span":"no.","logprob":-3.70,"n_tokens":6,'
    '"finish_reason":"eos","weight":0.54}],"tally":{"counts":{"True":1,"False":1},"weights":{"True":0.49,'
    '"False":0.54},"shares":{"True":0.5,"False":0.5},"abstained":0,"vote":"majority"},"votes_at_k":[{"k":1,'
    '"majority":true,"weighted":true,"abstained":0},{"k":2,"majority":false,"weighted":false,"abstained":0}]},'
    '"notes":[],"children":[]}},"error":null}'
)
OLD_DIRECT_TRACE = (
    '{"strategy":"direct","calls":[],"steps":{"prompt":"Question: True or false: Fire is hot.\\nAnswer:",'
    '"continuations":[" True"," False"],"normalization":"char","n_tokens":{"True":1,"False":1},"scores":{"raw":'
    '{"True":-1.5,"False":-2.5},"token":{"True":-1.5,"False":-2.5},"char":{"True":-0.25,"False":-0.5}},'
    '"answer_by":{"raw":"True","token":"True","char":"True"}},"notes":[],"children":[]}'
)


def old_line(question_id: str, gold: bool, trace: str) -> str:
    return (
        f'{{"index":0,"question_id":"{question_id}","question":{{"id":"{question_id}","text":"Fire is hot.",'
        f'"kind":"binary","options":null,"gold":{json.dumps(gold)},"split":"dev","metadata":{{}}}},'
        f'"gold":{json.dumps(gold)},"correct":{json.dumps(gold)},"abstained":false,"lm_calls":4,"tokens":4,'
        f'"finished_s":0.001,"prediction":{{"question_id":"{question_id}","answer":true,"answer_text":"True",'
        f'"scores":{{"True":-0.25,"False":-0.5}},"confidence":0.56,"trace":{trace}}},"error":null}}'
    )


def write_run(folder: Path, strategy: str, lines: list[str]) -> None:
    folder.mkdir(parents=True)
    record = RunRecord(
        benchmark="toy",
        split="dev",
        strategy=strategy,
        strategy_config={"name": strategy},
        model="fake",
        model_fingerprint="fake",
        seed=0,
        limit=None,
        n_questions=len(lines),
        data_hash="0",
    )
    (folder / RUN_FILE).write_text(record.model_dump_json())
    (folder / RESULTS_FILE).write_text("".join(line + "\n" for line in lines))


def test_old_self_consistency_lines_give_the_votes_at_each_k(tmp_path: Path) -> None:
    write_run(tmp_path / "sc", "self_consistency", [OLD_SELF_CONSISTENCY])
    [run] = load_runs([tmp_path / "sc"])
    assert votes_at_k(run) == {1: {"s1": True}, 2: {"s1": False}}
    steps = run.lines[0].prediction.trace.steps_as(SampledSteps)
    assert steps is not None and steps.votes_at_k[1] == VoteAtK(
        k=2, majority=False, weighted=False, abstained=0
    )


def test_old_direct_lines_give_the_margin_also_inside_a_wrapper(tmp_path: Path) -> None:
    wrapped = (
        f'{{"strategy":"memory","calls":[],"steps":{{"prompt_text":"Fire is hot."}},"notes":[],'
        f'"children":[{OLD_DIRECT_TRACE}]}}'
    )
    write_run(
        tmp_path / "direct", "direct", [old_line("a", True, OLD_DIRECT_TRACE), old_line("b", False, wrapped)]
    )
    [run] = load_runs([tmp_path / "direct"])
    assert [true_false_margin(line.prediction.trace) for line in run.lines] == [0.25, 0.25]  # under "char"
    assert "| toy | direct | 2 | 0.500 " in signal_table([run])


def test_steps_that_do_not_fit_a_view_read_as_none() -> None:
    assert (
        Trace(steps={"scores": {"True": 0.1, "False": 0.2}}).steps_as(ScoredSteps) is None
    )  # not per normalisation
    assert Trace(steps={"votes_at_k": [{"k": "many"}]}).steps_as(SampledSteps) is None
    scored = Trace(steps={"scores": {"raw": {"True": -1, "False": -2}}}).steps_as(ScoredSteps)
    assert (
        scored is not None
        and scored.normalization == "raw"
        and scored.scores["raw"]["True"] == pytest.approx(-1.0)
    )
