"""Do two backends give the same predictions? Figures: BENCHMARKS.md, "Serving and backends";
docs/studies/serving.md (a model served through `reasonkit serve` and our `openai:` backend, against the engine).

Runs each strategy on the same questions with both and counts agreement, e.g. a served model (`openai:`)
against the same weights run natively:

    python -m reasonkit.benchmarks.studies.backend_parity --model default \\
        --against "openai:http://127.0.0.1:8000/v1?model=default" --questions 100 -s direct -s cot

A question either answers (the answer is compared) or fails (its error type is compared); scores are compared
within `--tolerance` (batched and unbatched forward passes round differently).
"""

from __future__ import annotations

import click

from reasonkit.benchmarks.registry import load_questions
from reasonkit.driver import run_questions
from reasonkit.models import load_model
from reasonkit.protocol import LanguageModel
from reasonkit.registry import build_strategy
from reasonkit.types import Prediction, Question


def predictions(spec: str, questions: list[Question], lm: LanguageModel) -> list[Prediction]:
    return run_questions(build_strategy(spec), questions, lm, concurrency=64)


def differences(mine: list[Prediction], theirs: list[Prediction], tolerance: float) -> tuple[int, int]:
    """(questions answered differently, questions whose scores differ beyond `tolerance`)."""
    answers = sum(a.answer != b.answer for a, b in zip(mine, theirs, strict=True))
    scores = sum(
        a.scores.keys() != b.scores.keys()
        or any(abs(a.scores[k] - b.scores[k]) > tolerance for k in a.scores)
        for a, b in zip(mine, theirs, strict=True)
    )
    return answers, scores


@click.command()
@click.option(
    "--model", "model_spec", default="default", show_default=True, help="The reference backend spec."
)
@click.option(
    "--against", required=True, help="The backend spec compared with it, e.g. openai:URL?model=NAME."
)
@click.option("--benchmark", default="csqa", show_default=True)
@click.option("--questions", "n_questions", type=int, default=100, show_default=True)
@click.option("--strategies", "-s", multiple=True, default=("direct", "cot"), show_default=True)
@click.option("--tolerance", type=float, default=1e-3, show_default=True)
def main(
    model_spec: str,
    against: str,
    benchmark: str,
    n_questions: int,
    strategies: tuple[str, ...],
    tolerance: float,
) -> None:
    reference, other = load_model(model_spec), load_model(against)
    questions = load_questions(benchmark)[:n_questions]
    for spec in strategies:
        mine, theirs = predictions(spec, questions, reference), predictions(spec, questions, other)
        answers, scores = differences(mine, theirs, tolerance)
        click.echo(
            f"{benchmark} {spec}: {len(questions) - answers}/{len(questions)} identical predictions, "
            f"{scores} with scores differing by more than {tolerance:g} ({model_spec} vs {against})"
        )


if __name__ == "__main__":
    main()
