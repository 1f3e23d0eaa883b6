"""`reasonkit memory`: add facts from a JSONL file to a memory store (for the `memory` strategy)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from reasonkit.strategies.memory_store import MemoryEntry, MemoryStore

TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
EMBED_CHUNK = 4096  # rows per encoder call, and per step of the progress bar


@click.command(short_help="Embed facts into a store that the memory strategy retrieves from.")
@click.option(
    "--store",
    "store_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Store folder; created if missing, added to if not.",
)
@click.option(
    "--jsonl",
    "jsonl_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rows to add (.jsonl or .jsonl.gz).",
)
@click.option(
    "--key",
    "key_field",
    required=True,
    help="Field embedded and matched against questions (a.b for nesting), or a template of fields such as "
    "'{words.0}: {gloss}'.",
)
@click.option(
    "--value", "value_field", help="Field or template put into the prompt (default: the key itself)."
)
@click.option("--limit", type=click.IntRange(min=1), help="First N rows only.")
@click.option(
    "--leak-check",
    "leak_recipe",
    help="Recipe (name or .toml) whose [[leak_check]] dev/test questions must not enter the store: a row whose "
    "key is one of them, or whose key and value hold half of one's 8-word phrases, is dropped and counted.",
)
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="With --leak-check: the folder holding the recipe's data (as for `reasonkit train`).",
)
def memory(
    store_dir: Path,
    jsonl_path: Path,
    key_field: str,
    value_field: str | None,
    limit: int | None,
    leak_recipe: str | None,
    data_dir: Path | None,
) -> None:
    """Embed facts (e.g. GenericsKB sentences) into a store that `memory(inner=..., store=STORE)` retrieves from.

    Never add a row of a dev or test set: the store's entries are shown to the model at evaluation time.
    `--leak-check small --data-dir DATA` drops such rows with the training pipeline's own check (ECQA's
    explanations, for one, cover 794 CommonsenseQA dev questions).
    """
    from reasonkit.jsonl import JsonlError, iter_jsonl
    from reasonkit.strategies.memory_store import MemoryEntry, MemoryStore

    if data_dir is not None and leak_recipe is None:
        raise click.UsageError("--data-dir is only used with --leak-check")

    entries: list[MemoryEntry] = []
    lines: list[int] = []
    try:
        for number, row in iter_jsonl(jsonl_path):
            if limit is not None and len(entries) >= limit:
                break
            where = f"{jsonl_path}:{number}"
            try:
                key = fill(row, key_field)
                value = key if value_field is None else fill(row, value_field)
            except KeyError as error:
                raise click.ClickException(f"{where}: {error.args[0]}") from None
            if not isinstance(key, str) or not isinstance(value, str) or not key.strip() or not value.strip():
                raise click.ClickException(f"{where}: --key and --value must name non-empty text fields")
            entries.append(MemoryEntry(key=key, value=value))
            lines.append(number)
    except JsonlError as error:
        raise click.ClickException(str(error)) from None
    if leak_recipe is not None:
        entries = _without_leaks(entries, lines, jsonl_path, leak_recipe, data_dir)
    store = MemoryStore(store_dir)
    added = add_with_progress(store, entries)
    click.echo(f"added {added} of {len(entries)} rows to {store_dir} ({len(store)} entries)")


def add_with_progress(store: MemoryStore, entries: list[MemoryEntry], save_every_s: float = 60.0) -> int:
    """Embed in chunks under a progress bar and save at least every `save_every_s` seconds: embedding a
    hundred thousand rows takes minutes on a CPU, and a run stopped part way is resumed by running the same
    command again (entries already in the store are skipped)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    added = 0
    last_save = time.monotonic()
    columns = [BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("embedding", total=len(entries))
        for start in range(0, len(entries), EMBED_CHUNK):
            chunk = entries[start : start + EMBED_CHUNK]
            added += store.add_many(chunk)
            progress.advance(task, len(chunk))
            if time.monotonic() - last_save >= save_every_s:
                store.save()
                last_save = time.monotonic()
    store.save()
    return added


def fill(row: object, field_or_template: str) -> object:
    """The row's field "a.b", or the template with each "{a.b}" replaced by that field's text."""
    from reasonkit.lm.recipe import get_field

    if "{" not in field_or_template:
        return get_field(row, field_or_template)
    return TEMPLATE_FIELD.sub(lambda match: str(get_field(row, match.group(1))), field_or_template)


def _without_leaks(
    entries: list[MemoryEntry], lines: list[int], jsonl_path: Path, leak_recipe: str, data_dir: Path | None
) -> list[MemoryEntry]:
    """The entries that hold no dev/test question of the recipe's [[leak_check]] files; names the dropped."""
    from reasonkit.lm.data import LeakChecker
    from reasonkit.lm.recipe import RecipeError, load_recipe

    try:
        recipe = load_recipe(leak_recipe, data_dir)
    except (RecipeError, FileNotFoundError) as error:
        raise click.BadParameter(str(error), param_hint="--leak-check") from None
    if not recipe.leak_check:
        raise click.BadParameter(
            f"recipe {recipe.name!r} has no [[leak_check]] files", param_hint="--leak-check"
        )
    checker = LeakChecker.for_recipe(recipe)
    texts = [entry.key if entry.value == entry.key else f"{entry.key}\n{entry.value}" for entry in entries]
    leaks = checker.find_in_texts(texts, [entry.key for entry in entries])
    for leak in leaks[:5]:
        click.echo(f"dropped {jsonl_path}:{lines[leak.doc]}: {checker.describe(leak)}", err=True)
    if leaks:
        click.echo(
            f"dropped {len(leaks)} rows holding dev/test questions of {len(checker.questions)} checked",
            err=True,
        )
    leaking = {leak.doc for leak in leaks}
    return [entry for i, entry in enumerate(entries) if i not in leaking]
