"""The authors' trees through our clauses and solver: a hand-written record always, the shared files when present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasonkit.benchmarks.studies import maieutic_replay as replay
from reasonkit.strategies import maieutic_tree as mt

RECORD = {
    "idx": 0,
    "Q": "Eating soup means eating only solids.",
    "A": False,
    "root": "Q",
    "nodes": {
        "Q": {
            "parent": None,
            "children": ["QT0", "QF0"],
            "E": "Eating soup means eating only solids.",
            "E_tilde": "Eating soup means eating both solids and liquids.",
            "blf": [0.70, 0.99],
            "int": False,
            "expanded": True,
        },
        "QT0": {
            "parent": "Q",
            "children": ["QT0F0"],
            "E": "Soup is a liquid that is made of solids.",
            "E_tilde": "Soup is not a liquid that is made of solids.",
            "blf": [0.98, 0.77],
            "int": False,
            "expanded": True,
        },
        "QT0F0": {
            "parent": "QT0",
            "children": [],
            "E": "Soup is not always a liquid.",
            "E_tilde": "Soup is always a liquid.",
            "blf": [0.99, 0.07],
            "int": True,
            "expanded": True,
        },
        "QF0": {
            "parent": "Q",
            "children": [],
            "E": "Soup is a liquid, not a solid.",
            "E_tilde": "Soup is a solid, not a liquid.",
            "blf": [0.997, 0.0001],
            "int": True,
            "expanded": True,
        },
    },
}


def test_record_to_tree_and_answer(tmp_path: Path) -> None:
    path = replay.tree_file(tmp_path, "creak")
    path.parent.mkdir()
    empty = {"idx": 1, "Q": "x.", "A": True, "root": None, "nodes": {}}
    path.write_text(json.dumps(RECORD) + "\n" + json.dumps(empty) + "\n")
    first, second = replay.load_trees(path)
    assert set(first.tree.edges) == {("Q", "QT0"), ("QT0", "QT0F0"), ("Q", "QF0")}
    assert mt.node(first.tree, "QT0F0").polarity == "F" and first.tree.nodes["QF0"]["integral"]
    # QF0 (believed, weight ~1) says the root is false; QT0F0 says QT0 is false, so nothing says true
    assert replay.replay_answer(first.tree) == (False, False)
    assert replay.root_belief_answer(first.tree) is False
    assert replay.replay_answer(second.tree) == (True, True)  # empty tree: True, as the authors' code
    assert replay.replay(tmp_path, "creak").accuracy == pytest.approx(100.0)


def test_bad_record_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    broken = {**RECORD, "nodes": {**RECORD["nodes"], "Q": {**RECORD["nodes"]["Q"], "children": ["QT9"]}}}
    path.write_text(json.dumps(RECORD) + "\n" + json.dumps(broken) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2"):
        list(replay.load_trees(path))
    path.write_bytes(json.dumps(RECORD).encode() + b"\n" + b'{"Q": "caf\xe9"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not UTF-8"):
        list(replay.load_trees(path))


@pytest.mark.parametrize("dataset", list(replay.DATASETS))
def test_replay_slice_beats_the_majority_class(dataset: str) -> None:
    data_dir = replay.default_data_dir()
    path = replay.tree_file(data_dir, dataset)
    if not path.exists():
        pytest.skip(f"{path} not present (shared development data)")
    n = 200
    golds = [json.loads(line)["A"] for line, _ in zip(path.open(), range(n), strict=False)]
    majority = 100 * max(sum(golds), n - sum(golds)) / n
    result = replay.replay(data_dir, dataset, limit=n)
    assert result.n == n
    assert result.accuracy > majority
    assert result.fallbacks < n // 4
