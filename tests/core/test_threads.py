"""Torch CPU threads: `--threads` / `reasonkit.set_threads` reach torch, and idle OpenMP threads sleep.

The spinning default made the Quick start's command 5-10 times slower beside other busy processes (issue 23).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch
from click.testing import CliRunner

import reasonkit
from reasonkit.cli import main

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


@pytest.fixture
def restore_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.mark.usefixtures("restore_threads")
def test_threads_option_reaches_torch() -> None:
    result = CliRunner().invoke(main, ["--threads", "3", "list"])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 3


@pytest.mark.usefixtures("restore_threads")
def test_without_threads_option_torch_keeps_its_count() -> None:
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("restore_threads")
def test_set_threads_in_the_python_api() -> None:
    reasonkit.set_threads(1)
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_bad_threads_option_is_a_usage_error(bad: str) -> None:
    result = CliRunner().invoke(main, ["--threads", bad, "list"])
    assert result.exit_code == 2
    assert "--threads" in result.output and "Traceback" not in result.output


def test_set_threads_rejects_zero() -> None:
    with pytest.raises(ValueError, match="threads: 0"):
        reasonkit.set_threads(0)


def wait_policy_after_import(extra_env: dict[str, str]) -> str:
    env = {key: value for key, value in os.environ.items() if key not in WAIT_VARIABLES} | extra_env
    code = "import os, reasonkit; print(os.environ.get('OMP_WAIT_POLICY', '-'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_importing_reasonkit_asks_openmp_to_sleep_when_idle() -> None:
    assert wait_policy_after_import({}) == "PASSIVE"


@pytest.mark.parametrize(
    "user_env", [{"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "1000"}, {"KMP_BLOCKTIME": "1"}]
)
def test_a_wait_setting_of_the_user_wins(user_env: dict[str, str]) -> None:
    assert wait_policy_after_import(user_env) == user_env.get("OMP_WAIT_POLICY", "-")
