"""Rebuild the shipped exemplar files from the staged datasets (training splits only).

    python strategies/exemplars/build.py            # reads $REASONKIT_DATA_DIR or <repo>/../shared/data

Each set takes rows from a TRAINING split, drops any whose question (normalised text) appears in a dev or test
file of any staged benchmark, keeps short rationales (few-shot prompts must fit a 512-token context), balances
the answers, and samples PER_SET rows with a fixed seed, so the output is the same on every run.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reasonkit.strategies.exemplars import Exemplar, dump_exemplars, normalize_text
from reasonkit.strategies.prompts import LETTERS, clean

PER_SET = 16
SEED = 20221
MAX_QUESTION_CHARS = 140
MAX_RATIONALE_CHARS = 200
MIN_RATIONALE_CHARS = 30
HERE = Path(__file__).resolve().parent
log = logging.getLogger("reasonkit.exemplars.build")

EVALUATION_FILES: dict[str, Callable[[dict[str, Any]], str]] = {
    "commonsenseqa/dev.jsonl": lambda r: r["question"]["stem"],
    "commonsenseqa/test_no_answers.jsonl": lambda r: r["question"]["stem"],
    "strategyqa/dev.jsonl": lambda r: r["question"],
    "creak/dev.jsonl": lambda r: r["sentence"],
    "creak/test_without_labels.jsonl": lambda r: r["sentence"],
    "csqa2/dev.jsonl": lambda r: r["question"],
    "csqa2/test_no_answers.jsonl": lambda r: r["question"],
    "com2sense/dev.jsonl": lambda r: r["sent"],
    "com2sense/test_no_labels.jsonl": lambda r: r["sent"],
    "arc/easy_test.jsonl": lambda r: r["question"],
    "arc/challenge_test.jsonl": lambda r: r["question"],
    "openbookqa/test.jsonl": lambda r: r["question"],
}
"""Every staged dev/test file and how to read its question text: no exemplar may be one of these."""


def data_dir() -> Path:
    return Path(os.environ.get("REASONKIT_DATA_DIR", HERE.parents[2] / "shared" / "data"))


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def evaluation_questions(root: Path) -> set[str]:
    """Normalised text of every dev/test question staged under `root`."""
    keys: set[str] = set()
    for name, text_of in EVALUATION_FILES.items():
        if (root / name).exists():
            keys.update(normalize_text(text_of(row)) for row in read_jsonl(root / name))
    return keys


def _short(question: str, rationale: str) -> bool:
    return (
        len(question) <= MAX_QUESTION_CHARS and MIN_RATIONALE_CHARS <= len(rationale) <= MAX_RATIONALE_CHARS
    )


def commonsenseqa(root: Path) -> list[Exemplar]:
    """ECQA explanations of CommonsenseQA TRAIN questions (ECQA's split mixes in CSQA dev; those are dropped)."""
    dev_ids = {row["id"] for row in read_jsonl(root / "commonsenseqa/dev.jsonl")}
    out = []
    for row in read_jsonl(root / "ecqa/ecqa_flan_cot_train.jsonl"):
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
    dev_ids = {row["qid"] for row in read_jsonl(root / "strategyqa/dev.jsonl")}
    out = []
    for row in read_jsonl(root / "strategyqa/train.jsonl"):
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
    for row in read_jsonl(root / "creak/train.jsonl"):
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
    from reasonkit.benchmarks.synthetic.multistep import MultiStepSuite

    train = MultiStepSuite().generate(seed=0, n_train=400).splits["train"]
    return [Exemplar.from_question(q, source="multistep") for q in train if q.metadata["n_steps"] >= 2]


def balanced_sample(candidates: list[Exemplar], k: int, rng: random.Random) -> list[Exemplar]:
    """k exemplars with the answers as even as possible (round robin over answer values)."""
    by_answer: dict[str, list[Exemplar]] = {}
    for exemplar in candidates:
        by_answer.setdefault(str(exemplar.answer), []).append(exemplar)
    for group in by_answer.values():
        rng.shuffle(group)
    keys = sorted(by_answer)
    chosen = [by_answer[keys[i % len(keys)]][i // len(keys)] for i in range(k)]
    rng.shuffle(chosen)
    return chosen


def maieutic_world(k: int = 8) -> str:
    """The maieutic strategy's exemplars for the synthetic world: train statements of the suite (seed 0) with
    their two-fact explanation, half true and half false, negated by the strategy's rule."""
    from reasonkit.benchmarks.synthetic.world import WorldSuite
    from reasonkit.strategies.maieutic import MaieuticExemplar, rule_negation

    train = WorldSuite().generate(seed=0).splits["train"]
    chosen = [q for q in train if q.gold is True][: k // 2] + [q for q in train if q.gold is False][: k - k // 2]
    random.Random(f"{SEED}:maieutic_world").shuffle(chosen)
    rows = [
        MaieuticExemplar(id=q.id, statement=q.text, label=bool(q.gold), explanation=q.metadata["explanation"],
                         negation=rule_negation(q.text))
        for q in chosen
    ]
    return "".join(row.model_dump_json() + "\n" for row in rows)


BUILDERS = {"commonsenseqa": commonsenseqa, "strategyqa": strategyqa, "creak": creak, "multistep": multistep}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = data_dir()
    forbidden = evaluation_questions(root)
    for name, build in BUILDERS.items():
        candidates = [e for e in build(root) if normalize_text(e.question) not in forbidden]
        chosen = balanced_sample(candidates, PER_SET, random.Random(f"{SEED}:{name}"))
        (HERE / f"{name}.jsonl").write_text(dump_exemplars(chosen), encoding="utf-8")
        log.info("%s: %d candidates, wrote %d", name, len(candidates), len(chosen))
    (HERE / "maieutic_world_train.jsonl").write_text(maieutic_world(), encoding="utf-8")


if __name__ == "__main__":
    main()
