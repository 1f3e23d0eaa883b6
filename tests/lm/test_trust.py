"""Code named by a model folder or a recipe: built-ins by name, anything else only with REASONKIT_TRUST_CODE=1."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from click.testing import CliRunner

from reasonkit.cli import main
from reasonkit.lm import trust
from reasonkit.lm.config import ModelConfig
from reasonkit.lm.model import GPT
from reasonkit.lm.positions import load_scheme
from reasonkit.lm.pretrained import ModelFolderError, load_pretrained, save_pretrained
from reasonkit.lm.recipe import RecipeError, import_formatter, load_recipe
from reasonkit.lm.tokenizer import Tokenizer
from reasonkit.lm.trust import TRUST_CODE_ENV, UntrustedCodeError
from reasonkit.models import load_model

COUPLED = "reasonkit.strategies.arithmetic_positions:coupled_positions"
HOSTILE = """
from pathlib import Path
Path({mark!r}).write_text("imported")

def positions(text):
    return None

def fmt(row):
    return row["answer"]
"""


@pytest.fixture(autouse=True)
def untrusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRUST_CODE_ENV, raising=False)


class Hostile(NamedTuple):
    module: str
    mark: Path  # written when the module is imported


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hostile:
    """A module, importable by name, that leaves a mark when it is imported."""
    mark = tmp_path / "imported.txt"
    name = f"hostile_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(HOSTILE.format(mark=str(mark)))
    monkeypatch.syspath_prepend(str(tmp_path))
    return Hostile(name, mark)


def _folder(tmp_path: Path, scheme: str) -> Path:
    tokenizer = Tokenizer.train(["one two three four five six seven"] * 20, vocab_size=300)
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=300, block_size=16, n_layer=1, n_head=2, n_embd=16, position_scheme=scheme
    )
    return save_pretrained(GPT(config), tokenizer, tmp_path / "model")


def test_a_model_folder_naming_outside_code_is_refused_unless_trusted(
    tmp_path: Path, hostile: Hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = f"{hostile.module}:positions"
    folder = _folder(tmp_path, spec)
    with pytest.raises(ModelFolderError, match=rf"config.json: position_scheme '{spec}'.*{TRUST_CODE_ENV}=1"):
        load_model(str(folder))
    assert not hostile.mark.exists() and hostile.module not in sys.modules
    result = CliRunner().invoke(main, ["ask", "2 + 2?", "--model", str(folder)])
    assert result.exit_code == 2 and TRUST_CODE_ENV in result.output and "Traceback" not in result.output
    assert not hostile.mark.exists()

    monkeypatch.setenv(TRUST_CODE_ENV, "1")
    engine = load_model(str(folder))
    assert hostile.mark.exists() and engine.scheme is not None  # type: ignore[attr-defined]


def test_os_system_as_a_scheme_is_refused() -> None:
    with pytest.raises(UntrustedCodeError, match=f"'os:system'.*{TRUST_CODE_ENV}=1"):
        load_scheme("os:system")


def test_the_built_in_scheme_by_short_name_and_by_its_import_path(tmp_path: Path) -> None:
    short, dotted = load_scheme("coupled"), load_scheme(COUPLED)
    assert short is not None and dotted is not None
    text = "Input: 12 + 7\n"
    assert short.char_positions(text) == dotted.char_positions(text) is not None
    model, _, _ = load_pretrained(_folder(tmp_path, "coupled"))
    assert model.config.position_scheme == "coupled"


RECIPE = """
name = "t"
data_dir = "data"
[tokenizer]
vocab_size = 512
[model]
size = "tiny"
block_size = 64
{model}
[[sources]]
name = "qa"
path = "qa.jsonl"
format = "jsonl"
weight = 1.0
{source}
"""


def _recipe(tmp_path: Path, name: str, model: str = "", source: str = 'field = "answer"') -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "qa.jsonl").write_text('{"answer": "forest"}\n')
    path = tmp_path / f"{name}.toml"
    path.write_text(RECIPE.format(model=model, source=source))
    return path


def test_a_recipe_naming_outside_code_is_refused_unless_trusted(
    tmp_path: Path, hostile: Hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    formatter = _recipe(tmp_path, "formatter", source=f'formatter = "{hostile.module}:fmt"')
    with pytest.raises(RecipeError, match=rf"formatter '{hostile.module}:fmt'.*{TRUST_CODE_ENV}=1"):
        load_recipe(formatter)
    scheme = _recipe(tmp_path, "scheme", model=f'position_scheme = "{hostile.module}:positions"')
    with pytest.raises(RecipeError, match=rf"position_scheme.*{TRUST_CODE_ENV}=1"):
        load_recipe(scheme)
    generator = _recipe(
        tmp_path,
        "generator",
        source=f'format = "generated"\ngenerator = "{hostile.module}:fmt"\nfield = "answer"',
    )
    generator.write_text(generator.read_text().replace('path = "qa.jsonl"\nformat = "jsonl"\n', ""))
    with pytest.raises(RecipeError, match=rf"generator '{hostile.module}:fmt'.*{TRUST_CODE_ENV}=1"):
        load_recipe(generator)
    assert not hostile.mark.exists()

    monkeypatch.setenv(TRUST_CODE_ENV, "1")
    assert load_recipe(formatter).sources[0].formatter == f"{hostile.module}:fmt"
    assert hostile.mark.exists()


def test_a_recipe_may_name_the_built_in_scheme_by_its_short_name(tmp_path: Path) -> None:
    assert (
        load_recipe(_recipe(tmp_path, "coupled", model='position_scheme = "coupled"')).position_scheme
        == "coupled"
    )


def test_fine_tuning_a_folder_that_names_outside_code_is_refused(tmp_path: Path, hostile: Hostile) -> None:
    folder = _folder(tmp_path, f"{hostile.module}:positions")
    path = _recipe(tmp_path, "finetune")
    text = path.read_text().replace(
        '[tokenizer]\nvocab_size = 512\n[model]\nsize = "tiny"\nblock_size = 64\n', ""
    )
    path.write_text(f'init_from = "{folder}"\n' + text)
    with pytest.raises(RecipeError, match=rf"init_from.*position_scheme.*{TRUST_CODE_ENV}=1"):
        load_recipe(path)
    assert not hostile.mark.exists()


def test_every_built_in_imports_and_every_shipped_recipe_names_only_built_ins() -> None:
    """Shipped recipes load without the opt-in (the data folder is not needed to check their code)."""
    for role, specs in trust.BUILT_IN.items():
        for spec in specs:
            import_formatter(spec, role)  # raises when it does not import or is not callable
    root = Path(__file__).resolve().parents[2] / "lm" / "recipes"
    for path in sorted(root.glob("*.toml")):
        raw = tomllib.loads(path.read_text())
        for source in raw.get("sources", []):
            for role in ("formatter", "generator"):
                if role in source:
                    trust.resolve_code(source[role], role)
        scheme = raw.get("model", {}).get("position_scheme")
        if scheme is not None:
            trust.resolve_code(scheme, "position_scheme")
