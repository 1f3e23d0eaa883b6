"""`reasonkit --help` lists every command with a summary that reads as a whole phrase."""

from __future__ import annotations

import click

from reasonkit.cli import main


def test_every_command_summary_is_whole() -> None:
    """click cuts a docstring's summary at its first full stop, so "(e.g. ...)" used to list as "(e."."""
    assert isinstance(main, click.Group)
    context = click.Context(main)
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        assert command is not None
        summary = command.get_short_help_str(limit=200)
        assert summary and summary.count("(") == summary.count(")"), (name, summary)
        assert not summary.endswith((" e.", " i.")), (name, summary)


def test_version_is_the_installed_package_version() -> None:
    import importlib.metadata

    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.split()[-1] == importlib.metadata.version("reasonkit")
