"""The decomposition study's figures from `reasonkit bench` runs (docs/studies/decomposition.md).

python -m reasonkit.benchmarks.studies.decomposition compare RUN_A RUN_B [--verify-countdown]
    accuracy of each run, calls and tokens per question, the paired difference A - B with its 95%
    interval; --verify-countdown counts a countdown answer only when the written steps check
    (`check_solution`), so a model that writes a wrong equation to land on the target is not counted
python -m reasonkit.benchmarks.studies.decomposition why RUN
    where a least_to_most, self_ask or tree_of_thoughts run went wrong, step by step, against the
    suite's own decomposition, follow-ups, or arithmetic and reachability
python -m reasonkit.benchmarks.studies.decomposition gap HOP1 HOP2 DIRECT SELF_ASK
    the compositionality gap on twohop: among test questions whose both hops the model answers, the
    share whose composition it misses, answered directly and by self-ask, and the paired difference
python -m reasonkit.benchmarks.studies.decomposition checker --model DIR --spec TOT RUN
    tree of thoughts on a countdown run's questions with a perfect judge (`CountdownChecker`) in place of
    the evaluator, paired with that run (solved puzzles): the proposer and the search measured apart
    from the model's evaluation
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import click
from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from reasonkit.benchmarks.metrics import auc, bootstrap_accuracy, paired_comparison
from reasonkit.benchmarks.runner import ResultLine, load_run, result_line
from reasonkit.benchmarks.synthetic.countdown import STEP, apply, check_solution, promising, reachable
from reasonkit.registry import build_strategy
from reasonkit.strategies.tree_of_thoughts import TreeOfThoughts
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question


def written_solution(line: ResultLine) -> str:
    """The steps a countdown answer rests on: tree of thoughts' chosen path, a rationale, or the voted paths'."""
    steps: dict[str, Any] = line.prediction.trace.steps
    if "path" in steps:
        return " ".join(steps["path"])
    if "rationale" in steps:
        return str(steps["rationale"])
    voters = [p for p in steps.get("paths", []) if p.get("answer") == line.prediction.answer]
    return max(voters, key=lambda p: p.get("weight", 0.0))["text"] if voters else ""


def verified(line: ResultLine) -> bool:
    """Right, and the written solution behind the answer checks step by step (for a vote: the most probable
    path among those that gave the winning answer)."""
    if not line.correct:
        return False
    meta = line.question.metadata
    numbers, target = tuple(meta["numbers"]), int(meta["target"])
    return check_solution(numbers, target, written_solution(line))


def summary(label: str, lines: list[ResultLine], correct: list[bool]) -> str:
    n = len(lines)
    calls = sum(line.lm_calls for line in lines) / n
    tokens = sum(line.tokens for line in lines) / n
    return f"{label}: {bootstrap_accuracy(correct)} (n={n}), {calls:.1f} calls/q, {tokens:.0f} tokens/q"


def _aligned(*runs: Path) -> list[list[ResultLine]]:
    loaded = [sorted(load_run(run)[1], key=lambda line: line.index) for run in runs]
    ids = [line.question_id for line in loaded[0]]
    for run, lines in zip(runs, loaded, strict=True):
        if [line.question_id for line in lines] != ids:
            raise click.ClickException(f"{run}: not the same questions, in the same order, as {runs[0]}")
    return loaded


@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid"))
class CountdownChecker(Strategy):
    """A perfect judge for tree of thoughts on countdown (`countdown.promising`): True, with confidence 1,
    of a state whose steps check and from which the target can still be made. Not registered: a study tool."""

    name: ClassVar[str] = "countdown_checker"

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        puzzle = re.fullmatch(r"Make (\d+) from ([\d ]+)\.", question.metadata["question"].strip())
        if puzzle is None:
            raise ValueError(
                f"countdown_checker: {question.metadata['question']!r} is not a countdown puzzle"
            )
        numbers = tuple(int(n) for n in puzzle[2].split())
        good = promising(numbers, int(puzzle[1]), list(question.metadata["steps"]))
        return Prediction(question_id=question.id, answer=good, confidence=1.0)


@click.group()
def main() -> None:
    """Figures of the decomposition study."""


@main.command()
@click.argument("run_a", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("run_b", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--verify-countdown", is_flag=True, help="Count only answers whose written steps check.")
def compare(run_a: Path, run_b: Path, verify_countdown: bool) -> None:
    a, b = _aligned(run_a, run_b)
    score = verified if verify_countdown else (lambda line: line.correct)
    correct_a, correct_b = [score(line) for line in a], [score(line) for line in b]
    click.echo(summary(str(run_a), a, correct_a))
    click.echo(summary(str(run_b), b, correct_b))
    result = paired_comparison(correct_a, correct_b)
    click.echo(
        f"A - B: {result.difference} (A only {result.a_only}, B only {result.b_only}, "
        f"McNemar p={result.p_value:.3g})"
    )
    if verify_countdown:
        for run, lines in ((run_a, a), (run_b, b)):
            claimed = sum(line.correct for line in lines)
            click.echo(f"{run}: {claimed} right answers, {sum(map(verified, lines))} with steps that check")


def _share(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)}" if flags else "0/0"


def _stops(lines: list[ResultLine]) -> None:
    """Why questions abstained, grouped by the reason's wording up to its first quoted piece."""
    reasons = Counter(
        re.split(r"['\"(]", str(line.prediction.trace.steps["stopped"]), maxsplit=1)[0].strip()
        for line in lines
        if "stopped" in line.prediction.trace.steps
    )
    click.echo(f"answer read: {_share([line.prediction.answer is not None for line in lines])}")
    for reason, count in reasons.most_common():
        click.echo(f"  stopped: {count} x {reason}")


VERDICT = re.compile(r"This statement is (true|false)\b")


def _verdicts(lines: list[ResultLine]) -> None:
    """On yes / no questions: how often the last subanswer is a true / false verdict in the form the default
    model was trained on ("This statement is false, because ..."), which no answer reader takes for yes / no,
    and how often that verdict, read as the answer, equals the label."""
    binary = [line for line in lines if line.question.is_binary and line.error is None]
    read = []
    for line in binary:
        last = (line.prediction.trace.steps.get("subanswers") or [""])[-1]
        match = VERDICT.match(last.strip())
        if match is not None:
            read.append((match[1] == "true", line.question.gold))
    if not binary:
        return
    trues = sum(said for said, _ in read)
    click.echo(
        f"last subanswer a true / false verdict: {len(read)}/{len(binary)} ({trues} true, {len(read) - trues} false);"
        f" the verdict equals the label: {_share([said == gold for said, gold in read])}"
    )


def _why_least_to_most(lines: list[ResultLine]) -> None:
    written = Counter(len(line.prediction.trace.steps.get("subquestions", [])) for line in lines)
    click.echo(f"subquestions written: {dict(sorted(written.items()))}")
    _stops(lines)
    _verdicts(lines)
    lines = [line for line in lines if "subquestions" in line.question.metadata]
    if not lines:
        return
    counts = [
        (
            len(line.prediction.trace.steps.get("subquestions", [])),
            len(line.question.metadata["subquestions"]),
        )
        for line in lines
    ]
    click.echo(f"subquestions written / in the chain: {sorted(set(counts))}")
    click.echo(
        f"decomposition exactly the chain's: {_share([line.prediction.trace.steps.get('subquestions') == line.question.metadata['subquestions'] for line in lines])}"
    )
    per_step: list[bool] = []
    for line in lines:
        said = line.prediction.trace.steps.get("subanswers", [])
        if line.prediction.trace.steps.get("subquestions") == line.question.metadata["subquestions"]:
            per_step += [a == b for a, b in zip(said, line.question.metadata["subanswers"], strict=False)]
    click.echo(f"subanswers right, where the decomposition was: {_share(per_step)}")


def _why_self_ask(lines: list[ResultLine]) -> None:
    asked = [line.prediction.trace.steps.get("follow_ups", []) for line in lines]
    click.echo(f"asked no follow-up: {_share([not a for a in asked])}")
    click.echo(f"follow-ups asked: {dict(sorted(Counter(len(a) for a in asked).items()))}")
    _stops(lines)
    if not all("follow_ups" in line.question.metadata for line in lines):
        return
    for hop in (0, 1):
        right_q = [
            len(a) > hop and a[hop]["question"] == line.question.metadata["follow_ups"][hop]
            for a, line in zip(asked, lines, strict=True)
        ]
        right_a = [
            len(a) > hop and a[hop]["answer"] == line.question.metadata["intermediate"][hop]
            for a, line in zip(asked, lines, strict=True)
        ]
        click.echo(
            f"follow-up {hop + 1}: the right question {_share(right_q)}, the right answer {_share(right_a)}"
        )


def _why_tree(lines: list[ResultLine]) -> None:
    valid: list[bool] = []
    values: list[float] = []
    promising: list[bool] = []
    searched = [line for line in lines if "tree" in line.prediction.trace.steps]
    if len(searched) < len(lines):
        click.echo(f"questions that errored (no tree): {len(lines) - len(searched)}/{len(lines)}")
    for line in searched:
        target = int(line.question.metadata["target"])
        tree = line.prediction.trace.steps["tree"]
        for node in tree["nodes"]:
            match = STEP.fullmatch(node["text"])
            if match is None:
                continue
            valid.append(apply(int(match[1]), match[2], int(match[3])) == int(match[4]))
            left = tuple(sorted(int(n) for n in match[5].split()))
            values.append(float(node["value"]))
            promising.append(reachable(left, target))
    click.echo(f"proposed steps with right arithmetic: {_share(valid)}")
    click.echo(f"proposed states from which the target is reachable (as stated): {_share(promising)}")
    if any(promising) and not all(promising):
        click.echo(f"AUC of the model's value for those states: {auc(values, promising):.3f}")


@main.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
def why(run: Path) -> None:
    record, lines = load_run(run)
    name = record.strategy_config.get("name")
    if name == "least_to_most":
        _why_least_to_most(lines)
    elif name == "self_ask":
        _why_self_ask(lines)
    elif name == "tree_of_thoughts":
        _why_tree(lines)
    else:
        raise click.ClickException(
            f"{run}: a {name} run; 'why' reads least_to_most, self_ask and tree_of_thoughts runs"
        )


@main.command()
@click.argument("hop1", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("hop2", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("direct", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("self_ask", type=click.Path(exists=True, file_okay=False, path_type=Path))
def gap(hop1: Path, hop2: Path, direct: Path, self_ask: Path) -> None:
    first, second = (sorted(load_run(run)[1], key=lambda line: line.index) for run in (hop1, hop2))
    composed, asked = _aligned(direct, self_ask)
    if not len(first) == len(second) == len(composed):
        raise click.ClickException("hop1, hop2 and the composition runs must cover the same test questions")
    both = [i for i, (x, y) in enumerate(zip(first, second, strict=True)) if x.correct and y.correct]
    n = len(composed)
    click.echo(
        f"hop 1: {bootstrap_accuracy([line.correct for line in first])}; "
        f"hop 2: {bootstrap_accuracy([line.correct for line in second])}; both hops: {len(both)}/{n}"
    )
    click.echo(summary(f"composition, direct ({direct})", composed, [line.correct for line in composed]))
    click.echo(summary(f"composition, self-ask ({self_ask})", asked, [line.correct for line in asked]))
    if not both:
        click.echo("no question has both hops right: the gap is undefined")
        return
    missed_direct = [not composed[i].correct for i in both]
    missed_asked = [not asked[i].correct for i in both]
    click.echo(
        f"gap, direct: {bootstrap_accuracy(missed_direct)}; gap, self-ask: {bootstrap_accuracy(missed_asked)}"
    )
    result = paired_comparison(missed_direct, missed_asked)
    click.echo(f"gap narrowed by (direct - self-ask): {result.difference}, McNemar p={result.p_value:.3g}")


@main.command()
@click.option(
    "--model", "model_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--spec", default="tot(proposals=3, breadth=3)", show_default=True, help="The tree of thoughts."
)
@click.option("--threads", default=1, show_default=True, help="Torch threads.")
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
def checker(model_dir: Path, spec: str, threads: int, run: Path) -> None:
    """RUN's questions (a countdown run, e.g. cot's) answered by SPEC with `CountdownChecker` as its judge."""
    from reasonkit.lm.engine import Engine
    from reasonkit.threads import set_threads

    base = build_strategy(spec)
    if not isinstance(base, TreeOfThoughts):
        raise click.ClickException(f"--spec {spec!r} is not a tree_of_thoughts spec")
    strategy = dataclasses.replace(base, evaluator="judge", judge=CountdownChecker())
    set_threads(threads)
    other = sorted(load_run(run)[1], key=lambda line: line.index)
    questions = [line.question for line in other]
    predictions = strategy.run_many(questions, Engine.from_pretrained(model_dir))
    lines = [
        result_line(line.index, q, strategy, p, 0.0)
        for line, q, p in zip(other, questions, predictions, strict=True)
    ]
    solved, solved_other = [verified(line) for line in lines], [verified(line) for line in other]
    click.echo(summary(f"{spec} with a perfect judge", lines, solved))
    click.echo(summary(str(run), other, solved_other))
    result = paired_comparison(solved, solved_other)
    click.echo(
        f"solved, A - B: {result.difference} (A only {result.a_only}, B only {result.b_only}, "
        f"McNemar p={result.p_value:.3g}); right answers: {sum(line.correct for line in lines)}"
    )


if __name__ == "__main__":
    main()
