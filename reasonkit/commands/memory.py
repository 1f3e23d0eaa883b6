"""`reasonkit memory`: add facts from a JSONL file to a memory store (for the `memory` strategy)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
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
@click.option("--key", "key_field", required=True, help="Field embedded and matched against questions (a.b for nesting).")
@click.option("--value", "value_field", help="Field put into the prompt (default: the key itself).")
@click.option("--limit", type=click.IntRange(min=1), help="First N rows only.")
def memory(store_dir: Path, jsonl_path: Path, key_field: str, value_field: str | None, limit: int | None) -> None:
    """Embed facts (e.g. GenericsKB sentences) into a store that `memory(inner=..., store=STORE)` retrieves from.

    Never add a row of a dev or test set: the store's entries are shown to the model at evaluation time.
    """
    from reasonkit.jsonl import JsonlError, iter_jsonl
    from reasonkit.lm.recipe import get_field
    from reasonkit.strategies.memory_store import MemoryEntry, MemoryStore

    entries = []
    try:
        for number, row in iter_jsonl(jsonl_path):
            if limit is not None and len(entries) >= limit:
                break
            where = f"{jsonl_path}:{number}"
            try:
                key = get_field(row, key_field)
                value = key if value_field is None else get_field(row, value_field)
            except KeyError as error:
                raise click.ClickException(f"{where}: {error.args[0]}") from None
            if not isinstance(key, str) or not isinstance(value, str) or not key.strip() or not value.strip():
                raise click.ClickException(f"{where}: --key and --value must name non-empty text fields")
            entries.append(MemoryEntry(key=key, value=value))
    except JsonlError as error:
        raise click.ClickException(str(error)) from None
    store = MemoryStore(store_dir)
    added = store.add_many(entries)
    store.save()
    click.echo(f"added {added} of {len(entries)} rows to {store_dir} ({len(store)} entries)")
