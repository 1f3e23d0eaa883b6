"""Training recipes: a TOML file naming the corpus mixture, tokenizer, model size and optimiser settings.

Everything a run needs is validated here, before any work starts, with messages that name the recipe
file, the table and the key (or the source and the resolved data file) that is wrong.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.resources
import json
import math
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reasonkit.atomic import read_utf8, sha256_file
from reasonkit.datasets import DatasetSpecError, available_datasets, get_dataset
from reasonkit.jsonl import iter_jsonl
from reasonkit.lm.config import ModelConfig, SizeName, config_for_size, read_saved_config, verify_checksums
from reasonkit.lm.tokenizer import MIN_VOCAB_SIZE
from reasonkit.lm.trust import resolve_code

BUILTIN = "builtin"
SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the file and the key or data file at fault."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenizerSection(_Strict):
    vocab_size: int = Field(8192, ge=MIN_VOCAB_SIZE, le=65535, description="uint16 token shards")
    sample_chars: int = Field(2_000_000, ge=1, description="characters per source used to train the BPE")


class ModelSection(_Strict):
    size: SizeName = "tiny"
    block_size: int | None = None
    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    mlp_multiple_of: int | None = None
    rope_theta: float | None = None
    norm_eps: float | None = None
    init_std: float | None = None
    position_scheme: str | None = Field(
        None,
        description="'coupled' or 'package.module:function': position ids from the text's structure "
        "(lm/positions.py; code outside reasonkit only with REASONKIT_TRUST_CODE=1, lm/trust.py)",
    )

    @model_validator(mode="after")
    def _check_scheme(self) -> ModelSection:
        if self.position_scheme is not None:
            import_formatter(self.position_scheme, "position_scheme")
        return self

    def to_config(self, vocab_size: int) -> ModelConfig:
        overrides = self.model_dump(exclude={"size"}, exclude_none=True)
        return config_for_size(self.size, vocab_size, **overrides)


class TrainSection(_Strict):
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(16, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(3e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    warmup_steps: int = Field(100, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    grad_clip: float = Field(1.0, ge=0, description="0 disables clipping")
    eval_interval: int = Field(100, ge=1)
    eval_batches: int = Field(8, ge=1)
    checkpoint_interval: int = Field(500, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "fp32", "bf16"] = "auto"
    compile: Literal["auto"] | bool = "auto"


class Source(_Strict):
    """One corpus of the mixture. jsonl rows become text through exactly one of template / formatter / field."""

    name: str
    path: str = Field("", description="text / jsonl: file under the data folder; empty for generated sources")
    format: Literal["text", "jsonl", "generated"]
    weight: float = Field(gt=0)
    generator: str | None = Field(
        None, description="generated: 'package.module:function', (**generator_args) -> rows (dicts)"
    )
    generator_args: dict[str, Any] = Field(default_factory=dict)
    doc_separator: str = Field("\n\n", min_length=1, description="text: documents are split on this")
    template: str | None = Field(None, description="jsonl: Python str.format over the row")
    formatter: str | None = Field(None, description="jsonl: 'package.module:function', row -> str | None")
    field: str | None = Field(None, description="jsonl: dotted path of a field holding the text")
    question_field: str | None = Field(None, description="dotted path of the question, for the leak check")
    drop_eval_overlap: bool = False
    loss_after: str | None = Field(
        None,
        min_length=1,
        description="train only on what follows this text's last occurrence in each document (the "
        "completion; the end-of-text after it counts too); a document without it is an error",
    )

    @model_validator(mode="after")
    def _check_shape(self) -> Source:
        if not SOURCE_NAME.match(self.name):
            raise ValueError(
                f"name {self.name!r} must be letters, digits, '_', '.', '-' (it names cache files)"
            )
        given = [key for key in ("template", "formatter", "field") if getattr(self, key) is not None]
        if self.format in ("jsonl", "generated") and len(given) != 1:
            raise ValueError(
                f"a {self.format} source needs exactly one of template / formatter / field, got {given or 'none'}"
            )
        if (self.format == "generated") != (self.generator is not None):
            raise ValueError(
                "'generator' is required by, and only allowed on, a source with format = 'generated'"
            )
        if (self.format == "generated") == bool(self.path):
            raise ValueError("a generated source takes no 'path'; text and jsonl sources need one")
        if self.generator_args and self.format != "generated":
            raise ValueError("'generator_args' is only allowed on a generated source")
        if self.format == "text" and (given or self.question_field):
            raise ValueError(
                f"a text source takes no {given + (['question_field'] if self.question_field else [])}"
            )
        return self


class LeakCheck(_Strict):
    """An evaluation file whose questions must never appear in the training text."""

    path: str
    question_field: str
    id_field: str | None = Field(None, description="dotted path of the question id; line number when absent")


def dataset_leak_checks(names: Literal["all"] | list[str]) -> list[LeakCheck]:
    """A [[leak_check]] for every held-out (dev/test) file of the named datasets' specs (`reasonkit.datasets`),
    in the order the datasets were registered; "all": every registered dataset."""
    specs = list(available_datasets().values()) if names == "all" else [get_dataset(name) for name in names]
    return [
        LeakCheck(path=file.path, question_field=spec.fields.question, id_field=spec.fields.id)
        for spec in specs
        for file in spec.held_out.values()
    ]


class Recipe(_Strict):
    name: str
    data_dir: str = Field(BUILTIN, description="after load_recipe: the resolved absolute folder")
    seed: int = 0
    tokenizer: TokenizerSection = TokenizerSection()
    model: ModelSection = ModelSection()
    train: TrainSection = TrainSection()
    sources: list[Source] = Field(min_length=1)
    leak_check: list[LeakCheck] = []
    leak_check_datasets: Literal["all"] | list[str] = Field(
        [],
        description="datasets (reasonkit.datasets) whose every dev/test file is a [[leak_check]], listed before "
        "the recipe's own; 'all': every registered dataset",
    )
    leak_check_suites: list[str] = Field(
        [],
        description="synthetic suites (reasonkit.benchmarks.synthetic) whose evaluation splits (every split but "
        "train, drawn at the seed `reasonkit bench` evaluates) must never appear in training",
    )
    mixture_from: str | None = Field(
        None,
        description="another recipe (a shipped name or a path) whose [[sources]] and [[leak_check]] this one "
        "trains on, e.g. a second stage on the first stage's mixture; load_recipe copies them in",
    )
    init_from: str | None = Field(
        None,
        description="fine-tuning: a model folder ('default': the embedded model) whose tokenizer, config and "
        "weights start the run; after load_recipe, the resolved absolute folder",
    )
    init_weights_sha256: str | None = Field(None, description="set by load_recipe: the init weights' hash")

    @model_validator(mode="before")
    @classmethod
    def _expand_leak_check_datasets(cls, data: Any) -> Any:
        """The datasets' leak checks become [[leak_check]] entries (a file named twice is checked once)."""
        if not isinstance(data, dict) or not data.get("leak_check_datasets"):
            return data
        names = data["leak_check_datasets"]
        if names != "all" and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            return data  # the field's own validation names what is wrong
        try:
            checks = [check.model_dump() for check in dataset_leak_checks(names)]
        except DatasetSpecError as error:
            raise ValueError(f"leak_check_datasets: {error}") from None
        own = data.get("leak_check", [])
        if not isinstance(own, list):
            return data
        merged: dict[Any, Any] = {}
        for check in [*checks, *own]:
            key = check.get("path") if isinstance(check, dict) else id(check)
            merged.setdefault(key, check)
        return {**data, "leak_check": list(merged.values())}

    @field_validator("leak_check_suites")
    @classmethod
    def _known_suites(cls, names: list[str]) -> list[str]:
        from reasonkit.benchmarks.synthetic import suites

        unknown = sorted(set(names) - set(suites()))
        if unknown:
            raise ValueError(f"no synthetic suite {', '.join(unknown)}; known: {', '.join(sorted(suites()))}")
        return names

    @model_validator(mode="after")
    def _check_init(self) -> Recipe:
        """A fine-tune keeps the init model's tokenizer and architecture; it may count positions anew."""
        if self.init_from is None:
            return self
        given = sorted({"model", "tokenizer"} & self.model_fields_set)
        if "model" in given and self.model.model_fields_set <= {"position_scheme"}:
            given.remove("model")
        if given:
            tables = " and ".join(f"[{name}]" for name in given)
            raise ValueError(
                f"init_from takes the model and tokenizer from {self.init_from!r}; remove {tables} "
                "([model] may set position_scheme only)"
            )
        return self

    @model_validator(mode="after")
    def _check_model(self) -> Recipe:
        try:
            self.model.to_config(self.tokenizer.vocab_size)
        except ValidationError as error:
            details = "; ".join(
                f"{'.'.join(map(str, item['loc'])) or 'config'}: {item['msg'].removeprefix('Value error, ')}"
                for item in error.errors()
            )
            raise ValueError(f"[model] gives an invalid model config: {details}") from None
        return self

    @model_validator(mode="after")
    def _check_mixture(self) -> Recipe:
        names = [source.name for source in self.sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {duplicates}")
        total = math.fsum(source.weight for source in self.sources)
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            weights = ", ".join(f"{source.name}={source.weight:g}" for source in self.sources)
            raise ValueError(f"source weights must sum to 1, they sum to {total:.6g} ({weights})")
        return self

    @property
    def data_root(self) -> Path:
        return Path(self.data_dir)

    @property
    def init_dir(self) -> Path | None:
        return None if self.init_from is None else Path(self.init_from)

    def architecture(self, vocab_size: int) -> ModelConfig:
        """The [model] section's config, or the init model's own when fine-tuning (with the fine-tune's
        position scheme where [model] sets one)."""
        if self.init_dir is None:
            return self.model.to_config(vocab_size)
        saved = _saved_config(self.init_dir)
        if "position_scheme" not in self.model.model_fields_set:
            return saved
        return ModelConfig.model_validate(
            {**saved.model_dump(), "position_scheme": self.model.position_scheme}
        )

    @property
    def position_scheme(self) -> str | None:
        """How the run counts positions: [model]'s scheme, or the init model's own when fine-tuning."""
        return self.architecture(self.tokenizer.vocab_size).position_scheme

    def source_path(self, source: Source) -> Path:
        return self.data_root / source.path

    def leak_path(self, check: LeakCheck) -> Path:
        return self.data_root / check.path

    @property
    def fingerprint(self) -> str:
        """Hash of the normalised recipe, for caches and resume checks.

        The data folder's location is left out (moving the data, or a different --data-dir holding the same
        files, is the same recipe); the data pipeline hashes the files' content itself. So is the init model's
        folder: its weights' hash stands for it; and leak_check_datasets: the [[leak_check]] entries it
        expands to stand for it (a recipe that lists those itself is the same recipe)."""
        content = self.model_dump(mode="json", exclude={"data_dir", "init_from", "leak_check_datasets"})
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# ---- helpers shared with the data pipeline -------------------------------------------------------------


def get_field(row: Any, dotted: str) -> Any:
    """`row["question"]["stem"]` for "question.stem"; KeyError naming the missing part."""
    value = row
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(f"field {dotted!r} has no part {part!r}")
    return value


def import_formatter(spec: str, role: str = "formatter") -> Callable[..., Any]:
    """The callable named 'package.module:function' (formatters and generators of recipe sources, position
    schemes); anything but reasonkit's built-ins only with the user's opt-in (`reasonkit.lm.trust`)."""
    module_name, _, attr = resolve_code(spec, role).partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{role} {spec!r} cannot be imported ({type(error).__name__}: {error})") from error
    if not callable(function):
        raise ValueError(f"{role} {spec!r} is not callable")
    return function


@functools.cache
def _generate(generator: str, args_json: str) -> tuple[dict[str, Any], ...]:
    rows = tuple(import_formatter(generator, "generator")(**json.loads(args_json)))
    if not all(isinstance(row, dict) for row in rows):
        raise ValueError(f"generator {generator!r} must return dicts (rows)")
    return rows


def generated_rows(source: Source) -> tuple[dict[str, Any], ...]:
    """The rows of a generated source (computed once per process)."""
    assert source.generator is not None
    try:
        return _generate(source.generator, json.dumps(source.generator_args, sort_keys=True))
    except TypeError as error:
        raise ValueError(f"generator {source.generator!r} rejects generator_args: {error}") from error


def render_row(
    source: Source, row: dict[str, Any], formatter: Callable[[dict[str, Any]], str | None] | None
) -> str | None:
    """The training text of one jsonl row (None drops the row)."""
    if source.template is not None:
        return source.template.format(**row)
    if formatter is not None:
        return formatter(row)
    value = get_field(row, source.field or "")
    return value if isinstance(value, str) else str(value)


# ---- loading and validation ----------------------------------------------------------------------------


def load_recipe(name_or_path: str | Path, data_dir: str | Path | None = None) -> Recipe:
    """Load and fully validate a recipe.

    A bare name ("tiny", "small") is a recipe shipped in the package; anything else is a path. The data
    folder is `data_dir` when given (relative to the working directory), else the recipe's `data_dir`:
    "builtin" is the package's corpora folder, a relative path resolves against the recipe file's folder
    (against the working directory for a shipped recipe, whose folder is inside the installed package).
    """
    text, label, base, builtin = _read_recipe_text(name_or_path)
    raw = _parse_toml(text, label)
    if "mixture_from" in raw:
        raw = _with_mixture(raw, base, label)
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as error:
        lines = [f"{label}: {_render_error(item, raw)}" for item in error.errors()]
        raise RecipeError("\n".join(lines)) from None
    root = _resolve_data_dir(recipe.data_dir, data_dir, base, builtin, label)
    recipe = recipe.model_copy(update={"data_dir": str(root)})
    if recipe.init_from is not None:
        init = _resolve_init_dir(recipe.init_from, base, label)
        recipe = recipe.model_copy(
            update={"init_from": str(init), "init_weights_sha256": sha256_file(init / "model.safetensors")}
        )
    problems = _check_files(recipe)
    if problems:
        raise RecipeError("\n".join(f"{label}: {problem}" for problem in problems))
    return recipe


def _with_mixture(raw: dict[str, Any], base: Path, label: str) -> dict[str, Any]:
    """`raw` with the [[sources]] and leak checks (tables, datasets, suites) of the recipe its mixture_from names."""
    declared = raw["mixture_from"]
    own = [f"[[{table}]]" for table in ("sources", "leak_check") if table in raw]
    own += [key for key in ("leak_check_datasets", "leak_check_suites") if key in raw]
    if own:
        raise RecipeError(
            f"{label}: mixture_from = {declared!r} brings the sources and leak checks; remove {' and '.join(own)}"
        )
    if not isinstance(declared, str):
        raise RecipeError(f"{label}: mixture_from must be a recipe name or path, got {declared!r}")
    name_or_path = (
        declared if re.fullmatch(r"[A-Za-z0-9_-]+", declared) else base / Path(declared).expanduser()
    )
    try:
        text, other, _, _ = _read_recipe_text(name_or_path)
        mixture = _parse_toml(text, other)
    except RecipeError as error:
        raise RecipeError(f"{label}: mixture_from = {declared!r}: {error}") from None
    if "mixture_from" in mixture:
        raise RecipeError(
            f"{label}: mixture_from = {declared!r}: {other} takes its own mixture from another recipe"
        )
    return {
        **raw,
        "sources": mixture.get("sources", []),
        "leak_check": mixture.get("leak_check", []),
        "leak_check_datasets": mixture.get("leak_check_datasets", []),
        "leak_check_suites": mixture.get("leak_check_suites", []),
    }


def _read_recipe_text(name_or_path: str | Path) -> tuple[str, str, Path, bool]:
    """(toml text, label for messages, folder that relative paths resolve against, shipped?)."""
    if isinstance(name_or_path, str) and re.fullmatch(r"[A-Za-z0-9_-]+", name_or_path):
        resource = importlib.resources.files("reasonkit.lm") / "recipes" / f"{name_or_path}.toml"
        if not resource.is_file():
            shipped = sorted(
                item.name.removesuffix(".toml")
                for item in (importlib.resources.files("reasonkit.lm") / "recipes").iterdir()
                if item.name.endswith(".toml")
            )
            raise RecipeError(
                f"no shipped recipe named {name_or_path!r}; choose one of {shipped} or give a path"
            )
        return resource.read_text(encoding="utf-8"), f"{name_or_path}.toml", Path.cwd(), True
    path = Path(name_or_path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        text = read_utf8(path)
    except ValueError as error:
        raise RecipeError(str(error)) from None
    return text, str(path), path.resolve().parent, False


def _parse_toml(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{label}: invalid TOML: {error}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise RecipeError(f"{label}: invalid TOML: arrays or tables nested too deeply") from None


def _saved_config(folder: Path) -> ModelConfig:
    """The architecture in a model folder's config.json (as `save_pretrained` writes it)."""
    return read_saved_config(folder / "config.json").model


def _resolve_init_dir(declared: str, base: Path, label: str) -> Path:
    """'default' is the embedded model; a relative folder resolves like data_dir. Its files must match their
    checksums, and its position scheme, if any, be one the user may import (the run counts with it)."""
    if declared == "default":
        folder = Path(str(importlib.resources.files("reasonkit.lm") / "default_model"))
    else:
        folder = (base / Path(declared).expanduser()).resolve()
    files = ("config.json", "model.safetensors", "tokenizer.json")
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise RecipeError(
            f"{label}: init_from = {declared!r}: {folder} is not a model folder "
            f"({', '.join(missing)} missing)"
        )
    try:
        saved = read_saved_config(folder / "config.json")
        verify_checksums(folder, saved)
        if saved.model.position_scheme is not None:
            resolve_code(saved.model.position_scheme, "position_scheme")
    except ValueError as error:  # a malformed config.json, a file that fails its checksum, untrusted code
        raise RecipeError(f"{label}: init_from = {declared!r}: {error}") from None
    return folder


def _resolve_data_dir(
    declared: str, override: str | Path | None, base: Path, builtin: bool, label: str
) -> Path:
    if override is not None:
        root, origin = Path(override).expanduser().resolve(), f"--data-dir {override}"
    elif declared == BUILTIN:
        root, origin = (
            Path(str(importlib.resources.files("reasonkit.lm") / "corpora")),
            "data_dir = 'builtin'",
        )
    else:
        root, origin = (base / Path(declared).expanduser()).resolve(), f"data_dir = {declared!r}"
    if not root.is_dir():
        if override is not None:
            raise RecipeError(f"{label}: data folder {root} ({origin}) does not exist")
        where = "the working directory" if builtin else "the recipe's folder"
        raise RecipeError(
            f"{label}: data folder {root} ({origin}, relative to {where}) does not exist "
            "(pass --data-dir /path/to/data, see the recipe's header)"
        )
    return root


def _check_files(recipe: Recipe) -> list[str]:
    problems: list[str] = []
    for source in recipe.sources:
        path = recipe.source_path(source)
        where = f"source {source.name!r}"
        if source.format == "generated":
            try:
                rows = generated_rows(source)
            except ValueError as error:
                problems.append(f"{where}: {error}")
                continue
            if not rows:
                problems.append(f"{where}: generator {source.generator!r} gave no rows")
                continue
            problems.extend(f"{where}: {problem}" for problem in _check_row(source, rows[0], path))
            continue
        if not path.is_file():
            problems.append(f"{where}: data file not found: {path}")
            continue
        if source.format == "text":
            continue
        try:
            row = first_jsonl_row(path)
        except ValueError as error:
            problems.append(f"{where}: {error}")
            continue
        problems.extend(f"{where}: {problem}" for problem in _check_row(source, row, path))
    for check in recipe.leak_check:
        path = recipe.leak_path(check)
        where = f"[[leak_check]] {check.path!r}"
        if not path.is_file():
            problems.append(f"{where}: eval file not found: {path}")
            continue
        try:
            row = first_jsonl_row(path)
        except ValueError as error:
            problems.append(f"{where}: {error}")
            continue
        for key in ("question_field", "id_field"):
            dotted = getattr(check, key)
            if dotted is not None:
                try:
                    get_field(row, dotted)
                except KeyError:
                    problems.append(f"{where}: {key} {dotted!r} is not in the first row of {path}")
    return problems


def _check_row(source: Source, row: dict[str, Any], path: Path) -> list[str]:
    problems: list[str] = []
    formatter = None
    if source.formatter is not None:
        try:
            formatter = import_formatter(source.formatter)
        except ValueError as error:
            return [str(error)]
    try:
        text = render_row(source, row, formatter)
    except (KeyError, IndexError, AttributeError, TypeError, ValueError) as error:
        key = "template" if source.template is not None else "formatter" if formatter else "field"
        problems.append(f"{key} fails on the first row of {path}: {type(error).__name__} {error}")
    else:
        if text is not None and not isinstance(text, str):
            problems.append(
                f"formatter returned {type(text).__name__}, not str or None, on the first row of {path}"
            )
    if source.question_field is not None:
        try:
            get_field(row, source.question_field)
        except KeyError:
            problems.append(f"question_field {source.question_field!r} is not in the first row of {path}")
    return problems


def first_jsonl_row(path: Path) -> dict[str, Any]:
    for _, row in iter_jsonl(path):
        return row
    raise ValueError(f"{path}: no rows")


_TABLES = ("tokenizer", "model", "train")


def _render_error(error: Any, raw: dict[str, Any]) -> str:
    """One pydantic error as 'where: what', with TOML tables instead of pydantic's loc tuples."""
    loc = [part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-after"))]
    where, rest = "", loc
    if loc and loc[0] in _TABLES:
        where, rest = f"[{loc[0]}] ", loc[1:]
    elif loc and loc[0] in ("sources", "leak_check") and len(loc) > 1 and isinstance(loc[1], int):
        entry = raw.get(loc[0], [])[loc[1]]
        label = entry.get("name") or entry.get("path") if isinstance(entry, dict) else None
        where = f"[[{loc[0]}]] #{loc[1] + 1}" + (f" ({label})" if label else "") + " "
        rest = loc[2:]
    key = ".".join(str(part) for part in rest)
    if error["type"] == "extra_forbidden":
        return f"{where}unknown key {key!r}"
    if error["type"] == "missing":
        return f"{where}missing key {key!r}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}{key + ': ' if key else ''}{message}".strip()
