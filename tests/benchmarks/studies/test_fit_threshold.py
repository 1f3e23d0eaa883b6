from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from reasonkit.benchmarks.studies.fit_threshold import best_threshold, fit, main
from reasonkit.strategies.memory_store import MemoryEntry, MemoryStore


def test_the_cut_between_the_labels_is_found() -> None:
    threshold, accuracy = best_threshold([0.9, 0.2, 0.7, 0.4], [True, False, True, False])
    assert threshold == pytest.approx(0.55) and accuracy == 1.0


def test_no_signal_falls_back_to_the_majority_class() -> None:
    threshold, accuracy = best_threshold([0.5, 0.5, 0.5], [False, False, True])
    assert threshold > 0.5 and accuracy == pytest.approx(2 / 3)  # everything called false


@given(st.lists(st.tuples(st.floats(-1, 1), st.booleans()), min_size=1, max_size=40))
def test_no_threshold_classifies_better(rows: list[tuple[float, bool]]) -> None:
    values, labels = [v for v, _ in rows], [label for _, label in rows]
    threshold, accuracy = best_threshold(values, labels)
    assert accuracy == sum((v >= threshold) == label for v, label in rows) / len(rows)
    for cut in [*values, 2.0]:
        assert sum((v >= cut) == label for v, label in rows) / len(rows) <= accuracy


def test_fits_on_the_real_encoder(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "store")
    store.add_many(
        MemoryEntry(key=fact, value=fact) for fact in ["Penguins live in Antarctica.", "Milk is white."]
    )
    result = fit(store, ["Penguins live in Antarctica.", "Elections cause volcanoes."], [True, False])
    assert (result.n, result.auc, result.accuracy, result.true_fraction) == (2, 1.0, 1.0, 0.5)


def test_bad_options_are_named(tmp_path: Path) -> None:
    statements = tmp_path / "creak" / "train.jsonl"
    statements.parent.mkdir()
    rows = [
        '{"ex_id": "a", "sentence": "Penguins live in Antarctica.", "label": "true"}',
        '{"ex_id": "b", "sentence": "Elections cause volcanoes.", "label": "false"}',
    ]
    statements.write_text("\n".join(rows) + "\n")
    args = ["--data-dir", str(tmp_path), "--store", str(tmp_path)]
    no_store = CliRunner().invoke(main, [*args, "-b", "creak"])
    assert no_store.exit_code == 2 and "--store" in no_store.output and "reasonkit memory" in no_store.output
    unknown = CliRunner().invoke(main, [*args, "-b", "nope"])
    assert unknown.exit_code == 2 and "unknown benchmark 'nope'" in unknown.output
