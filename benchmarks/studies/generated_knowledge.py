"""Does generated knowledge (the model writes facts first, then answers with each) beat `direct` on the world?

The world's test statements follow from two facts the model read in training but never saw combined
("Zapodu is a nebanu." + "Nebanus are not striped."). Draws, fixed before any run: `dev` is the first 200
test statements (settings were chosen there), `heldout` the other 400 (one planned look). Prints each
strategy's accuracy, the paired difference against `direct`, calls and tokens per question, and how often
the sampled facts contain the statement's true kind fact, and what the answer was then. Figures:
docs/studies/generated_knowledge.md and BENCHMARKS.md.

    python -m reasonkit.benchmarks.studies.generated_knowledge --draw dev -s "generated_knowledge(prompt='explain')"
    python -m reasonkit.benchmarks.studies.generated_knowledge --draw dev --oracle
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from reasonkit.benchmarks.metrics import bootstrap_accuracy, paired_comparison
from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.runner import all_calls, count_tokens
from reasonkit.models import load_model
from reasonkit.registry import build_strategy
from reasonkit.strategies.generated_knowledge import with_fact
from reasonkit.types import Prediction, Question

DEV_SIZE = 200


def flip(fact: str) -> str:
    """ "Ks are p." <-> "Ks are not p." """
    return fact.replace(" are not ", " are ") if " are not " in fact else fact.replace(" are ", " are not ")


ORACLE_FACTS = {
    "the two true facts": lambda q: q.metadata["explanation"],
    "the kind fact only": lambda q: q.metadata["explanation"].split(". ")[0] + ".",
    "the kind fact and the property fact flipped": lambda q: (
        q.metadata["explanation"].split(". ")[0] + ". " + flip(q.metadata["explanation"].split(". ")[1])
    ),
}
"""Facts given rather than generated: does the answer step read what is in front of the statement?"""


def draw(name: str) -> list[Question]:
    """The world's test statements of one draw: `dev` the first 200, `heldout` the rest."""
    questions = load_questions("world")
    return questions[:DEV_SIZE] if name == "dev" else questions[DEV_SIZE:]


def kind_fact_rows(questions: Sequence[Question], predictions: Sequence[Prediction]) -> tuple[int, int, int]:
    """(questions whose facts include the true kind fact, of those answered right, questions with any fact)."""
    with_kind = right = any_fact = 0
    for question, prediction in zip(questions, predictions, strict=True):
        facts = prediction.trace.steps.get("knowledge", [])
        any_fact += bool(facts)
        true_fact = f"{question.metadata['entity']} is a {question.metadata['kind']}."
        if any(true_fact in fact for fact in facts):
            with_kind += 1
            right += prediction.is_correct(question)
    return with_kind, right, any_fact


@click.command()
@click.option("--draw", "draw_name", type=click.Choice(["dev", "heldout"]), required=True)
@click.option("-s", "--strategy", "specs", multiple=True, help="compared with direct")
@click.option(
    "--oracle", is_flag=True, help="also: direct with given (true, partial, flipped) facts in front"
)
@click.option("--model", default="default")
def main(draw_name: str, specs: tuple[str, ...], oracle: bool, model: str) -> None:
    questions = draw(draw_name)
    lm = load_model(model)
    base = build_strategy("direct").run_many(questions, lm)
    base_correct = [p.is_correct(q) for q, p in zip(questions, base, strict=True)]
    click.echo(f"world {draw_name} draw, {len(questions)} statements")
    click.echo(f"direct: {bootstrap_accuracy(base_correct)}")
    if oracle:
        for label, fact_of in ORACLE_FACTS.items():
            given = build_strategy("direct").run_many([with_fact(q, fact_of(q)) for q in questions], lm)
            click.echo(
                f"direct with {label} in front: "
                f"{bootstrap_accuracy([p.is_correct(q) for q, p in zip(questions, given, strict=True)])}"
            )
    for spec in specs:
        predictions = build_strategy(spec).run_many(questions, lm)
        correct = [p.is_correct(q) for q, p in zip(questions, predictions, strict=True)]
        paired = paired_comparison(correct, base_correct)
        calls = sum(len(all_calls(p.trace)) for p in predictions) / len(questions)
        tokens = sum(count_tokens(p) for p in predictions) / len(questions)
        with_kind, right, any_fact = kind_fact_rows(questions, predictions)
        d = paired.difference
        click.echo(
            f"{spec}: {bootstrap_accuracy(correct)}; vs direct {100 * d.estimate:+.1f} "
            f"[{100 * d.low:+.1f}, {100 * d.high:+.1f}] p={paired.p_value:.3g}; "
            f"{calls:.1f} calls/q, {tokens:.0f} tokens/q"
        )
        click.echo(
            f"  facts written for {any_fact}/{len(questions)}; the true kind fact among them for {with_kind}, "
            f"answered right {right} of those"
        )


if __name__ == "__main__":
    main()
