"""`reasonkit serve`: any model behind an OpenAI-compatible HTTP API (FastAPI + uvicorn)."""

from __future__ import annotations

import os

import click

from reasonkit.protocol import MAX_SAMPLES

API_KEY_ENV = "REASONKIT_API_KEY"


@click.command()
@click.option(
    "--model",
    "model_spec",
    default=None,
    help="Model spec: default (the bundled model), a model folder, hf:NAME, openai:URL?model=NAME, or any backend `reasonkit list` shows.",
)
@click.option("--model-name", default=None, help="The name clients ask for (default: the model spec).")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 exposes the server."
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--device", default=None, help="Torch device for the model, e.g. cuda.")
@click.option(
    "--truncation",
    type=click.Choice(["error", "left"]),
    default="error",
    show_default=True,
    help="A prompt over the model's window: answer 400, or drop its oldest tokens.",
)
@click.option(
    "--api-key",
    default=None,
    help=f"Require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV} if set, else no key).",
)
@click.option(
    "--max-n",
    type=click.IntRange(1, MAX_SAMPLES),
    default=MAX_SAMPLES,
    show_default=True,
    help="Most samples per prompt (each holds a KV cache of its whole context).",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Most new tokens per sample.",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Most requests per model call.",
)
@click.option("--access-log", is_flag=True, help="Log every request.")
def serve(
    model_spec: str | None,
    model_name: str | None,
    host: str,
    port: int,
    device: str | None,
    truncation: str,
    api_key: str | None,
    max_n: int,
    max_tokens: int,
    max_batch: int,
    access_log: bool,
) -> None:
    """Serve a model at /v1/models, /v1/completions and /v1/chat/completions (OpenAI's API); concurrent
    requests are batched into the model together."""
    try:
        import uvicorn

        from reasonkit.serve.app import ServeSettings, create_app
    except ImportError as error:
        raise click.UsageError(
            f"`reasonkit serve` needs the serve extra: pip install 'reasonkit[serve]' ({error})"
        ) from error
    from reasonkit.commands.bench import load_lm

    options = {"truncation": truncation, **({"device": device} if device else {})}
    lm = load_lm(model_spec, None, options)
    settings = ServeSettings(
        model_name=model_name or model_spec or "default",
        api_key=api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None,
        max_n=max_n,
        max_tokens=max_tokens,
        max_batch=max_batch,
    )
    app = create_app(lm, settings)
    click.echo(f"serving {settings.model_name!r} at http://{host}:{port}/v1", err=True)
    uvicorn.run(
        app, host=host, port=port, access_log=access_log, log_level="info" if access_log else "warning"
    )
