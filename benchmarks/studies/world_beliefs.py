"""Can the model tell true world sentences from false ones when asked for a belief? Maieutic prompting needs
it to: an explanation is kept only when the model answers it and its negation differently.

Figures: BENCHMARKS.md, "Maieutic"; docs/studies/maieutic_world.md, docs/studies/second_mixture.md,
docs/studies/position_coupling.md.

For each group of labelled sentences (the world's test statements, their gold explanations and the
explanations' negations, single facts about test entities, kind facts, explanation-shaped pairs about train
entities) the script scores log P(true) - log P(false) in maieutic's belief prompt and in direct's prompt,
and prints the AUC of that score against the label (0.5: no signal; 1: every true sentence above every
false one). Then, on test statements 200-599 (none of the table's first 200), how maieutic's two fallbacks
for an empty tree would answer: the statement's calibrated P(true) against 0.5, or against its negation's.
With --threshold (repeatable), maieutic itself runs on test statements 200-399 at each integrity threshold:
how far apart the model's beliefs in E and ~E are over the generated nodes, and whether keeping the nodes
that pass a lower threshold helps. Last, whether the model holds the facts in the form it was trained on
(completion, not judgement): which of the world's kinds it puts after "X is a" for each entity, and whether
it puts "p." or "not p." after "Ks are".

    python -m reasonkit.benchmarks.studies.world_beliefs --model lm/default_model [--per-group 150] \
        [--threshold 0.45 --threshold 0.05]
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import NamedTuple

import click

from reasonkit.benchmarks.metrics import auc
from reasonkit.benchmarks.synthetic import suites
from reasonkit.benchmarks.synthetic.base import TRAINED_SEED
from reasonkit.benchmarks.synthetic.world import belief_drill_rows
from reasonkit.client import BatchingClient
from reasonkit.models import load_model
from reasonkit.protocol import LanguageModel, LoglikelihoodRequest
from reasonkit.strategies import maieutic_tree as mt
from reasonkit.strategies import prompts
from reasonkit.strategies.beliefs import LikelihoodBelief
from reasonkit.strategies.maieutic import (
    CONTENT_FREE,
    Maieutic,
    belief_context,
    load_exemplars,
    rule_negation,
)

Labelled = list[tuple[str, bool]]


def sentence_groups(per_group: int, seed: int = TRAINED_SEED) -> dict[str, Labelled]:
    """Labelled sentences per group, at most `per_group` each, drawn with a fixed seed."""
    suite = suites()["world"].generate(seed)
    test = list(suite.splits["test"])
    test_entities = {q.metadata["entity"] for q in test}
    drills = [(str(r["text"]), bool(r["gold"])) for r in belief_drill_rows(seed)]
    rng = random.Random(f"world-beliefs-{seed}")
    rng.shuffle(drills)

    def entity(text: str) -> str:
        return text.split()[0]

    explained = [q for q in test if q.metadata.get("explanation")]
    groups: dict[str, Labelled] = {
        "test statements": [(q.text, bool(q.gold)) for q in test],
        "gold explanation vs its negation": [
            pair
            for q in explained
            for pair in ((q.metadata["explanation"], True), (rule_negation(q.metadata["explanation"]), False))
        ],
        "test entity: X is (not) a K": [
            d for d in drills if d[0].count(".") == 1 and entity(d[0]) in test_entities
        ],
        "kind facts: Ks are (not) p": [d for d in drills if d[0].count(".") == 1 and " are " in d[0]],
        "pairs about train entities": [d for d in drills if d[0].count(".") == 2],
    }
    return {name: rows[:per_group] for name, rows in groups.items()}


def belief_scores(
    lm: LanguageModel, context_of: Callable[[str], str], answers: tuple[str, str], texts: Sequence[str]
) -> list[float]:
    requests = [LoglikelihoodRequest(context=context_of(t), continuation=a) for t in texts for a in answers]
    results = lm.loglikelihood(requests)
    return [results[i].logprob - results[i + 1].logprob for i in range(0, len(results), 2)]


def likelihood_beliefs(lm: LanguageModel, texts: Sequence[str], calibrated: bool) -> list[float]:
    """b(E) of maieutic's "likelihood" belief function, or of "likelihood_calibrated"."""
    pairs = [(t, "") for t in texts]
    beliefs = asyncio.run(LikelihoodBelief(calibrate=calibrated).beliefs(pairs, BatchingClient(lm), (), 0.0))
    return [b for b, _ in beliefs]


def probe(
    lm: LanguageModel, groups: dict[str, Labelled], shots: int = 8, likelihood: bool = False
) -> dict[str, dict[str, float]]:
    """{group: {"maieutic": AUC, "direct": AUC}} for `sentence_groups`' groups: the prompted belief and
    direct's prompt; with `likelihood`, also "likelihood" and "likelihood calibrated": maieutic's belief
    functions of those names."""
    exemplars = load_exemplars("world")[:shots]
    formats = {
        "maieutic": (lambda t: belief_context(t, exemplars), (" true", " false")),
        "direct": (lambda t: prompts.direct_prompt(t, None), (" True", " False")),
    }
    table: dict[str, dict[str, float]] = {}
    for group, rows in groups.items():
        texts, labels = [t for t, _ in rows], [y for _, y in rows]
        table[group] = {
            name: auc(belief_scores(lm, context_of, answers, texts), labels)
            for name, (context_of, answers) in formats.items()
        }
        for name, calibrated in (
            (("likelihood", False), ("likelihood calibrated", True)) if likelihood else ()
        ):
            table[group][name] = auc(likelihood_beliefs(lm, texts, calibrated), labels)
    return table


def fallback_accuracy(
    lm: LanguageModel, shots: int = 8, start: int = 200, stop: int = 600
) -> dict[str, float]:
    """Accuracy of maieutic's "statement" and "pair" fallbacks on test statements [start, stop), plus the AUC
    of each score. The negation is the rule's ("X is not p."), which is what the LM negation writes here."""
    exemplars = load_exemplars("world")[:shots]
    questions = list(suites()["world"].generate(0).splits["test"])[start:stop]
    gold = [bool(q.gold) for q in questions]

    def log_odds(texts: list[str]) -> list[float]:
        return belief_scores(lm, lambda t: belief_context(t, exemplars), (" true", " false"), texts)

    [offset] = log_odds([CONTENT_FREE])
    raw = log_odds([q.text for q in questions])
    statement = [x - offset for x in raw]  # calibrated; in the pair the offset cancels
    pair = [a - b for a, b in zip(raw, log_odds([rule_negation(q.text) for q in questions]), strict=True)]
    n = len(questions)
    return {
        "n": n,
        "statement": sum((x >= 0) == g for x, g in zip(statement, gold, strict=True)) / n,
        "pair": sum((x >= 0) == g for x, g in zip(pair, gold, strict=True)) / n,
        "statement_auc": auc(statement, gold),
        "pair_auc": auc(pair, gold),
    }


class ThresholdRun(NamedTuple):
    threshold: float
    accuracy: float
    non_empty_trees: int
    gaps: list[float]
    """|b(E) - b(~E)| of every generated node below the root, sorted."""


def threshold_sweep(
    lm: LanguageModel, thresholds: Sequence[float], start: int = 200, stop: int = 400
) -> list[ThresholdRun]:
    """Maieutic (defaults but the threshold) on test statements [start, stop) at each integrity threshold."""
    questions = list(suites()["world"].generate(TRAINED_SEED).splits["test"])[start:stop]
    runs = []
    for threshold in thresholds:
        predictions = Maieutic(integrity_threshold=threshold).run_many(questions, lm)
        gaps = sorted(
            abs(b_e - b_not_e)
            for p in predictions
            for node_id, attrs in mt.tree_from_json(p.trace.steps["unpruned_tree"]).nodes(data=True)
            if node_id != mt.ROOT
            for b_e, b_not_e in [attrs["belief"]]
            if b_e is not None and b_not_e is not None
        )
        runs.append(
            ThresholdRun(
                threshold=threshold,
                accuracy=sum(p.answer == q.gold for p, q in zip(predictions, questions, strict=True))
                / len(questions),
                non_empty_trees=sum(bool(p.trace.steps["tree"]["nodes"]) for p in predictions),
                gaps=gaps,
            )
        )
    return runs


class CompletionRecall(NamedTuple):
    train_entities: float
    """Share of train entities whose kind is the most likely of all kinds after "X is a"."""
    test_entities: float
    kind_facts: float
    """Share of kind facts where " p." vs " not p." after "Ks are" goes the fact's way."""
    n_kinds: int
    kind_facts_majority: float
    """The share of the commoner polarity: what always answering it would score."""


def completion_recall(lm: LanguageModel, seed: int = TRAINED_SEED) -> CompletionRecall:
    """The world's facts read as the documents state them, by the LM's own continuation probabilities."""
    suite = suites()["world"].generate(seed)
    kind_of: dict[str, str] = {}
    holds: dict[tuple[str, str], bool] = {}
    for split in suite.splits.values():
        for q in split:
            kind_of[q.metadata["entity"]] = q.metadata["kind"]
            holds[q.metadata["kind"], q.metadata["property"]] = bool(q.gold)
    kinds = sorted(set(kind_of.values()))
    test_entities = {q.metadata["entity"] for q in suite.splits["test"]}

    def kind_recall(entities: list[str]) -> float:
        results = lm.loglikelihood(
            [
                LoglikelihoodRequest(context=f"{e} is a", continuation=f" {k}.")
                for e in entities
                for k in kinds
            ]
        )
        right = 0
        for i, entity in enumerate(entities):
            scores = [r.logprob for r in results[i * len(kinds) : (i + 1) * len(kinds)]]
            right += kinds[scores.index(max(scores))] == kind_of[entity]
        return right / len(entities)

    facts = sorted(holds.items())
    results = lm.loglikelihood(
        [
            LoglikelihoodRequest(context=f"{kind.capitalize()}s are", continuation=f" {says}{prop}.")
            for (kind, prop), _ in facts
            for says in ("", "not ")
        ]
    )
    polarity_right = sum(
        (results[2 * i].logprob > results[2 * i + 1].logprob) == fact_holds
        for i, (_, fact_holds) in enumerate(facts)
    )
    n_true = sum(fact_holds for _, fact_holds in facts)
    return CompletionRecall(
        train_entities=kind_recall(sorted(set(kind_of) - test_entities)),
        test_entities=kind_recall(sorted(test_entities)),
        kind_facts=polarity_right / len(facts),
        n_kinds=len(kinds),
        kind_facts_majority=max(n_true, len(facts) - n_true) / len(facts),
    )


def quantile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank quantile; `fraction` 1.0 is the maximum."""
    return sorted_values[round(fraction * (len(sorted_values) - 1))]


@click.command()
@click.option("--model", default="default", show_default=True, help="Model folder or default.")
@click.option(
    "--per-group", type=click.IntRange(min=2), default=150, show_default=True, help="Sentences per group."
)
@click.option(
    "--threshold",
    "thresholds",
    type=click.FloatRange(min=0.0, max=1.0),
    multiple=True,
    help="Also run maieutic on test statements 200-399 at this integrity threshold (repeatable).",
)
def main(model: str, per_group: int, thresholds: tuple[float, ...]) -> None:
    lm = load_model(model)
    click.echo(
        f"{'group':36s}  {'n':>4s}  maieutic AUC  direct AUC  likelihood AUC  likelihood calibrated AUC"
    )
    groups = sentence_groups(per_group)
    for group, aucs in probe(lm, groups, likelihood=True).items():
        click.echo(
            f"{group:36s}  {len(groups[group]):4d}  {aucs['maieutic']:12.3f}  {aucs['direct']:10.3f}  "
            f"{aucs['likelihood']:14.3f}  {aucs['likelihood calibrated']:25.3f}"
        )
    fb = fallback_accuracy(lm)
    click.echo(
        f"maieutic fallback on {fb['n']:.0f} test statements (200-599): statement {100 * fb['statement']:.1f}% "
        f"(AUC {fb['statement_auc']:.3f}), pair {100 * fb['pair']:.1f}% (AUC {fb['pair_auc']:.3f})"
    )
    for run in threshold_sweep(lm, thresholds):
        spread = (
            ", ".join(f"{q:.0%} {quantile(run.gaps, q):.3f}" for q in (0.5, 0.9, 0.99, 1.0))
            if run.gaps
            else "none"
        )
        click.echo(
            f"maieutic, threshold {run.threshold:.2f}, test statements 200-399: {100 * run.accuracy:.1f}%, "
            f"{run.non_empty_trees} trees non-empty; |b(E) - b(~E)| over {len(run.gaps)} nodes: {spread}"
        )
    recall = completion_recall(lm)
    click.echo(
        f'by completion: the entity\'s kind first of {recall.n_kinds} after "X is a": train entities '
        f"{100 * recall.train_entities:.1f}%, test entities {100 * recall.test_entities:.1f}% (chance "
        f'{100 / recall.n_kinds:.1f}%); kind facts\' polarity after "Ks are": {100 * recall.kind_facts:.1f}% '
        f"(majority {100 * recall.kind_facts_majority:.1f}%)"
    )


if __name__ == "__main__":
    main()
