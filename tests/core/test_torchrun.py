"""The one torchrun helper (training and bench): one process without torchrun, and a step rank 0 fails
stopping every rank under the real launcher."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from reasonkit.torchrun import PeerFailed, process_group


class Refused(RuntimeError):
    pass


def refuse() -> None:
    raise Refused("the folder is in use")


def test_one_process_without_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with process_group() as context:
        assert (context.rank, context.world_size, context.is_main, context.is_distributed) == (
            0,
            1,
            True,
            False,
        )
        assert context.device is None and context.device_name("cuda") == "cuda"
        with pytest.raises(Refused, match="the folder is in use"):
            context.on_rank_zero(refuse, (Refused,))
        context.barrier()
        assert context.mean(torch.tensor(3.0)).item() == 3.0
    with process_group("cpu") as placed:
        assert placed.device == torch.device("cpu")


WORKER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import torch
    from reasonkit.torchrun import PeerFailed, process_group

    class Refused(RuntimeError):
        pass

    def refuse():
        raise Refused("the folder is in use")

    with process_group(backend="gloo") as context:
        try:
            context.on_rank_zero(refuse, (Refused,))
            outcome = "went on"
        except Refused as error:
            outcome = f"Refused: {error}"
        except PeerFailed as error:
            outcome = f"PeerFailed: {error}"
        mean = context.mean(torch.tensor(float(context.rank))).item()
        report = {"outcome": outcome, "device": context.device_name("cuda"), "world": context.world_size,
                  "mean": mean}
        Path(sys.argv[1], f"rank{context.rank}.json").write_text(json.dumps(report))
""")


def test_a_step_rank_zero_fails_stops_every_rank_under_torchrun(tmp_path: Path) -> None:
    (tmp_path / "worker.py").write_text(WORKER)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(tmp_path / "worker.py"),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [report["outcome"] for report in reports] == [
        "Refused: the folder is in use",
        "PeerFailed: the folder is in use",
    ]
    assert [report["device"] for report in reports] == ["cuda:0", "cuda:1"]
    assert [report["world"] for report in reports] == [2, 2] and [report["mean"] for report in reports] == [
        0.5,
        0.5,
    ]
    assert issubclass(PeerFailed, RuntimeError)
