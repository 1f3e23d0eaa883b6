"""Rebuild the shipped exemplar files (strategies/exemplars/) from the staged datasets (training splits only).

    python -m reasonkit.benchmarks.build_exemplars    # reads $REASONKIT_DATA_DIR or <repo>/../shared/data

Each set takes rows from a TRAINING split, drops any whose question (normalised text) appears in a held-out
(dev or test) file of any dataset spec (`reasonkit.datasets`), keeps short rationales (few-shot prompts must
fit a 512-token context), balances the answers, and samples PER_SET rows with a fixed seed, so the output is
the same on every run. It lives with the benchmarks, which know the datasets and the synthetic suites; the
strategies only read the files it writes.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from reasonkit.atomic import atomic_write_bytes
from reasonkit.benchmarks.custom import field, read_jsonl
from reasonkit.benchmarks.synthetic import suites
from reasonkit.benchmarks.synthetic.multistep import MultiStepSuite
from reasonkit.datasets import available_datasets, get_dataset
from reasonkit.strategies.exemplars import (
    DECOMPOSITION_SETS,
    DecompositionExemplar,
    Exemplar,
    dump_exemplars,
    normalize_text,
)
from reasonkit.strategies.maieutic import MaieuticExemplar, rule_negation
from reasonkit.strategies.prompts import LETTERS, clean

PER_SET = 16
SEED = 20221
MAX_QUESTION_CHARS = 140
MAX_RATIONALE_CHARS = 200
MIN_RATIONALE_CHARS = 30
DECOMPOSITIONS = 12
MAX_FACT_CHARS = 100
STOP_WORDS = frozenset(
    "what which does have many much there that with from this were when where they their would could "
    "than more less same been into about other".split()
)
log = logging.getLogger("reasonkit.exemplars.build")
T = TypeVar("T", Exemplar, DecompositionExemplar)


def data_dir() -> Path:
    return Path(os.environ.get("REASONKIT_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def exemplars_dir() -> Path:
    """Where the strategies read their exemplar files from."""
    return Path(str(resources.files("reasonkit.strategies") / "exemplars"))


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    for _, row in read_jsonl(path):
        yield row


def _path(root: Path, dataset: str, split: str) -> Path:
    return root / get_dataset(dataset).files[split].path


def evaluation_questions(root: Path) -> set[str]:
    """Normalised text of every held-out question of every dataset spec, of the files staged under `root`."""
    keys: set[str] = set()
    for spec in available_datasets().values():
        for file in spec.held_out.values():
            path = root / file.path
            if path.exists():
                keys.update(
                    normalize_text(field(row, spec.fields.question, f"{path}:{number}"))
                    for number, row in read_jsonl(path)
                )
    return keys


def _short(question: str, rationale: str) -> bool:
    return (
        len(question) <= MAX_QUESTION_CHARS and MIN_RATIONALE_CHARS <= len(rationale) <= MAX_RATIONALE_CHARS
    )


def commonsenseqa(root: Path) -> list[Exemplar]:
    """ECQA explanations of CommonsenseQA TRAIN questions (ECQA's split mixes in CSQA dev; those are dropped)."""
    dev_ids = {row["id"] for row in _rows(_path(root, "csqa", "dev"))}
    out = []
    for row in _rows(root / "ecqa/ecqa_flan_cot_train.jsonl"):
        question, rationale = clean(row["question"]), clean(row["explanation"])
        if row["csqa_split"] == "train" and row["csqa_id"] not in dev_ids and _short(question, rationale):
            out.append(
                Exemplar(
                    id=f"csqa:{row['csqa_id']}",
                    source="ecqa",
                    question=question,
                    options=tuple(clean(c) for c in row["choices"]),
                    answer=LETTERS.index(row["answerKey"]),
                    rationale=rationale,
                )
            )
    return out


def strategyqa(root: Path) -> list[Exemplar]:
    """StrategyQA train questions with their annotated facts joined as the rationale."""
    dev_ids = {row["qid"] for row in _rows(_path(root, "strategyqa", "dev"))}
    out = []
    for row in _rows(_path(root, "strategyqa", "train")):
        question, rationale = clean(row["question"]), clean(" ".join(row["facts"]))
        if row["qid"] not in dev_ids and _short(question, rationale):
            out.append(
                Exemplar(
                    id=f"strategyqa:{row['qid']}",
                    source="strategyqa",
                    question=question,
                    answer=bool(row["answer"]),
                    rationale=rationale,
                )
            )
    return out


def creak(root: Path) -> list[Exemplar]:
    """CREAK train claims with their human explanations."""
    out = []
    for row in _rows(_path(root, "creak", "train")):
        question, rationale = clean(row["sentence"]), clean(row["explanation"])
        if row["ex_id"].startswith("train_") and _short(question, rationale):
            out.append(
                Exemplar(
                    id=f"creak:{row['ex_id']}",
                    source="creak",
                    question=question,
                    answer=row["label"] == "true",
                    rationale=rationale,
                )
            )
    return out


def multistep(root: Path) -> list[Exemplar]:
    """Train questions of the synthetic multi-step suite (seed 0), with their equations as the rationale.

    The suite draws its test split before its train split from one generator, so the first train questions
    are the same whatever n_train is, and the suite itself checks them disjoint from its test splits."""
    train = MultiStepSuite().generate(seed=0, n_train=400).splits["train"]
    return [Exemplar.from_question(q, source="multistep") for q in train if q.metadata["n_steps"] >= 2]


def _content_words(text: str) -> set[str]:
    return {w for w in normalize_text(text).split() if len(w) >= 4 and w not in STOP_WORDS}


def _aligned(subquestions: list[str], facts: list[str]) -> bool:
    """Fact i answers subquestion i as far as words tell: it shares a content word with it, and more than
    with any other of the subquestions the facts answer."""
    words = [_content_words(q) for q in subquestions]
    for i, fact in enumerate(facts):
        overlap = [len(_content_words(fact) & w) for w in words]
        if overlap[i] == 0 or any(overlap[j] >= overlap[i] for j in range(len(facts)) if j != i):
            return False
    return True


def strategyqa_decompositions(root: Path) -> list[DecompositionExemplar]:
    """StrategyQA train questions whose facts pair one-to-one, in order, with their decomposition's steps
    but the last (the yes / no step, answered by the label): 2-4 steps, no earlier step refers to another
    ("#1"; a self-ask follow-up must stand alone), short facts, each fact aligned with its step."""
    dev_ids = {row["qid"] for row in _rows(_path(root, "strategyqa", "dev"))}
    out = []
    for row in _rows(_path(root, "strategyqa", "train")):
        question = clean(row["question"])
        steps = [clean(q) for q in row["decomposition"]]
        facts = [clean(f).removesuffix(".") for f in row["facts"]]
        if (
            row["qid"] in dev_ids
            or len(question) > MAX_QUESTION_CHARS
            or not 2 <= len(steps) <= 4
            or len(facts) != len(steps) - 1
            or any("#" in q for q in steps[:-1])
            or any(len(f) > MAX_FACT_CHARS for f in facts)
            or not _aligned(steps[:-1], facts)
        ):
            continue
        answer = bool(row["answer"])
        out.append(
            DecompositionExemplar(
                id=f"strategyqa:{row['qid']}",
                source="strategyqa",
                question=question,
                answer=answer,
                subquestions=tuple(steps),
                subanswers=(*facts, "yes" if answer else "no"),
            )
        )
    return out


def balanced_sample(candidates: list[T], k: int, rng: random.Random) -> list[T]:
    """k exemplars with the answers as even as possible (round robin over answer values)."""
    by_answer: dict[str, list[T]] = {}
    for exemplar in candidates:
        by_answer.setdefault(str(exemplar.answer), []).append(exemplar)
    for group in by_answer.values():
        rng.shuffle(group)
    keys = sorted(by_answer)
    chosen = [by_answer[keys[i % len(keys)]][i // len(keys)] for i in range(k)]
    rng.shuffle(chosen)
    return chosen


def maieutic_suite(suite: str, k: int = 8, seed: int = 0) -> str:
    """The maieutic strategy's exemplars for a synthetic statement suite (the world, consistency): train
    statements of the suite (at `seed`, the world a model was trained on) with their explanation, half true and
    half false, negated by the strategy's rule."""
    train = suites()[suite].generate(seed=seed).splits["train"]
    chosen = [q for q in train if q.gold is True][: k // 2] + [q for q in train if q.gold is False][
        : k - k // 2
    ]
    random.Random(f"{SEED}:maieutic_{suite}").shuffle(chosen)
    rows = [
        MaieuticExemplar(
            id=q.id,
            statement=q.text,
            label=bool(q.gold),
            explanation=q.metadata["explanation"],
            negation=rule_negation(q.text),
        )
        for q in chosen
    ]
    return "".join(row.model_dump_json() + "\n" for row in rows)


MAIEUTIC_SUITES = ("world", "consistency")
"""Synthetic suites with a shipped maieutic exemplar set (strategies.maieutic.EXEMPLAR_FILES)."""
MAIEUTIC_WORLDS = (("consistency", 1), ("consistency", 2), ("consistency", 3), ("consistency", 4))
"""(suite, world seed): an exemplar set for a model trained on that seed's world (`bench --world-seed`)."""

BUILDERS = {"commonsenseqa": commonsenseqa, "strategyqa": strategyqa, "creak": creak, "multistep": multistep}


def build(root: Path, out: Path) -> None:
    """Every exemplar set from the datasets under `root`, written to `out`."""
    forbidden = evaluation_questions(root)
    for name, builder in BUILDERS.items():
        candidates = [e for e in builder(root) if normalize_text(e.question) not in forbidden]
        chosen = balanced_sample(candidates, PER_SET, random.Random(f"{SEED}:{name}"))
        atomic_write_bytes(out / f"{name}.jsonl", dump_exemplars(chosen).encode("utf-8"))
        log.info("%s: %d candidates, wrote %d", name, len(candidates), len(chosen))
    for suite in MAIEUTIC_SUITES:
        atomic_write_bytes(out / f"maieutic_{suite}_train.jsonl", maieutic_suite(suite).encode("utf-8"))
    for suite, seed in MAIEUTIC_WORLDS:
        text = maieutic_suite(suite, seed=seed)
        atomic_write_bytes(out / f"maieutic_{suite}_world{seed}_train.jsonl", text.encode("utf-8"))
    candidates = [e for e in strategyqa_decompositions(root) if normalize_text(e.question) not in forbidden]
    chosen_decompositions = balanced_sample(
        candidates, DECOMPOSITIONS, random.Random(f"{SEED}:strategyqa_decomposition")
    )
    text = "".join(row.model_dump_json() + "\n" for row in chosen_decompositions)
    atomic_write_bytes(out / f"{DECOMPOSITION_SETS['strategyqa']}.jsonl", text.encode("utf-8"))
    log.info(
        "strategyqa decompositions: %d candidates, wrote %d", len(candidates), len(chosen_decompositions)
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(data_dir(), exemplars_dir())


if __name__ == "__main__":
    main()
