"""The thread-speed benchmark's plumbing on the tiny model and a tiny workload (no timing is checked)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from reasonkit.benchmarks.studies.thread_speed import Setting, busy_processes, main


def test_each_setting_runs_quiet_and_loaded_with_its_threads_and_wait_policy(tiny_model_dir: Path) -> None:
    args = [
        "--model",
        str(tiny_model_dir),
        "--cot-strategy",
        "cot(shots=0)",
        "--cot-questions",
        "2",
        "--direct-questions",
        "3",
        "--load",
        "1",
        "--load-seconds",
        "120",
        "--setting",
        "2:spin",
        "--setting",
        "1",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = result.stdout.splitlines()[2:]
    rows = {line.split()[0]: line.split() for line in table}
    assert len(result.stderr.splitlines()) == 4  # a progress line per run: 2 settings, quiet and loaded
    assert set(rows) == {"2:spin", "1"}
    assert rows["2:spin"][1] == "2" and rows["2:spin"][-1] == "GOMP_SPINCOUNT=300000"
    assert rows["1"][1] == "1" and rows["1"][-1] == "OMP_WAIT_POLICY=PASSIVE"


def test_busy_processes_run_inside_the_block_and_are_gone_after() -> None:
    with busy_processes(2, seconds=60) as processes:
        assert [process.is_alive() for process in processes] == [True, True]
    assert [process.is_alive() for process in processes] == [False, False]


@pytest.mark.parametrize("text", ["0", "two", "2:passive", "-1:spin"])
def test_a_bad_setting_names_itself(text: str) -> None:
    with pytest.raises(click.BadParameter, match=re.escape(repr(text))):
        Setting.parse(text)


def test_spin_setting_names_openmp_default_and_drops_the_users_wait_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    spin, sleep = Setting.parse("2:spin").env(), Setting.parse("2").env()
    assert spin.get("GOMP_SPINCOUNT") == "300000" and "OMP_WAIT_POLICY" not in spin
    assert "GOMP_SPINCOUNT" not in sleep and "OMP_WAIT_POLICY" not in sleep
