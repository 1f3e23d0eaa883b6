"""`reasonkit export`: write a trained model folder in another format (today: Hugging Face Llama)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A reasonkit model folder (config.json, model.safetensors, tokenizer.json).",
)
@click.option(
    "--hf",
    "hf_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder for a Hugging Face Llama checkpoint (loads with AutoModelForCausalLM).",
)
def export(model_dir: Path, hf_dir: Path) -> None:
    """Export MODEL as a Hugging Face checkpoint that `transformers` loads offline."""
    from reasonkit.lm.export_hf import export_hf  # lazy: imports torch

    try:
        out = export_hf(model_dir, hf_dir)
    except (ImportError, FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"exported {model_dir} to {out}")
