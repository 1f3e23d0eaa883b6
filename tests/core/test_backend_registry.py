"""The backend layer: one registry (decorator + entry points), one spec language, `reasonkit list`."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reasonkit.backends import registry
from reasonkit.backends.registry import (
    BackendSpecError,
    Capabilities,
    available_backends,
    build_backend,
    parse_backend_spec,
    register_backend,
)
from reasonkit.cli import main
from reasonkit.fake import FakeLM
from reasonkit.models import load_model
from reasonkit.protocol import LanguageModel


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in backends plus what a test registers; no installed plugins."""
    builtins = {name: info for name, info in available_backends().items() if info.origin == "built-in"}
    monkeypatch.setattr(registry, "_state", registry._new_state(entries=builtins, builtins_loaded=True))
    use_entry_points(monkeypatch, [])


def use_entry_points(
    monkeypatch: pytest.MonkeyPatch, points: Sequence[importlib.metadata.EntryPoint]
) -> None:
    real = importlib.metadata.entry_points

    def entry_points(**selection: str) -> object:
        return points if selection.get("group") == registry.ENTRY_POINT_GROUP else real(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


class Echo(FakeLM):
    """A backend built from a spec: remembers what it was given."""

    def __init__(self, target: str | None, options: dict[str, Any]) -> None:
        super().__init__()
        self.target, self.options = target, options


def fake_backend(target: str | None, *, width: int = 4, label: str = "x") -> LanguageModel:
    """A test backend with typed options."""
    return Echo(target, {"width": width, "label": label})


@pytest.mark.parametrize(
    ("spec", "backend", "target", "options"),
    [
        (None, "native", None, {}),
        ("default", "native", None, {}),
        ("models/mine", "native", "models/mine", {}),
        ("C:/models/mine", "native", "C:/models/mine", {}),
        ("native:models/mine", "native", "models/mine", {}),
        ("hf:gpt2", "hf", "gpt2", {}),
        (
            "openai:http://127.0.0.1:8000/v1?model=m&max_concurrency=3",
            "openai",
            "http://127.0.0.1:8000/v1",
            {"model": "m", "max_concurrency": "3"},
        ),
        (
            "openai(target='http://h/v1', model='m', max_concurrency=3)",
            "openai",
            "http://h/v1",
            {"model": "m", "max_concurrency": 3},
        ),
    ],
)
def test_specs_name_a_backend_its_target_and_options(
    spec: str | None, backend: str, target: str | None, options: dict[str, Any]
) -> None:
    parsed = parse_backend_spec(spec)
    assert (parsed.backend, parsed.target, parsed.options) == (backend, target, options)


def test_a_registered_backend_is_built_from_both_spec_forms_with_typed_options() -> None:
    register_backend("toy", usage="toy:NAME", capabilities=Capabilities(scoring=False))(fake_backend)
    lm = load_model("toy:alpha?width=8")
    assert isinstance(lm, Echo) and (lm.target, lm.options) == ("alpha", {"width": 8, "label": "x"})
    lm = build_backend("toy(target='beta', label='y')")
    assert isinstance(lm, Echo) and (lm.target, lm.options) == ("beta", {"width": 4, "label": "y"})
    assert available_backends()["toy"].origin == "user"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "toy:a?width=wide",
            r"model spec 'toy:a\?width=wide' \(backend 'toy'\): option 'width': Input should be a "
            r"valid integer",
        ),
        ("toy:a?colour=red", r"no option 'colour' \(options: width, label\)"),
        ("toy:a?width=1&width=2", r"option 'width' is given twice"),
        ("toy(target=1)", r"target must be a string"),
        ("toy(width=open('x'))", r"option 'width': \"open\('x'\)\" is not a literal"),
    ],
)
def test_bad_options_fail_with_one_line_naming_the_option(spec: str, message: str) -> None:
    register_backend("toy")(fake_backend)
    with pytest.raises(BackendSpecError, match=message) as caught:
        build_backend(spec)
    assert "\n" not in str(caught.value)


def test_unknown_backends_get_suggestions() -> None:
    with pytest.raises(BackendSpecError, match=r"unknown backend 'opnai'; did you mean 'openai'"):
        registry.get_backend("opnai")
    with pytest.raises(FileNotFoundError, match=r"no such folder.*openai:URL\?model=NAME"):
        load_model("opnai:http://x/v1")  # not a backend name: a folder that does not exist


def test_plugins_register_through_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    good = importlib.metadata.EntryPoint("toy", f"{__name__}:fake_backend", registry.ENTRY_POINT_GROUP)
    broken = importlib.metadata.EntryPoint(
        "broken", "no_such_module_here:factory", registry.ENTRY_POINT_GROUP
    )
    use_entry_points(monkeypatch, [good, broken])
    lm = load_model("toy:gamma")
    assert isinstance(lm, Echo) and lm.target == "gamma"
    assert available_backends()["toy"].origin == "plugin"
    with pytest.raises(BackendSpecError, match=r"backend 'broken': entry point .* failed to load"):
        registry.get_backend("broken")


def test_two_backends_cannot_share_a_name() -> None:
    with pytest.raises(ValueError, match="backend name 'openai' is taken"):
        register_backend("openai")(fake_backend)


def test_the_native_backend_still_loads_model_folders(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="a model is a folder"):
        (tmp_path / "file").write_text("")
        load_model(str(tmp_path / "file"))


def test_list_shows_every_backend_and_what_it_supports() -> None:
    register_backend("toy", usage="toy:NAME", capabilities=Capabilities(scoring=False, seeds=False))(
        fake_backend
    )
    result = CliRunner().invoke(main, ["list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    section = result.output[result.output.index("models (") :]
    rows = {
        cells[2]: cells[2:9]
        for line in section.splitlines()
        if line.startswith("│") and (cells := [c.strip() for c in line.split("│")])[2]
    }
    assert set(rows) == set(available_backends()) == {"native", "hf", "openai", "toy"}
    for name, info in available_backends().items():
        can = info.capabilities
        flags = [can.scoring, can.generation, can.n_samples, can.seeds]
        assert rows[name] == [name, info.origin, rows[name][2], *["yes" if f else "no" for f in flags]]
    assert rows["toy"][3:] == ["no", "yes", "yes", "no"]
