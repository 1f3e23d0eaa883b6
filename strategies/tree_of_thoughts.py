"""Tree of thoughts (Yao et al. 2023): propose several next steps, let the model value each state, search.

A state is the question and the thoughts (one line each) written so far:
    Question: <text>
    Steps: <thought 1> <thought 2> ...
The proposer continues it with "\\nNext:" (`proposals` samples of one line, in one request, duplicates
dropped); a thought holding "So the answer is" ends its path. The evaluator values a state:
`"value"` scores " sure" / " likely" / " impossible" after "\\nValue:" and weighs them 20 / 1 / 0.001 (the
paper's value prompt), `"logprob"` uses the proposal's own mean token log-prob (no extra calls). Search:
`"bfs"` keeps the `breadth` best states of each depth (the paper's BFS), `"beam"` the same on the path's
summed log value, `"dfs"` goes to the best child first, prunes states valued under `threshold` and
backtracks. Every search stops at `max_depth` thoughts or when `max_calls` model requests are spent; the
answer is the best-valued finished path's. The trace holds the whole search tree as networkx node-link
JSON (`steps["tree"]`) and the calls it spent; the runner puts calls and tokens in every result row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass as plain_dataclass
from dataclasses import field
from typing import ClassVar, Literal

import networkx as nx
from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.protocol import GenerationRequest, LoglikelihoodRequest, NewTokens, SampleCount
from reasonkit.registry import register_strategy
from reasonkit.strategies import prompts
from reasonkit.strategies.answer_extraction import extract_answer
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Answer, Prediction, Question, Trace

VALUE_WORDS = {" sure": 20.0, " likely": 1.0, " impossible": 0.001}


def state_prompt(text: str, thoughts: list[str]) -> str:
    return f"Question: {prompts.clean(text)}\nSteps:" + "".join(f" {t}" for t in thoughts)


def propose_prompt(text: str, thoughts: list[str]) -> str:
    return f"{state_prompt(text, thoughts)}\nNext:"


def value_prompt(text: str, thoughts: list[str]) -> str:
    return f"{state_prompt(text, thoughts)}\nValue:"


@plain_dataclass
class Node:
    """A state in the search: the thoughts from the root, its value and its path's summed log value."""

    id: int
    thoughts: list[str]
    value: float = 1.0
    path_score: float = 0.0
    answer: Answer | None = None
    finished: bool = False
    children: list[int] = field(default_factory=list)


class BudgetSpent(Exception):
    """Internal: `max_calls` reached; the search stops with what it has."""


@register_strategy("tree_of_thoughts", aliases=("tot",))
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid"))
class TreeOfThoughts(Strategy):
    """Propose `proposals` thoughts per state, value them with `evaluator`, search with `search`."""

    name: ClassVar[str] = "tree_of_thoughts"

    search: Literal["bfs", "beam", "dfs"] = "bfs"
    evaluator: Literal["value", "logprob"] = "value"
    proposals: SampleCount = 5
    breadth: int = Field(3, ge=1)
    max_depth: int = Field(4, ge=1)
    max_calls: int = Field(200, ge=1)
    threshold: float = Field(0.5, ge=0.0)
    temperature: float = Field(0.7, ge=0.0)
    thought_tokens: NewTokens = 32
    seed: int = 0

    def uses_loglikelihood(self) -> bool:
        return self.evaluator == "value"

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
        trace = Trace(strategy=self.name)
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
        trace.notes.extend(search.notes)
        if best is None:
            trace.notes.append("abstained: the search found no finished path with a readable answer")
            return Prediction(question_id=question.id, answer=None, trace=trace)
        return Prediction(
            question_id=question.id, answer=best.answer, confidence=min(best.value / 20.0, 1.0), trace=trace
        )


class _Search:
    """The state of one question's search: its nodes, the calls spent and the notes for the trace."""

    def __init__(self, strategy: TreeOfThoughts, question: Question, lm: AsyncLM) -> None:
        self.strategy, self.question, self.lm = strategy, question, lm
        self.nodes: list[Node] = []
        self.calls = 0
        self.expanded = 0
        self.notes: list[str] = []

    def add(self, thoughts: list[str], parent: Node | None) -> Node:
        node = Node(id=len(self.nodes), thoughts=thoughts)
        self.nodes.append(node)
        if parent is not None:
            parent.children.append(node.id)
            node.path_score = parent.path_score
        return node

    def _spend(self, calls: int) -> None:
        if self.calls + calls > self.strategy.max_calls:
            raise BudgetSpent
        self.calls += calls

    async def expand(self, node: Node) -> list[Node]:
        """The node's children: distinct proposed thoughts, each valued; finished ones read their answer."""
        s = self.strategy
        self._spend(1)
        request = GenerationRequest(
            prompt=propose_prompt(self.question.text, node.thoughts),
            n=s.proposals,
            max_tokens=s.thought_tokens,
            temperature=s.temperature,
            stop=("\n",),
            seed=s.seed + self.expanded,
        )
        self.expanded += 1
        [result] = await self.lm.generate([request])
        seen: dict[str, float] = {}
        for sample in result.samples:
            thought = sample.text.strip()
            if thought and thought not in seen:
                seen[thought] = sample.logprob / max(len(sample.token_logprobs), 1)
        children = [self.add([*node.thoughts, thought], node) for thought in seen]
        if s.evaluator == "value":
            await self._value(children)
        else:
            for child, mean_logprob in zip(children, seen.values(), strict=True):
                child.value = math.exp(mean_logprob)
        for child in children:
            child.path_score += math.log(max(child.value, 1e-9))
            if prompts.ANSWER_PREFIX in child.thoughts[-1]:
                child.finished = True
                child.answer = extract_answer(self.question, child.thoughts[-1]).answer
        return children

    async def _value(self, children: list[Node]) -> None:
        """The model's value of each child: the expected weight of the value words under its distribution."""
        if not children:
            return
        words = list(VALUE_WORDS)
        self._spend(len(children) * len(words))
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

    async def level_by_level(self, root: Node) -> None:
        """BFS / beam: expand every frontier state, keep the `breadth` best unfinished children."""
        s = self.strategy
        frontier = [root]
        for _ in range(s.max_depth):
            children = [child for node in frontier for child in await self.expand(node)]
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
        for child in sorted(await self.expand(node), key=lambda n: n.value, reverse=True):
            if child.value < s.threshold:
                continue
            if child.finished:
                if child.answer is not None:
                    return True
                continue
            if await self.dfs(child):
                return True
        return False
