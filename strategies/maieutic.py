"""Maieutic prompting (Jung et al. 2022): answer a true/false statement by the most consistent set of beliefs
over a tree of the model's own explanations.

1. Abduction: "Q: {E}\\nA: This statement is true, because" / "... false, because", sampled (3 + 3 at depth
   1 at temperature 1.0, 1 + 1 deeper at 0.5, max depth 2; the authors' generation constants), few-shot with
   *train* explanations of the question's benchmark where one is shipped (the synthetic world), else CREAK's.
   Options beyond the paper: keep only the likeliest of k samples (`abduction_candidates`), and start every
   explanation with the statement's subject (`abduction_prefix`).
2. Each explanation is negated (the LM continues "The statement is false." after few-shot negations; a
   rule-based negation when the LM gives nothing usable), and believed by the chosen belief function
   (reasonkit.strategies.beliefs, option `belief`); the default, "prompt", is the paper's: b(E) = P(True | E) from the
   log-likelihoods of " true" / " false", calibrated by default against a content-free statement ("N/A";
   Zhao et al. 2021) so a few-shot context's lean towards one word does not decide every belief. E is
   logically integral when |b(E) - b(~E)| > 0.45.
3. Non-integral leaves are expanded to the next depth; branches that end in no integral leaf are pruned.
   Beyond the paper (option `link`): an explanation the link scorer finds no reason for its parent, in the
   direction it was written for, is neither expanded nor kept.
4. Relations between explanations (entail / contradict) from a pluggable scorer, then weighted MAX-SAT
   (reasonkit.strategies.maxsat) picks the root's truth value. Without a usable solution the answer is the
   root's own belief, and the trace says why.
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from functools import cache
from importlib import resources
from itertools import permutations
from typing import Any, ClassVar, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.protocol import GenerationRequest, NewTokens, Sample, SampleCount
from reasonkit.registry import register_strategy
from reasonkit.strategies import maieutic_tree as mt
from reasonkit.strategies.beliefs import CONTENT_FREE as CONTENT_FREE
from reasonkit.strategies.beliefs import BeliefFunction, belief_function_for
from reasonkit.strategies.beliefs import belief_context as belief_context
from reasonkit.strategies.maxsat import (
    Relation,
    SolveResult,
    abductive_clauses,
    belief_clauses,
    relation_clauses,
    solve,
)
from reasonkit.strategies.relations import (
    AbductiveLink,
    ContinuationLink,
    HFNLIScorer,
    JudgeRelationScorer,
    Link,
    LinkScorer,
    LMRelationScorer,
    RelationLink,
    RelationScorer,
    RelationScores,
)
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace

log = logging.getLogger(__name__)

EXEMPLAR_FILES = {
    "creak": "exemplars/maieutic_creak_train.jsonl",
    "world": "exemplars/maieutic_world_train.jsonl",
    "consistency": "exemplars/maieutic_consistency_train.jsonl",
    "consistency_world1": "exemplars/maieutic_consistency_world1_train.jsonl",
    "consistency_world2": "exemplars/maieutic_consistency_world2_train.jsonl",
    "consistency_world3": "exemplars/maieutic_consistency_world3_train.jsonl",
    "consistency_world4": "exemplars/maieutic_consistency_world4_train.jsonl",
}
"""Exemplar sets by name; a question uses the set named like its metadata "benchmark" (with "_world{N}" for a
question of world seed N, `bench --world-seed`), else "creak"."""
DEFAULT_EXEMPLARS = "creak"


class MaieuticExemplar(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    statement: str
    label: bool
    explanation: str
    negation: str


@cache
def load_exemplars(name: str = DEFAULT_EXEMPLARS) -> tuple[MaieuticExemplar, ...]:
    if name not in EXEMPLAR_FILES:
        raise ValueError(
            f"Maieutic: option 'exemplars': no exemplar set {name!r}; shipped: {', '.join(sorted(EXEMPLAR_FILES))}"
        )
    file = EXEMPLAR_FILES[name]
    path = resources.files("reasonkit.strategies").joinpath(file)
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            rows.append(MaieuticExemplar.model_validate_json(line))
        except ValueError as err:
            raise ValueError(f"{file}, line {line_no}: {err}") from err
    return tuple(rows)


def exemplar_set_for(question: Question, override: str = "auto") -> str:
    """`override` unless "auto"; else the set named like the question's benchmark, else the default.

    A small model follows its few-shot context: CREAK's real-world claims in front of a made-up world's
    statement led it to explain in real-world nonsense, where the world's own train explanations do not."""
    if override != "auto":
        return override
    benchmark = str(question.metadata.get("benchmark", ""))
    world = question.metadata.get("world_seed")
    if world is not None:
        name = f"{benchmark}_world{world}"
        if name not in EXEMPLAR_FILES:
            raise ValueError(
                f"Maieutic: question {question.id!r} is from world seed {world} of {benchmark!r}, and no exemplar "
                f"set {name!r} is shipped for it; give option 'exemplars'"
            )
        return name
    return benchmark if benchmark in EXEMPLAR_FILES else DEFAULT_EXEMPLARS


def _word(value: bool) -> str:
    return "true" if value else "false"


Shots = tuple[MaieuticExemplar, ...]


def abductive_examples(shots: Shots) -> str:
    """The worked part of the abductive prompt: each exemplar's statement, label and explanation."""
    return "".join(
        f"Q: {ex.statement}\nA: This statement is {_word(ex.label)}, because {ex.explanation}\n"
        for ex in shots
    )


def abductive_prompt(statement: str, polarity: bool, shots: Shots) -> str:
    return abductive_examples(shots) + f"Q: {statement}\nA: This statement is {_word(polarity)}, because"


def negation_prompt(statement: str, shots: Shots) -> str:
    lines = [f"Q: {ex.statement}\nA: The statement is false. {ex.negation}\n" for ex in shots]
    return "".join(lines) + f"Q: {statement}\nA: The statement is false."


_AUX = re.compile(
    r"\b(is|are|was|were|can|could|will|would|shall|should|may|might|must|does|do|did)"
    r"(n't\b| not\b| never\b|\b)",
    re.IGNORECASE,
)


def rule_negation(statement: str) -> str:
    """Remove the negation after the first auxiliary verb, or insert "not" there; with no auxiliary, prefix
    "It is not true that"."""
    text = statement.strip()
    if re.search(r"\bcannot\b", text, re.IGNORECASE):
        return re.sub(r"\b(c)annot\b", r"\1an", text, count=1, flags=re.IGNORECASE)
    match = _AUX.search(text)
    if match is None:
        return f"It is not true that {text}"
    head, aux, tail = text[: match.start()], match.group(1), text[match.end() :]
    return f"{head}{aux}{tail}" if match.group(2) else f"{head}{aux} not{tail}"


def content_free_claim(statement: str) -> str:
    """The statement's subject and first auxiliary with the claim replaced by `CONTENT_FREE` ("Dazo is soft." ->
    "Dazo is N/A."); `CONTENT_FREE` alone without an auxiliary."""
    match = _AUX.search(statement.strip())
    return f"{statement.strip()[: match.end(1)]} {CONTENT_FREE}." if match is not None else CONTENT_FREE


def statement_subject(statement: str) -> str:
    """The words before the statement's first auxiliary verb ("Dazo" of "Dazo is soft."); "" without one."""
    match = _AUX.search(statement.strip())
    return statement.strip()[: match.start()].strip() if match is not None else ""


def mean_logprob(sample: Sample) -> float:
    """A sample's mean token log-probability: its likelihood, not penalised for length (-inf when empty)."""
    return sample.logprob / len(sample.token_logprobs) if sample.token_logprobs else -math.inf


def clean_explanation(text: str) -> str:
    """First line, stripped, capitalised (authors' filter_generated_explanations)."""
    line = text.strip().split("\n", 1)[0].strip()
    return line[:1].upper() + line[1:]


def filter_explanations(texts: list[str]) -> list[str]:
    """Keep non-empty sentences ending with "."; if none, the first non-empty one; no duplicates."""
    cleaned = [clean_explanation(t) for t in texts]
    kept = [t for t in cleaned if t.endswith(".")] or [t for t in cleaned if t][:1]
    return list(dict.fromkeys(kept))


@register_strategy("maieutic")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class Maieutic(Strategy):
    """Maieutic prompting: a tree of abductive explanations, beliefs and relations, weighted MAX-SAT.

    relations: "lm" (the LM judges each pair), "lm:PATH" (another local model judges them with the same prompt),
    "hf:PATH" (a local NLI classifier, e.g. roberta-large-mnli), a `RelationScorer`, or None (tree and belief clauses only). exemplars: "auto" (by the question's
    benchmark, see `exemplar_set_for`) or a set name of `EXEMPLAR_FILES`. fallback, the answer when MAX-SAT
    gives none (an empty tree after pruning, a tie, a timeout): "statement", the root's calibrated
    P(true | E) >= 0.5, or "pair", P(true | E) >= P(true | ~E). A small model answers "X is not p." much as
    it answers "X is p.", so the pair cancels the signal the statement alone carries (see BENCHMARKS.md).
    belief: a registered belief function's name ("prompt", the paper's; "likelihood", "likelihood_calibrated",
    "prompt_root", and "likelihood_mean"/"_min", "prompt_root_mean"/"_min", which combine an explanation's
    sentences by their geometric mean or minimum rather than their product; see `reasonkit.strategies.beliefs`)
    or a `BeliefFunction`.
    abduction_candidates: None (the paper) keeps every sample; k draws k samples per explanation prompt and
    keeps the n_first (n_deeper) distinct ones the model finds likeliest (mean token log-probability), so a
    small model's unlikely samples at temperature 1 need not enter the tree. abduction_prefix: "none" (the
    paper), or "subject": every explanation starts with its parent's subject (`statement_subject`), written
    into the prompt, so an explanation is about the statement's entity rather than another one.
    link: None (the paper: every explanation implies its parent in MAX-SAT), "abductive" (`AbductiveLink`: the
    likelihood of E as the model's explanation of its parent in E's direction, against the other direction and
    against a content-free claim), "continuation" (`ContinuationLink`: the model continues E with the claim
    rather than its opposite), "lm" / "lm:PATH" / "hf:PATH" (a relation scorer: E entails its parent, or, for an
    explanation of why the parent is false, contradicts it), or a `LinkScorer`. An explanation whose link is not
    "entail" is dropped with everything below it.
    """

    name: ClassVar[str] = "maieutic"

    depth: int = Field(2, ge=1)
    n_first: SampleCount = 3
    n_deeper: SampleCount = 1
    temperature_first: float = 1.0
    temperature_deeper: float = 0.5
    max_tokens: NewTokens = 64
    shots: int = 8
    exemplars: str = "auto"
    calibrate: bool = True
    integrity_threshold: float = mt.INTEGRITY_THRESHOLD
    negation: Literal["lm", "rule"] = "lm"
    fallback: Literal["statement", "pair"] = "statement"
    relations: str | RelationScorer | None = "lm"
    belief: str | BeliefFunction = "prompt"
    max_nodes: int = 40
    max_relation_pairs: int = 200
    solver_time_limit_s: float = 5.0
    seed: int = 0
    abduction_candidates: SampleCount | None = None
    abduction_prefix: Literal["none", "subject"] = "none"
    link: str | LinkScorer | None = None

    def __post_init__(self) -> None:
        if self.exemplars != "auto":
            load_exemplars(self.exemplars)  # an unknown set fails here, naming the option
        # The scorer the `relations` option names (state, not an option: frozen fields stay as given).
        object.__setattr__(self, "relation_scorer", relation_scorer_for(self.relations))
        object.__setattr__(self, "belief_function", belief_function_for(self.belief))
        object.__setattr__(self, "link_scorer", link_scorer_for(self.link))

    def applies_to(self, question: Question) -> bool:
        return question.is_binary

    def config(self) -> dict[str, Any]:
        """A scorer or belief object given as `relations`, `belief` or `link` is recorded by its name."""
        config = super().config()
        if isinstance(self.relations, RelationScorer):
            config["relations"] = self.relations.name
        if isinstance(self.link, LinkScorer):
            config["link"] = self.link.name
        if not isinstance(self.belief, str):
            config["belief"] = self.belief.name
        return config

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        if not self.applies_to(question):
            raise ValueError(
                f"Maieutic answers binary statements only; question {question.id!r} is {question.kind}"
            )
        exemplar_set = exemplar_set_for(question, self.exemplars)
        notes: list[str] = [f"exemplars: {exemplar_set}"]
        shots = load_exemplars(exemplar_set)[: self.shots]
        offset = await self._calibration_offset(lm, shots, notes)
        tree, root = await self._build_tree(question, lm, shots, offset, notes)
        pruned = mt.prune(tree)
        notes.append(pruning_note(tree, pruned))
        relations = await self._relations(pruned, lm, notes)
        clauses = belief_clauses(pruned) + abductive_clauses(pruned) + relation_clauses(pruned, relations)
        result = solve(clauses, time_limit_s=self.solver_time_limit_s) if pruned.number_of_nodes() else None
        for node_id, value in (result.assignment if result is not None else {}).items():
            pruned.nodes[node_id]["value"] = value
        prediction = answer_from(question.id, result, root, notes, self.fallback)
        stats = mt.tree_stats(
            tree,
            pruned,
            root_answer(root, self.fallback),
            result.answer if result is not None and result.status == "solved" else None,
        )
        prediction.trace = Trace(
            strategy=self.name,
            steps={
                "tree": mt.tree_to_json(pruned),
                "unpruned_tree": mt.tree_to_json(tree),
                "relations": [r.model_dump() for r in relations],
                "clauses": [c.model_dump() for c in clauses],
                "solver": result.model_dump() if result is not None else None,
                "assignment": result.assignment if result is not None else {},
                "negation_method": self.negation,
                "belief": self.belief_function.name,
                "tree_stats": stats.model_dump(),
            },
            notes=notes,
        )
        return prediction

    async def _build_tree(
        self, question: Question, lm: AsyncLM, shots: Shots, offset: float | None, notes: list[str]
    ) -> tuple[nx.DiGraph, mt.MaieuticNode]:
        [(root_negation, method)] = await self._negate([question.text], lm, shots)
        [belief] = await self._beliefs([(question.text, root_negation)], lm, shots, offset, root=True)
        root = mt.MaieuticNode(
            id=mt.ROOT,
            text=question.text,
            negation=root_negation,
            negation_method=method,
            belief=belief,
            integral=mt.is_integral(belief, self.integrity_threshold),
        )
        tree = mt.new_tree(root)
        for depth in range(1, self.depth + 1):
            parents = mt.expandable_leaves(tree)
            if not parents:
                break
            n = self.n_first if depth == 1 else self.n_deeper
            temperature = self.temperature_first if depth == 1 else self.temperature_deeper
            slots = [(p, pol) for p in parents for pol in (True, False)]
            prefixes = {p: self._prefix(tree.nodes[p]["text"]) for p in parents}
            results = await lm.generate(
                [
                    GenerationRequest(
                        prompt=abductive_prompt(tree.nodes[p]["text"], pol, shots)
                        + (f" {prefixes[p]}" if prefixes[p] else ""),
                        n=self.abduction_candidates or n,
                        max_tokens=self.max_tokens,
                        temperature=temperature,
                        stop=("\n",),
                        seed=self._seed(question.id, p, pol),
                    )
                    for p, pol in slots
                ]
            )
            children: list[tuple[str, str, str]] = []  # (parent, child id, text)
            for (parent, pol), result in zip(slots, results, strict=True):
                for i, text in enumerate(self._explanations(result.samples, prefixes[parent], n)):
                    children.append((parent, f"{parent}{'T' if pol else 'F'}{i}", text))
            room = self.max_nodes - tree.number_of_nodes()
            if len(children) > room:
                notes.append(
                    f"depth {depth}: node cap {self.max_nodes} reached, dropped {len(children) - max(room, 0)}"
                )
                children = children[: max(room, 0)]
            negations = await self._negate([text for _, _, text in children], lm, shots)
            beliefs = await self._beliefs(
                [(t, neg) for (_, _, t), (neg, _) in zip(children, negations, strict=True)], lm, shots, offset
            )
            links = await self._links(tree, children, lm, shots)
            for (parent, child_id, text), (neg, method), belief, link in zip(
                children, negations, beliefs, links, strict=True
            ):
                mt.add_node(
                    tree,
                    mt.MaieuticNode(
                        id=child_id,
                        text=text,
                        negation=neg,
                        negation_method=method,
                        belief=belief,
                        integral=mt.is_integral(belief, self.integrity_threshold),
                        link=link.entail if link is not None else None,
                        linked=link is None or link.label == "entail",
                    ),
                    parent=parent,
                )
        return tree, root

    async def _links(
        self, tree: nx.DiGraph, children: list[tuple[str, str, str]], lm: AsyncLM, shots: Shots
    ) -> list[RelationScores | None]:
        """Per child, the link scorer's reading of it as a reason for its parent (None each when `link` is off)."""
        if self.link_scorer is None or not children:
            return [None] * len(children)
        links = [
            Link(
                explanation=text,
                parent=tree.nodes[parent]["text"],
                parent_negation=tree.nodes[parent]["negation"],
                polarity=mt.polarity_of(child_id) == "T",
                parent_free=content_free_claim(tree.nodes[parent]["text"]),
            )
            for parent, child_id, text in children
        ]
        scores = await self.link_scorer.score(
            links, lm, lambda statement, polarity: abductive_prompt(statement, polarity, shots)
        )
        return list(scores)

    def _prefix(self, statement: str) -> str:
        return statement_subject(statement) if self.abduction_prefix == "subject" else ""

    def _explanations(self, samples: tuple[Sample, ...], prefix: str, n: int) -> list[str]:
        """The explanations one abductive prompt's samples give: all of them, or the n likeliest distinct ones."""
        if self.abduction_candidates is None:
            return filter_explanations([prefix + s.text for s in samples])
        ranked = sorted(samples, key=mean_logprob, reverse=True)
        return filter_explanations([prefix + s.text for s in ranked])[:n]

    def _seed(self, question_id: str, node_id: str, polarity: bool) -> int:
        return zlib.crc32(f"{self.seed}:{question_id}:{node_id}:{polarity}".encode())

    async def _negate(self, statements: list[str], lm: AsyncLM, shots: Shots) -> list[tuple[str, str]]:
        """(negation, "lm" | "rule") per statement; the rule is used when the LM output is empty or a copy."""
        if not statements:
            return []
        if self.negation == "rule":
            return [(rule_negation(s), "rule") for s in statements]
        results = await lm.generate(
            [
                GenerationRequest(prompt=negation_prompt(s, shots), max_tokens=self.max_tokens, stop=("\n",))
                for s in statements
            ]
        )
        out = []
        for statement, result in zip(statements, results, strict=True):
            text = clean_explanation(result.samples[0].text)
            usable = bool(text) and text.rstrip(".").lower() != statement.strip().rstrip(".").lower()
            out.append((text, "lm") if usable else (rule_negation(statement), "rule"))
        return out

    async def _calibration_offset(self, lm: AsyncLM, shots: Shots, notes: list[str]) -> float | None:
        """The belief function's calibration offset (None when `calibrate` is off)."""
        return await self.belief_function.calibration(lm, shots, notes) if self.calibrate else None

    async def _beliefs(
        self,
        pairs: list[tuple[str, str]],
        lm: AsyncLM,
        shots: Shots,
        offset: float | None,
        root: bool = False,
    ) -> list[tuple[float, float]]:
        """(b(E), b(~E)) per (E, ~E) from the chosen belief function (`root`: the question's statement)."""
        return await self.belief_function.beliefs(pairs, lm, shots, offset, root=root)

    async def _relations(self, tree: nx.DiGraph, lm: AsyncLM, notes: list[str]) -> list[Relation]:
        """Relations between explanations (not the root), on the forms the model believes, capped."""
        if self.relation_scorer is None:
            notes.append("relations: off")
            return []
        nodes = [mt.node(tree, n) for n in tree.nodes if n != mt.ROOT]
        pairs = list(permutations(nodes, 2))
        if len(pairs) > self.max_relation_pairs:
            notes.append(f"relations: {len(pairs)} pairs capped at {self.max_relation_pairs}")
            pairs = pairs[: self.max_relation_pairs]
        stated = {n.id: n.text if n.believed_true else n.negation for n in nodes}
        scores = await self.relation_scorer.score([(stated[a.id], stated[b.id]) for a, b in pairs], lm)
        return [
            Relation(premise=a.id, hypothesis=b.id, scores=s) for (a, b), s in zip(pairs, scores, strict=True)
        ]


def relation_scorer_for(spec: str | RelationScorer | None) -> RelationScorer | None:
    if spec is None or not isinstance(spec, str):
        return spec
    if spec == "lm":
        return LMRelationScorer()
    if spec.startswith("lm:") and len(spec) > 3:
        return JudgeRelationScorer(spec[3:])
    if spec.startswith("hf:") and len(spec) > 3:
        return HFNLIScorer(spec[3:])
    raise ValueError(f"Maieutic: option 'relations' must be 'lm', 'lm:PATH', 'hf:PATH' or None, got {spec!r}")


LINK_SCORERS: dict[str, type[AbductiveLink] | type[ContinuationLink]] = {
    AbductiveLink.name: AbductiveLink,
    ContinuationLink.name: ContinuationLink,
}
"""The link scorers named by a string of their own; any other string names a relation scorer."""


def link_scorer_for(spec: str | LinkScorer | None) -> LinkScorer | None:
    if spec is None or not isinstance(spec, str):
        return spec
    if spec in LINK_SCORERS:
        return LINK_SCORERS[spec]()
    try:
        scorer = relation_scorer_for(spec)
    except ValueError:
        raise ValueError(
            f"Maieutic: option 'link' must be 'abductive', 'continuation', 'lm', 'lm:PATH', 'hf:PATH' or None, "
            f"got {spec!r}"
        ) from None
    return RelationLink(scorer) if scorer is not None else None


def pruning_note(tree: nx.DiGraph, pruned: nx.DiGraph) -> str:
    """What pruning did, in words: an empty tree otherwise reads as a bug rather than as the rule at work."""
    leaves = [n for n in tree.nodes if tree.out_degree(n) == 0]
    integral = sum(bool(tree.nodes[n]["integral"]) for n in leaves)
    return (
        f"tree: {tree.number_of_nodes()} nodes generated, {pruned.number_of_nodes()} kept by pruning "
        f"(a node is kept only on a path from the root to a logically integral leaf; {integral} of "
        f"{len(leaves)} leaves were integral)"
    )


def root_answer(root: mt.MaieuticNode, fallback: Literal["statement", "pair"]) -> bool:
    """What the root's own belief answers: P(true | E) >= 0.5, or >= P(true | ~E) (`fallback`)."""
    b_true, b_false = root.belief
    if fallback == "statement":
        return (b_true if b_true is not None else 0.5) >= 0.5
    return b_true is not None and b_false is not None and b_true >= b_false


def answer_from(
    question_id: str,
    result: SolveResult | None,
    root: mt.MaieuticNode,
    notes: list[str],
    fallback: Literal["statement", "pair"],
) -> Prediction:
    """The MAX-SAT answer when there is one, else the root's own belief (with the reason in notes): its
    statement's P(true) against 0.5, or against its negation's (`fallback`, see `Maieutic`)."""
    b_true, b_false = root.belief
    if result is not None and result.status == "solved" and result.answer is not None:
        cost_t, cost_f = result.cost_true or 0.0, result.cost_false or 0.0
        margin = cost_f - cost_t if result.answer else cost_t - cost_f
        return Prediction(
            question_id=question_id,
            answer=result.answer,
            scores={"True": -cost_t, "False": -cost_f},
            confidence=margin / (cost_t + cost_f) if cost_t + cost_f > 0 else 1.0,
        )
    why = "empty tree after pruning" if result is None else f"MAX-SAT status {result.status!r}"
    notes.append(f"fallback to the root belief ({fallback}): {why}")
    if fallback == "statement":
        p_true = b_true if b_true is not None else 0.5
        return Prediction(
            question_id=question_id,
            answer=root_answer(root, fallback),
            scores={"True": p_true, "False": 1.0 - p_true},
            confidence=abs(2.0 * p_true - 1.0),
        )
    return Prediction(
        question_id=question_id,
        answer=root_answer(root, fallback),
        scores={"True": b_true or 0.0, "False": b_false or 0.0},
        confidence=abs(mt.belief_weight(root.belief) or 0.0),
    )


# Training-data formatters (recipes name them, e.g. "reasonkit.strategies.maieutic:abductive_text"): the
# model learns the exact abduction and belief formats this strategy prompts with.


def _statement_row(row: dict[str, Any]) -> tuple[str, bool, str | None] | None:
    """(statement, label, explanation) of a train-split binary Question row or a CREAK train row."""
    if "sentence" in row:  # CREAK
        if str(row.get("ex_id", "")).startswith(("dev", "test")) or row.get("label") not in ("true", "false"):
            return None
        return row["sentence"], row["label"] == "true", row.get("explanation")
    question = Question.model_validate(row)
    if question.split != "train" or not isinstance(question.gold, bool):
        return None
    return question.text, question.gold, question.metadata.get("explanation")


def abductive_text(row: dict[str, Any]) -> str | None:
    """'Q: <statement>\\nA: This statement is <label>, because <explanation>' (rows without one: None)."""
    parsed = _statement_row(row)
    if parsed is None or not parsed[2]:
        return None
    statement, label, explanation = parsed
    return f"Q: {statement}\nA: This statement is {_word(label)}, because {explanation}"


def belief_text(row: dict[str, Any]) -> str | None:
    """'Q: <statement>\\nA: This statement is <label>.' for statements, and for a world's facts ({"text"})."""
    if set(row) == {"text"}:
        return f"Q: {row['text']}\nA: This statement is true."
    parsed = _statement_row(row)
    return None if parsed is None else f"Q: {parsed[0]}\nA: This statement is {_word(parsed[1])}."
