"""Tree of thoughts (Yao et al. 2023): propose several next steps, evaluate the states, search.

A state is the question and the thoughts (one line each) written so far:
    Question: <text>
    Steps: <thought 1> <thought 2> ...
The proposer continues it with "\\nNext:" (`proposals` samples of one line, in one request, duplicates
dropped); a thought holding "So the answer is" ends its path. The evaluator gives each new state a value:

- `"value"`: the paper's value prompt; " sure" / " likely" / " impossible" scored after "\\nValue:" and
  weighed 20 / 1 / 0.001 (values in [0.001, 20]).
- `"vote"`: the paper's vote prompt; the model sees the candidate states together (a depth's new states in
  bfs / beam, a state's children in dfs), numbered after their common steps, and votes for the most
  promising after "\\nBest choice:"; a state's value is its share of the votes (values in [0, 1]).
  `votes=0` (the default) reads the vote by log-likelihood: each " <i>" scored after the prompt and the
  shares are the softmax over the choices, the expected share of infinitely many sampled votes. The paper
  samples 5 votes from a model that follows the instruction; a small model never trained on a vote format
  mostly writes something that is no choice's number, so sampled votes would be mostly malformed and the
  few valid ones noise, while the likelihood of each number is always defined, needs no parsing and is
  exact. `votes=k` samples k votes in one request as the paper does (first integer of each; a vote that
  names no choice is malformed, counted in the trace and left out; with no valid vote every choice gets an
  equal share). A lone candidate gets the whole vote without a call. `vote_over="siblings"` holds one vote
  per state among its own children instead of one per depth: a prompt of 5 candidates rather than 15 (it
  fits a small window), shares comparable within a parent only; beam's path score, their product along
  the path, compares across parents.
- `"logprob"`: the proposal's own mean token log-prob, as a probability (no extra calls).
- `"judge"`: any strategy (`judge=<spec>`) answering a true / false question per state: "<question> Steps:
  <thoughts> <judge_statement>" ("The steps so far are correct." by default). The value is the judge's
  probability of True: its `confidence` for the answer it gave (1 or 0 without one), 0.5 when it abstains.
  So `judge=direct(normalization='raw')` is the model scoring " True" / " False", a user's own registered
  strategy (a verifier, a checker, another model) plugs in by its spec, and the judge's calls are traced
  as children and count against the budget.

Search: `"bfs"` keeps the `breadth` best states of each depth (the paper's BFS), `"beam"` the same on the
path's summed log value, `"dfs"` goes to the best child first, prunes states valued under `threshold` (on
the evaluator's scale above) and backtracks. Every search stops at `max_depth` thoughts or when
`max_calls` model requests are spent (every request counts, a judge's included: a request over the budget
is never sent); the answer is the best-valued finished path's. The trace holds the whole search tree as
networkx node-link JSON (`steps["tree"]`) and the calls it spent; the runner puts calls and tokens in every
result row.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass as plain_dataclass
from dataclasses import field
from typing import Any, ClassVar, Literal

import networkx as nx
from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.client import solve_traced
from reasonkit.protocol import (
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    NewTokens,
    SampleCount,
)
from reasonkit.registry import register_strategy
from reasonkit.strategies import prompts
from reasonkit.strategies.answer_extraction import extract_answer
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Answer, Prediction, Question, Trace

VALUE_WORDS = {" sure": 20.0, " likely": 1.0, " impossible": 0.001}
VOTE_CUE = "Best choice:"
JUDGE_STATEMENT = "The steps so far are correct."
_NUMBER = re.compile(r"\d+")

Evaluator = Literal["value", "vote", "logprob", "judge"]


def state_prompt(text: str, thoughts: Sequence[str]) -> str:
    return f"Question: {prompts.clean(text)}\nSteps:" + "".join(f" {t}" for t in thoughts)


def propose_prompt(text: str, thoughts: list[str]) -> str:
    return f"{state_prompt(text, thoughts)}\nNext:"


def value_prompt(text: str, thoughts: list[str]) -> str:
    return f"{state_prompt(text, thoughts)}\nValue:"


def vote_prompt(text: str, candidates: Sequence[Sequence[str]]) -> str:
    """The candidates' common steps once, then each candidate's own steps as a numbered choice."""
    shared = 0
    shortest = min(len(c) for c in candidates)
    while shared < shortest - 1 and len({tuple(c[: shared + 1]) for c in candidates}) == 1:
        shared += 1
    lines = [state_prompt(text, candidates[0][:shared])]
    lines += [f"Choice {i}: {' '.join(c[shared:])}" for i, c in enumerate(candidates, 1)]
    return "\n".join(lines) + f"\n{VOTE_CUE}"


def read_vote(text: str, n_choices: int) -> int | None:
    """The 0-based choice a sampled vote names (its first integer), None when it names none."""
    match = _NUMBER.search(text)
    if match is None or not 1 <= int(match.group()) <= n_choices:
        return None
    return int(match.group()) - 1


def judge_question(question: Question, node_id: int, thoughts: Sequence[str], statement: str) -> Question:
    """The true / false question a judge answers about one state (with the state in its metadata)."""
    return Question(
        id=f"{question.id}/state-{node_id}",
        text=f"{prompts.clean(question.text)} Steps: {' '.join(thoughts)} {statement}",
        kind="binary",
        split=question.split,
        metadata={"question_id": question.id, "question": question.text, "steps": list(thoughts)},
    )


def judged_value(prediction: Prediction) -> float:
    """The judge's probability that the state is good: its confidence in True (0.5 when it abstains)."""
    if prediction.answer is None:
        return 0.5
    confidence = 1.0 if prediction.confidence is None else prediction.confidence
    return confidence if prediction.answer is True else 1.0 - confidence


@plain_dataclass
class Node:
    """A state in the search: the thoughts from the root, its value and its path's summed log value."""

    id: int
    thoughts: list[str]
    parent: int | None = None
    value: float = 1.0
    path_score: float = 0.0
    mean_logprob: float = 0.0
    answer: Answer | None = None
    finished: bool = False
    children: list[int] = field(default_factory=list)


class BudgetSpent(Exception):
    """Internal: `max_calls` reached; the search stops with what it has."""


@register_strategy("tree_of_thoughts", aliases=("tot",))
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class TreeOfThoughts(Strategy):
    """Propose `proposals` thoughts per state, value them with `evaluator`, search with `search`.

    `votes` (evaluator "vote"): 0 reads the vote by log-likelihood, k > 0 samples k votes. `judge`
    (evaluator "judge"): the strategy that answers "<state> <judge_statement>" as true or false."""

    name: ClassVar[str] = "tree_of_thoughts"

    search: Literal["bfs", "beam", "dfs"] = "bfs"
    evaluator: Evaluator = "value"
    proposals: SampleCount = 5
    breadth: int = Field(3, ge=1)
    max_depth: int = Field(4, ge=1)
    max_calls: int = Field(200, ge=1)
    threshold: float = Field(0.5, ge=0.0)
    temperature: float = Field(0.7, ge=0.0)
    thought_tokens: NewTokens = 32
    seed: int = 0
    votes: int = Field(0, ge=0)
    vote_over: Literal["depth", "siblings"] = "depth"
    judge: Strategy | None = None
    judge_statement: str = JUDGE_STATEMENT

    def __post_init__(self) -> None:
        if self.evaluator == "judge" and self.judge is None:
            raise ValueError(
                "tree_of_thoughts: evaluator='judge' needs option 'judge', a strategy spec "
                "(e.g. judge=direct(normalization='raw'))"
            )
        if self.judge is not None and self.evaluator != "judge":
            raise ValueError(
                f"tree_of_thoughts: option 'judge' is given but evaluator={self.evaluator!r}; "
                "set evaluator='judge'"
            )
        for option in ("votes", "vote_over"):
            if self.evaluator != "vote" and getattr(self, option) != _default(option):
                raise ValueError(
                    f"tree_of_thoughts: option {option!r} applies to evaluator='vote', not {self.evaluator!r}"
                )
        probe = Question(id="judge-probe", text="The steps so far are correct.", kind="binary")
        if self.judge is not None and not self.judge.applies_to(probe):
            raise ValueError(
                f"tree_of_thoughts: judge {self.judge.name!r} cannot answer a true / false question"
            )

    def config(self) -> dict[str, Any]:
        """Without the options added after the first runs while they are at their defaults, so run folders
        made before they existed keep resuming (a config is a run folder's identity)."""
        config = super().config()
        for option in ("votes", "vote_over", "judge", "judge_statement"):
            if getattr(self, option) == _default(option):
                del config[option]
        return config

    def uses_loglikelihood(self) -> bool:
        if self.judge is not None:
            return self.judge.uses_loglikelihood()
        return self.evaluator == "value" or (self.evaluator == "vote" and self.votes == 0)

    @property
    def top_value(self) -> float:
        """The most a state can be valued (the value prompt's "sure"; 1 for shares and probabilities)."""
        return max(VALUE_WORDS.values()) if self.evaluator == "value" else 1.0

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        search = _Search(self, question, lm)
        root = search.add([], None)
        try:
            if self.search == "dfs":
                await search.dfs(root)
            else:
                await search.level_by_level(root)
        except BudgetSpent:
            search.notes.append(f"stopped: max_calls={self.max_calls} model calls spent")
        trace = Trace(strategy=self.name, children=search.judged)
        finished = [n for n in search.nodes if n.finished and n.answer is not None]
        best = max(finished, key=lambda n: (n.value, n.path_score), default=None)
        graph = nx.DiGraph()
        for node in search.nodes:
            graph.add_node(
                node.id,
                text=node.thoughts[-1] if node.thoughts else "(question)",
                depth=len(node.thoughts),
                value=node.value,
                path_score=node.path_score,
                finished=node.finished,
                answer=node.answer,
                chosen=best is not None and node.id == best.id,
            )
            graph.add_edges_from((node.id, child) for child in node.children)
        trace.steps = {
            "tree": nx.node_link_data(graph, edges="edges"),
            "calls": search.calls,
            "expanded": search.expanded,
            "path": [] if best is None else best.thoughts,
        }
        if search.votes:
            trace.steps["votes"] = search.votes
        trace.notes.extend(search.notes)
        if best is None:
            trace.notes.append("abstained: the search found no finished path with a readable answer")
            return Prediction(question_id=question.id, answer=None, trace=trace)
        return Prediction(
            question_id=question.id,
            answer=best.answer,
            confidence=min(best.value / self.top_value, 1.0),
            trace=trace,
        )


def _default(option: str) -> Any:
    return inspect.signature(TreeOfThoughts).parameters[option].default


class _Budgeted:
    """The LM as one search sees it: each request is counted against `max_calls` before it is sent, so a
    request over the budget never reaches the model (a judge's requests too)."""

    def __init__(self, lm: AsyncLM, search: _Search) -> None:
        self.lm, self.search = lm, search

    async def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.search.spend(len(requests))
        return await self.lm.loglikelihood(requests)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        self.search.spend(len(requests))
        return await self.lm.generate(requests)


class _Search:
    """The state of one question's search: its nodes, the calls spent and the notes for the trace."""

    def __init__(self, strategy: TreeOfThoughts, question: Question, lm: AsyncLM) -> None:
        self.strategy, self.question = strategy, question
        self.lm = _Budgeted(lm, self)
        self.nodes: list[Node] = []
        self.calls = 0
        self.expanded = 0
        self.notes: list[str] = []
        self.votes: list[dict[str, Any]] = []
        self.judged: list[Trace] = []

    def add(self, thoughts: list[str], parent: Node | None) -> Node:
        node = Node(id=len(self.nodes), thoughts=thoughts, parent=None if parent is None else parent.id)
        self.nodes.append(node)
        if parent is not None:
            parent.children.append(node.id)
            node.path_score = parent.path_score
        return node

    def spend(self, calls: int) -> None:
        if self.calls + calls > self.strategy.max_calls:
            raise BudgetSpent
        self.calls += calls

    async def propose(self, node: Node) -> list[Node]:
        """The node's children: distinct proposed thoughts; finished ones read their answer."""
        s = self.strategy
        request = GenerationRequest(
            prompt=propose_prompt(self.question.text, node.thoughts),
            n=s.proposals,
            max_tokens=s.thought_tokens,
            temperature=s.temperature,
            stop=("\n",),
            seed=s.seed + self.expanded,
        )
        [result] = await self.lm.generate([request])
        self.expanded += 1
        seen: dict[str, float] = {}
        for sample in result.samples:
            thought = sample.text.strip()
            if thought and thought not in seen:
                seen[thought] = sample.logprob / max(len(sample.token_logprobs), 1)
        children = []
        for thought, mean_logprob in seen.items():
            child = self.add([*node.thoughts, thought], node)
            child.mean_logprob = mean_logprob
            if prompts.ANSWER_PREFIX in thought:
                child.finished = True
                child.answer = extract_answer(self.question, thought).answer
            children.append(child)
        return children

    async def evaluate(self, children: list[Node]) -> None:
        """Value new states with the evaluator (a vote is over all of them, or over each state's siblings)."""
        if not children:
            return
        evaluator = self.strategy.evaluator
        if evaluator == "value":
            await self._value(children)
        elif evaluator == "vote" and self.strategy.vote_over == "siblings":
            for parent in dict.fromkeys(c.parent for c in children):
                await self._vote([c for c in children if c.parent == parent])
        elif evaluator == "vote":
            await self._vote(children)
        elif evaluator == "judge":
            await self._judge(children)
        else:
            for child in children:
                child.value = math.exp(child.mean_logprob)
        for child in children:
            child.path_score += math.log(max(child.value, 1e-9))

    async def _value(self, children: list[Node]) -> None:
        """The model's value of each child: the expected weight of the value words under its distribution."""
        words = list(VALUE_WORDS)
        requests = [
            LoglikelihoodRequest(context=value_prompt(self.question.text, c.thoughts), continuation=w)
            for c in children
            for w in words
        ]
        results = await self.lm.loglikelihood(requests)
        for i, child in enumerate(children):
            logprobs = [r.logprob for r in results[i * len(words) : (i + 1) * len(words)]]
            top = max(logprobs)
            weights = [math.exp(lp - top) for lp in logprobs]
            child.value = sum(w * VALUE_WORDS[word] for w, word in zip(weights, words, strict=True)) / sum(
                weights
            )

    async def _vote(self, children: list[Node]) -> None:
        """Each child's share of the votes among `children` (module docstring)."""
        k = len(children)
        record: dict[str, Any] = {"states": [c.id for c in children]}
        if k == 1:
            shares = [1.0]
        else:
            prompt = vote_prompt(self.question.text, [c.thoughts for c in children])
            if self.strategy.votes == 0:
                requests = [
                    LoglikelihoodRequest(context=prompt, continuation=f" {i}") for i in range(1, k + 1)
                ]
                logprobs = [r.logprob for r in await self.lm.loglikelihood(requests)]
                top = max(logprobs)
                weights = [math.exp(lp - top) for lp in logprobs]
                shares = [w / sum(weights) for w in weights]
            else:
                shares = await self._sampled_votes(prompt, k, record)
        for child, share in zip(children, shares, strict=True):
            child.value = share
        self.votes.append({**record, "shares": shares})

    async def _sampled_votes(self, prompt: str, k: int, record: dict[str, Any]) -> list[float]:
        s = self.strategy
        request = GenerationRequest(
            prompt=prompt,
            n=s.votes,
            max_tokens=8,
            temperature=s.temperature,
            stop=("\n",),
            seed=s.seed + len(self.votes),
        )
        [result] = await self.lm.generate([request])
        read = [read_vote(sample.text, k) for sample in result.samples]
        valid = [choice for choice in read if choice is not None]
        record["malformed"] = len(read) - len(valid)
        if not valid:
            self.notes.append(f"no valid vote among {len(read)} for states {record['states']}: equal shares")
            return [1.0 / k] * k
        return [valid.count(i) / len(valid) for i in range(k)]

    async def _judge(self, children: list[Node]) -> None:
        """The judge strategy's probability of True for each child, its runs traced as children."""
        s = self.strategy
        assert s.judge is not None  # checked in __post_init__
        questions = [judge_question(self.question, c.id, c.thoughts, s.judge_statement) for c in children]
        outcomes = await asyncio.gather(
            *(solve_traced(s.judge, q, self.lm) for q in questions), return_exceptions=True
        )
        for child, outcome in zip(children, outcomes, strict=True):
            if isinstance(outcome, Prediction):
                child.value = judged_value(outcome)
                self.judged.append(outcome.trace)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            raise failed[0]

    async def level_by_level(self, root: Node) -> None:
        """BFS / beam: expand every frontier state, keep the `breadth` best unfinished children."""
        s = self.strategy
        frontier = [root]
        for _ in range(s.max_depth):
            children = [child for node in frontier for child in await self.propose(node)]
            await self.evaluate(children)
            open_ = [c for c in children if not c.finished]
            key = (lambda n: n.value) if s.search == "bfs" else (lambda n: n.path_score)
            frontier = sorted(open_, key=key, reverse=True)[: s.breadth]
            if not frontier:
                if not children:
                    self.notes.append("the frontier is empty: no state had a new proposal")
                return
        self.notes.append(f"max_depth={s.max_depth} reached")

    async def dfs(self, node: Node) -> bool:
        """Best child first; prune under `threshold`; True once a finished path above it is found."""
        s = self.strategy
        if len(node.thoughts) >= s.max_depth:
            return False
        children = await self.propose(node)
        await self.evaluate(children)
        for child in sorted(children, key=lambda n: n.value, reverse=True):
            if child.value < s.threshold:
                continue
            if child.finished:
                if child.answer is not None:
                    return True
                continue
            if await self.dfs(child):
                return True
        return False
