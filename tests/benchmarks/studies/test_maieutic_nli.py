"""The NLI probe: a confusion table of the relation scorer's labels, on pairs about names the drills never use."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reasonkit.benchmarks.studies.maieutic_nli import TRAINED_PAIRS, confusion, main, unseen_drill_pairs
from reasonkit.benchmarks.synthetic.consistency import nli_drill_rows


def test_confusion_counts_each_expected_label_against_each_prediction() -> None:
    table = confusion(
        ["entail", "entail", "neutral", "contradict"], ["entail", "contradict", "entail", "entail"]
    )
    lines = table.splitlines()
    assert lines[2] == "| entail | 1 | 0 | 1 | 50% |"
    assert lines[3] == "| neutral | 1 | 0 | 0 | 0% |"
    assert lines[4] == "| contradict | 1 | 0 | 0 | 0% |"


def test_the_probe_pairs_are_none_of_the_pairs_a_recipe_trains_on() -> None:
    trained = nli_drill_rows(n_pairs=TRAINED_PAIRS)
    names = {str(r["premise"]).split()[0] for r in trained}
    probe = unseen_drill_pairs(200, seed=0)
    assert len(probe) == 200 and not {str(r["premise"]).split()[0] for r in probe} & names
    assert {r["label"] for r in probe} == {"entail", "neutral", "contradict"}


def test_the_probe_runs_on_the_real_tiny_model(tiny_model_dir: Path) -> None:
    result = CliRunner().invoke(main, ["--model", str(tiny_model_dir), "-n", "6"])
    assert result.exit_code == 0, result.output
    assert result.output.count("| expected \\ predicted |") == 2
