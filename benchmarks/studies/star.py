"""Does STaR beat its start model and fine-tuning on answers alone? The one planned look on a held-out draw.

Protocol, fixed before any run (docs/studies/self_taught.md, "STaR"): `reasonkit star` iterates with its
accuracy on the dev draw (--suite-seed 271, test split, 300 questions); this script then evaluates, ONCE, every
model of the run (the start model, each iteration) and of the answers-only run on the held-out draw
(--suite-seed 2727, test split, at most 500 questions: that draw holds 333 once `fresh_split` has left out the
seed-0 suite's questions), and prints paired differences with 95% bootstrap intervals:
the last iteration against the start model and against answers-only (direct, and cot for completeness). It also
checks that no evaluation question is a train question, counts how many kept rationales are the exact worked
chain (a right answer may come from a wrong rationale), and sums the compute.

    python -m reasonkit.benchmarks.studies.star --star runs/self-taught/star-multistep \\
        --answers-only runs/self-taught/answers-only-multistep --out runs/self-taught/heldout
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from reasonkit.atomic import atomic_write_text, read_utf8
from reasonkit.benchmarks.metrics import bootstrap_accuracy, paired_comparison
from reasonkit.benchmarks.plan import EvaluationPlan
from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.runner import ResultLine
from reasonkit.benchmarks.synthetic.base import TRAINED_N_TRAIN
from reasonkit.models import load_model
from reasonkit.star.loop import train_questions
from reasonkit.star.state import STATE_FILE, StarState
from reasonkit.strategies.answer_extraction import answer_phrase_start
from reasonkit.types import Question

DEV_SEED, HELDOUT_SEED, HELDOUT_SIZE = 271, 2727, 500


def overlap(evaluation: Iterable[Question], train: Iterable[Question]) -> list[str]:
    """Ids of evaluation questions whose text is also a train question's."""
    texts = {question.text for question in train}
    return [question.id for question in evaluation if question.text in texts]


def exact_rationale(row: dict[str, Any], question: Question) -> bool:
    """Is a kept row's rationale the question's worked chain, equation for equation (multistep's metadata)?"""
    return exact_chain(row["text"].rpartition("\nAnswer:")[2], question)


def exact_chain(text: str, question: Question) -> bool:
    """Is `text` (a rationale, its answer sentence cut off) the question's worked chain?"""
    cut = answer_phrase_start(text)
    written = (text if cut is None else text[:cut]).strip()
    return written == str(question.metadata.get("rationale", "")).strip()


def rationale_audit(state: StarState) -> list[dict[str, Any]]:
    """Per iteration and origin: rows kept, and the share whose rationale is the exact chain."""
    options = state.options
    pool = {q.id: q for q in train_questions(options.benchmark, options.skip + options.questions, None)}
    audit = []
    for record in state.iterations[1:]:
        if record.rows_file is None:
            continue
        rows = [json.loads(line) for line in read_utf8(record.rows_file).splitlines()]
        for origin in dict.fromkeys(row["origin"] for row in rows):
            mine = [row for row in rows if row["origin"] == origin]
            exact = sum(exact_rationale(row, pool[row["id"]]) for row in mine)
            audit.append({"iteration": record.index, "origin": origin, "kept": len(mine), "exact": exact})
    return audit


def evaluate(
    model_dir: Path, questions: Sequence[Question], specs: Sequence[str], out: Path
) -> dict[str, list[ResultLine]]:
    """Every spec on the held-out draw with one model, into OUT/<benchmark>/<spec>/ (resumable)."""
    plan = EvaluationPlan.build({"multistep": questions}, list(specs), out=out)
    outcomes = plan.execute(load_model(str(model_dir)), model=str(model_dir))
    return {outcome.label: outcome.lines for outcome in outcomes}


def options_only(questions: Sequence[Question]) -> list[Question]:
    """The questions with the chain taken out ("What is the result?" and the options): what a model gets right
    here it reads from the options alone (the distractors are built around the answer: +-1, +-10, +-the last
    step's amount, intermediate values)."""
    return [question.model_copy(update={"text": "What is the result?"}) for question in questions]


def correct_by_id(lines: Sequence[ResultLine]) -> list[bool]:
    return [line.correct for line in sorted(lines, key=lambda line: line.question_id)]


def compute_rows(state: StarState) -> list[dict[str, Any]]:
    """Per iteration: train tokens and minutes; calls and generated tokens per sampled question."""
    rows = []
    for record in state.iterations[1:]:
        asked = (record.sampled or 0) or 1
        rows.append(
            {
                "iteration": record.index,
                "train_tokens": record.training.train_tokens,
                "train_minutes": round(record.training.train_seconds / 60, 1),
                "calls_per_sampled_question": round(record.sampling.calls / asked, 2),
                "generated_tokens_per_sampled_question": round(record.sampling.generated_tokens / asked, 1),
            }
        )
    return rows


def load_state(folder: Path) -> StarState:
    return StarState.model_validate_json(read_utf8(folder / STATE_FILE))


@click.command()
@click.option(
    "--star", "star_dir", required=True, type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@click.option(
    "--answers-only",
    "answers_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
)
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--suite-seed", type=int, default=HELDOUT_SEED, show_default=True)
@click.option("--limit", type=int, default=HELDOUT_SIZE, show_default=True)
def main(star_dir: Path, answers_dir: Path, out: Path, suite_seed: int, limit: int) -> None:
    star, answers = load_state(star_dir), load_state(answers_dir)
    for folder, state in ((star_dir, star), (answers_dir, answers)):
        unfinished = [r.index for r in state.iterations if r.model_dir is None or r.accuracy is None]
        if unfinished or len(state.iterations) < 2:
            raise click.ClickException(f"{folder}: the run is not finished (iterations {unfinished or [1]})")
    options = star.options
    heldout = load_questions(options.benchmark, split="test", suite_seed=suite_seed)[:limit]
    dev = load_questions(options.benchmark, split="test", suite_seed=DEV_SEED)[: options.limit]
    trained = train_questions(options.benchmark, TRAINED_N_TRAIN, None)
    leaks = {name: overlap(draw, trained) for name, draw in (("held-out", heldout), ("dev", dev))}
    if any(leaks.values()):
        raise click.ClickException(f"evaluation questions in the train split: {leaks}")
    click.echo(
        f"disjoint: {len(heldout)} held-out and {len(dev)} dev questions, none in the {len(trained)} train questions"
    )

    cot = options.eval_strategies[0]
    models = {
        f"iteration {r.index}" if r.index else "start": Path(r.model_dir or "") for r in star.iterations
    }
    results = {
        name: evaluate(model, heldout, [cot], out / name.replace(" ", "-")) for name, model in models.items()
    }
    baseline = Path(answers.iterations[-1].model_dir or "")
    results["answers-only"] = evaluate(baseline, heldout, ["direct", cot], out / "answers-only")

    blind = options_only(heldout)
    last_model = Path(star.iterations[-1].model_dir or "")
    results["start, options only"] = evaluate(models["start"], blind, [cot], out / "options-only-start")
    results["iteration N, options only"] = evaluate(last_model, blind, [cot], out / "options-only-star")
    results["answers-only, options only"] = evaluate(
        baseline, blind, ["direct", cot], out / "options-only-answers"
    )
    table = []
    for name, runs in results.items():
        for label, lines in runs.items():
            n = len(lines)
            table.append(
                {
                    "model": name,
                    "strategy": label,
                    "accuracy": str(bootstrap_accuracy([line.correct for line in lines])),
                    "right_with_exact_chain": sum(
                        line.correct
                        and exact_chain(str(line.prediction.trace.steps.get("rationale", "")), line.question)
                        for line in lines
                    ),
                    "calls_per_question": round(sum(line.lm_calls for line in lines) / n, 2),
                    "tokens_per_question": round(sum(line.tokens for line in lines) / n, 1),
                }
            )
    last = f"iteration {star.iterations[-1].index}"
    pairs = [
        (last, cot, "start", cot),
        (last, cot, "answers-only", "direct"),
        (last, cot, "answers-only", cot),
    ]
    pairs += [(f"iteration {r.index}", cot, "start", cot) for r in star.iterations[1:-1]]
    comparisons = []
    for a, label_a, b, label_b in pairs:
        paired = paired_comparison(correct_by_id(results[a][label_a]), correct_by_id(results[b][label_b]))
        comparisons.append(
            {"a": f"{a} {label_a}", "b": f"{b} {label_b}", **json.loads(paired.model_dump_json())}
        )
    report = {
        "heldout": {"suite_seed": suite_seed, "n": len(heldout)},
        "accuracy": table,
        "paired": comparisons,
        "rationales": rationale_audit(star),
        "compute": {"star": compute_rows(star), "answers_only": compute_rows(answers)},
        "dev": [{"iteration": r.index, **(r.accuracy or {})} for r in star.iterations]
        + [{"answers_only": True, **(answers.iterations[-1].accuracy or {})}],
    }
    atomic_write_text(out / "star_study.json", json.dumps(report, indent=2) + "\n")
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
