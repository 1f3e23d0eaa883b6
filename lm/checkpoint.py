"""Training checkpoints: a folder with weights, optimizer moments and a JSON state, swapped in atomically.

Layout of `<dir>/`:
  model.safetensors      parameters by name
  optimizer.safetensors  AdamW `<name>.exp_avg`, `<name>.exp_avg_sq`, `<name>.step` per parameter
  state.json             step, tokens seen, RNG states, recipe fingerprint, model config, sha256 of both files,
                         and a sha256 of its own content (an edited step is refused, not resumed from)

Nothing is ever unpickled. A checkpoint is built in a temporary folder beside the target, fsynced, and
renamed into place, so `<dir>` is always either the previous complete checkpoint or the new one.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from reasonkit import __version__
from reasonkit.atomic import sha256_file

logger = logging.getLogger(__name__)

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
FORMAT_VERSION = 2  # 2: state.json carries state_sha256
_MOMENTS = ("exp_avg", "exp_avg_sq", "step")


class CheckpointError(Exception):
    """A checkpoint is missing, incomplete, corrupted, or belongs to another recipe."""


class NumpyRngState(BaseModel):
    kind: str
    keys: list[int]
    pos: int
    has_gauss: int
    cached_gaussian: float


class RngState(BaseModel):
    """Every random generator a training step may touch, in JSON-safe form."""

    torch_cpu: str  # base64 of torch.get_rng_state()
    torch_cuda: list[str] | None = None  # base64 per CUDA device
    python: list[Any]  # random.getstate() as nested lists
    numpy: NumpyRngState


class CheckpointState(BaseModel):
    """Contents of state.json."""

    format_version: int = FORMAT_VERSION
    step: int  # optimizer steps completed; also the data position
    tokens_seen: int
    data_position: int
    recipe_fingerprint: str
    model: dict[str, Any]  # ModelConfig.model_dump()
    rng: RngState
    sha256: dict[str, str]
    package_version: str = __version__
    torch_version: str = torch.__version__
    extra: dict[str, Any] = {}
    state_sha256: str | None = None  # of every other field, as `_state_digest` serialises them

    def with_digest(self) -> CheckpointState:
        return self.model_copy(update={"state_sha256": _state_digest(self)})


def _state_digest(state: CheckpointState) -> str:
    return hashlib.sha256(state.model_dump_json(exclude={"state_sha256"}).encode()).hexdigest()


def _b64(tensor: torch.Tensor) -> str:
    return base64.b64encode(tensor.cpu().numpy().tobytes()).decode("ascii")


def _unb64(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def capture_rng() -> RngState:
    version, internal, gauss_next = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    cuda = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = [_b64(state) for state in torch.cuda.get_rng_state_all()]
    return RngState(
        torch_cpu=_b64(torch.get_rng_state()),
        torch_cuda=cuda,
        python=[version, list(internal), gauss_next],
        numpy=NumpyRngState(
            kind=kind,
            keys=keys.tolist(),
            pos=int(pos),
            has_gauss=int(has_gauss),
            cached_gaussian=float(cached),
        ),
    )


def restore_rng(state: RngState) -> None:
    torch.set_rng_state(_unb64(state.torch_cpu))
    if state.torch_cuda is not None and torch.cuda.is_available():
        if len(state.torch_cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([_unb64(s) for s in state.torch_cuda])
        else:
            logger.warning(
                "checkpoint holds CUDA RNG states for %d devices, this machine has %d; CUDA RNG not restored",
                len(state.torch_cuda),
                torch.cuda.device_count(),
            )
    version, internal, gauss_next = state.python
    random.setstate((version, tuple(internal), gauss_next))
    n = state.numpy
    np.random.set_state((n.kind, np.asarray(n.keys, dtype=np.uint32), n.pos, n.has_gauss, n.cached_gaussian))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _old_path(directory: Path) -> Path:
    return directory.with_name(f".{directory.name}.old")


def _optimizer_tensors(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for name, param in model.named_parameters():
        state = optimizer.state.get(param, {})
        for key in _MOMENTS:
            if key in state:
                value = state[key]
                value = value if isinstance(value, torch.Tensor) else torch.tensor(float(value))
                tensors[f"{name}.{key}"] = value.detach().cpu().contiguous()
    return tensors


def save_checkpoint(
    directory: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    step: int,
    tokens_seen: int,
    recipe_fingerprint: str,
    model_config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a complete checkpoint to `directory`, replacing the previous one atomically.

    `model` must be the plain module (not DDP- or compile-wrapped) so parameter names are stable.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    old = _old_path(directory)
    if not directory.exists() and old.is_dir():
        os.replace(old, directory)  # a crash between the two renames below: the old one is complete
    for stale in directory.parent.glob(f".{directory.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)

    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp-"))
    try:
        weights = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
        save_file(weights, str(tmp / MODEL_FILE), metadata={"format": "pt"})
        save_file(_optimizer_tensors(model, optimizer), str(tmp / OPTIMIZER_FILE), metadata={"format": "pt"})
        state = CheckpointState(
            step=step,
            tokens_seen=tokens_seen,
            data_position=step,
            recipe_fingerprint=recipe_fingerprint,
            model=model_config,
            rng=capture_rng(),
            sha256={name: sha256_file(tmp / name) for name in (MODEL_FILE, OPTIMIZER_FILE)},
            extra=extra or {},
        ).with_digest()
        (tmp / STATE_FILE).write_text(state.model_dump_json(indent=1))
        for name in (MODEL_FILE, OPTIMIZER_FILE, STATE_FILE):
            _fsync(tmp / name)
        _fsync(tmp)
        if directory.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(directory, old)
        os.replace(tmp, directory)
        _fsync(directory.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    logger.info("checkpoint at step %d written to %s", step, directory)
    return directory


def resolve_checkpoint(directory: str | Path) -> Path:
    """The folder to load: `directory`, or the complete previous one if a save died mid-swap."""
    directory = Path(directory)
    if directory.is_dir():
        return directory
    old = _old_path(directory)
    if old.is_dir():
        logger.warning("%s is missing; using %s left by an interrupted save", directory, old)
        return old
    raise CheckpointError(f"{directory}: no checkpoint there (nothing to resume from)")


def read_state(directory: str | Path, recipe_fingerprint: str | None = None) -> CheckpointState:
    """Parse state.json and verify both safetensors files against their recorded sha256.

    With `recipe_fingerprint`, also check that the checkpoint was written for that recipe.
    """
    directory = resolve_checkpoint(directory)
    state_path = directory / STATE_FILE
    if not state_path.is_file():
        raise CheckpointError(f"{state_path}: missing; the checkpoint is incomplete")
    try:
        state = CheckpointState.model_validate_json(state_path.read_bytes())
    except ValidationError as error:
        raise CheckpointError(f"{state_path}: unreadable or invalid checkpoint state: {error}") from error
    if state.format_version not in (1, FORMAT_VERSION):
        raise CheckpointError(
            f"{state_path}: checkpoint format {state.format_version}, this version reads 1 and {FORMAT_VERSION}"
        )
    if state.format_version == 1:
        logger.warning(
            "%s: written before state checksums (format 1); its step and RNG state are not verified",
            state_path,
        )
    elif state.state_sha256 != _state_digest(state):
        raise CheckpointError(
            f"{state_path}: sha256 mismatch (the state was edited or corrupted): expected {state.state_sha256}, "
            f"found {_state_digest(state)}"
        )
    if recipe_fingerprint is not None and state.recipe_fingerprint != recipe_fingerprint:
        raise CheckpointError(
            f"{state_path}: recipe fingerprint mismatch: checkpoint was written for "
            f"{state.recipe_fingerprint}, this run's recipe is {recipe_fingerprint}"
        )
    for name in (MODEL_FILE, OPTIMIZER_FILE):
        path = directory / name
        if not path.is_file():
            raise CheckpointError(f"{path}: missing; the checkpoint is incomplete")
        expected = state.sha256.get(name)
        if expected is None:
            raise CheckpointError(f"{state_path}: no sha256 recorded for {name}")
        actual = sha256_file(path)
        if actual != expected:
            raise CheckpointError(
                f"{path}: sha256 mismatch (file is truncated or modified): expected {expected}, found {actual}"
            )
    return state


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path}: unreadable safetensors file ({error})") from error


def load_checkpoint(
    directory: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    recipe_fingerprint: str,
    restore_rng_state: bool = True,
) -> CheckpointState:
    """Restore weights, optimizer moments and RNG states in place; return the checkpoint's state.

    `optimizer` must be freshly built over `model`'s parameters, in the same way as when saving.
    """
    directory = resolve_checkpoint(directory)
    state = read_state(directory, recipe_fingerprint)

    weights_path = directory / MODEL_FILE
    weights = _load_tensors(weights_path)
    expected = set(model.state_dict())
    if set(weights) != expected:
        raise CheckpointError(
            f"{weights_path}: tensors do not match the model "
            f"(missing {sorted(expected - set(weights))}, unexpected {sorted(set(weights) - expected)})"
        )
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise CheckpointError(f"{weights_path}: {error}") from error

    optimizer_path = directory / OPTIMIZER_FILE
    moments = _load_tensors(optimizer_path)
    names = {id(p): n for n, p in model.named_parameters()}
    packed = optimizer.state_dict()
    new_state: dict[int, dict[str, torch.Tensor]] = {}
    used: set[str] = set()
    for group in packed["param_groups"]:
        for index, param in zip(group["params"], _group_params(optimizer, group["params"]), strict=True):
            name = names.get(id(param))
            if name is None:
                raise CheckpointError(
                    f"{optimizer_path}: optimizer holds a parameter the model does not name"
                )
            keys = [f"{name}.{key}" for key in _MOMENTS]
            present = [key in moments for key in keys]
            if any(present) and not all(present):
                raise CheckpointError(f"{optimizer_path}: incomplete AdamW state for parameter {name}")
            if all(present):
                new_state[index] = {key: moments[f"{name}.{key}"] for key in _MOMENTS}
                used.update(keys)
    if set(moments) - used:
        raise CheckpointError(f"{optimizer_path}: unexpected tensors {sorted(set(moments) - used)}")
    packed["state"] = new_state
    try:
        optimizer.load_state_dict(packed)
    except (RuntimeError, ValueError) as error:
        raise CheckpointError(f"{optimizer_path}: {error}") from error

    if restore_rng_state:
        restore_rng(state.rng)
    logger.info("resumed from %s at step %d", directory, state.step)
    return state


def _group_params(optimizer: torch.optim.Optimizer, indices: list[int]) -> list[nn.Parameter]:
    """The parameters behind the integer ids `optimizer.state_dict()` gives a group's params."""
    flat = [p for group in optimizer.param_groups for p in group["params"]]
    return [flat[i] for i in indices]
