"""`--strategy-config` files a user gets wrong: one-line errors naming the file, never a traceback."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from reasonkit.commands.bench import strategy_specs


def test_a_config_that_is_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_bytes(b'[[strategy]]\nname = "direct"\n\n[[strategy]]\nname = "caf\xe9"\n')
    with pytest.raises(click.BadParameter, match=rf"^{config}:5: not UTF-8 text$"):
        strategy_specs((), config)


def test_a_config_nested_too_deeply_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text('[[strategy]]\nname = "cot"\nx = ' + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(click.BadParameter, match=rf"^{config}: nested too deeply to read$"):
        strategy_specs((), config)
