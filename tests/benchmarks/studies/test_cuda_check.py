"""The GPU check script, run with the CPU as its device (how it is tested on machines without a GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reasonkit.benchmarks.studies import cuda_check


def test_the_cpu_against_itself_passes_every_check(tiny_model_dir: Path) -> None:
    arguments = ["--model", str(tiny_model_dir), "--device", "cpu", "--scored", "12", "--generated", "3"]
    arguments += ["--size", "tiny", "--batch-size", "2", "--steps", "2"]
    result = CliRunner().invoke(cuda_check.main, arguments)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 4 and all(line.startswith("ok ") for line in lines), result.output
    assert "same answer 12/12, largest score gap 0.0000" in lines[0]
    assert "identical rationales 3/3" in lines[1]
    assert "largest loss gap, resumed vs uninterrupted: 0.00e+00" in lines[3]


def test_a_failed_check_fails_the_run() -> None:
    checks = [cuda_check.Check("a", True, "fine"), cuda_check.Check("b", False, "off by 2")]
    lines: list[str] = []
    assert cuda_check.report(checks, lines.append) is False
    assert lines == ["ok     a: fine", "FAILED b: off by 2"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_names_the_option() -> None:
    result = CliRunner().invoke(cuda_check.main, ["--device", "cuda"])
    assert result.exit_code == 2
    assert "--device" in result.output and "CUDA is not available" in result.output
