"""The StrategyQA decomposition builder: facts paired with steps only where they align, train rows only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reasonkit.benchmarks.build_exemplars import strategyqa_decompositions


def row(qid: str, decomposition: list[str], facts: list[str], answer: bool = True) -> dict[str, Any]:
    return {
        "qid": qid,
        "question": f"Question {qid}?",
        "answer": answer,
        "facts": facts,
        "decomposition": decomposition,
    }


def test_keeps_rows_whose_facts_align_with_the_steps_and_leaves_out_dev(tmp_path: Path) -> None:
    steps = ["How many legs do spiders have?", "How many legs do ants have?", "Is #1 more than #2?"]
    facts = ["Spiders have eight legs.", "Ants have six legs."]
    rows = [
        row("good", steps, facts),
        row("swapped", steps, facts[::-1]),  # each fact matches the other step better
        row("dev", steps, facts),
        row(
            "refers",
            ["Who wrote Hamlet?", "When was #1 born?", "Is #2 before 1600?"],
            ["Shakespeare wrote Hamlet.", "Shakespeare was born in 1564."],
        ),
        row("count", steps, facts[:1]),
    ]
    folder = tmp_path / "strategyqa"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / "dev.jsonl").write_text(json.dumps(row("dev", steps, facts)) + "\n", encoding="utf-8")
    [kept] = strategyqa_decompositions(tmp_path)
    assert kept.id == "strategyqa:good" and kept.subquestions == tuple(steps)
    assert kept.subanswers == ("Spiders have eight legs", "Ants have six legs", "yes")
