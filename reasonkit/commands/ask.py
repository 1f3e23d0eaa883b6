"""`reasonkit ask`: answer one question with a strategy and show how (every LM call, every step)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from reasonkit.types import LMCall, Prediction, Question, Trace


@click.command()
@click.argument("question")
@click.option(
    "--option", "options", multiple=True, help="An answer option; repeat for each (multiple choice)."
)
@click.option("--binary", is_flag=True, help="The question is a true/false statement.")
@click.option(
    "--strategy", "spec", default="direct", show_default=True, help="Strategy spec, e.g. 'cot(shots=5)'."
)
@click.option("--model", default=None, help="Model folder, 'default', or hf:NAME.  [default: default]")
@click.option(
    "--cache", type=click.Path(dir_okay=False, path_type=Path), default=None, help="sqlite LM cache file."
)
@click.option("--device", default=None, help="Torch device for the model, e.g. cuda.")
@click.option("--truncation", type=click.Choice(["error", "left"]), default="error", show_default=True,
              help="A prompt longer than the model's window: fail, or drop its oldest tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print the prediction with its trace as JSON.")
def ask(
    question: str,
    options: tuple[str, ...],
    binary: bool,
    spec: str,
    model: str | None,
    cache: Path | None,
    device: str | None,
    truncation: str,
    as_json: bool,
) -> None:
    """Answer QUESTION and print the trace: multiple choice with --option (twice or more), a true/false
    statement with --binary, otherwise a free-form question (e.g. arithmetic for the scratchpad)."""
    from reasonkit.batching import QuestionError
    from reasonkit.models import load_model
    from reasonkit.protocol import ContextWindowError
    from reasonkit.registry import StrategySpecError, build_strategy

    if binary and options:
        raise click.UsageError("give --option (multiple choice) or --binary (true/false), not both")
    kind = "multiple_choice" if options else "binary" if binary else "free_form"
    try:
        q = Question(id="cli", text=question, kind=kind, options=options or None)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="QUESTION / --option") from error
    try:
        strategy = build_strategy(spec)
    except StrategySpecError as error:
        raise click.BadParameter(str(error), param_hint="--strategy") from error
    try:
        lm = load_model(model, cache=cache, truncation=truncation, **({"device": device} if device else {}))
    except (FileNotFoundError, NotADirectoryError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="--model") from error
    try:
        prediction = strategy.run(q, lm)
    except QuestionError as error:
        if isinstance(error.__cause__, ContextWindowError):
            raise click.ClickException(
                f"the question does not fit the model's context window with strategy {spec!r} "
                f"({error.__cause__}); rerun with --truncation left, or a strategy with fewer shots"
            ) from error
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(prediction.model_dump_json(indent=2))
        return
    console = Console()
    console.print(render_prediction(q, prediction))
    stats = getattr(lm, "stats", None)
    if callable(stats):
        s = stats()
        console.print(f"[dim]cache {s.path}: {s.hits} hits, {s.misses} misses, {s.entries} entries[/dim]")


def render_prediction(question: Question, prediction: Prediction) -> RenderableType:
    table = Table(show_header=True, box=None)
    table.add_column("")
    table.add_column("choice")
    table.add_column("score", justify="right")
    for index, label in enumerate(question.choices):
        chosen = prediction.answer is not None and question.answer_of(index) == prediction.answer
        score = prediction.scores.get(label)
        table.add_row("→" if chosen else "", escape(label), "" if score is None else f"{score:.4g}")
    answer = "abstained" if prediction.abstained else escape(str(prediction.answer))
    confidence = "" if prediction.confidence is None else f"  confidence {prediction.confidence:.3f}"
    parts: list[RenderableType] = [Text(question.text)]
    if question.choices:
        parts.append(table)
    parts.append(Text.from_markup(f"[bold]answer:[/bold] {answer}{confidence}"))
    head = Panel(Group(*parts), title=f"{question.kind.replace('_', ' ')} question")
    return Group(head, render_trace(prediction.trace))


def render_trace(trace: Trace, label: str = "trace") -> Tree:
    root = Tree(f"[bold]{label}[/bold]: {escape(trace.strategy or '?')}")
    for note in trace.notes:
        root.add(f"[italic]{escape(note)}[/italic]")
    steps = {k: v for k, v in trace.steps.items() if k != "tree"}
    if steps:
        node = root.add("[bold]steps[/bold]")
        for key, value in steps.items():
            node.add(Text(f"{key}: {_short_json(value)}"))
    if isinstance(trace.steps.get("tree"), dict):
        root.add(node_link_tree(trace.steps["tree"]))
    if trace.calls:
        calls = root.add(f"[bold]LM calls[/bold] ({len(trace.calls)})")
        for number, call in enumerate(trace.calls, 1):
            calls.add(render_call(number, call))
    for index, child in enumerate(trace.children):
        root.add(render_trace(child, label=f"child {index}"))
    return root


def render_call(number: int, call: LMCall) -> Tree:
    cached = " [green]cached[/green]" if call.cached else ""
    node = Tree(f"#{number} [cyan]{call.kind}[/cyan]{cached} [dim]{call.latency_s * 1000:.1f} ms[/dim]")
    request, output = call.request, call.output
    if call.kind == "loglikelihood":
        node.add(Text.assemble(("context: ", "dim"), request.get("context", "")))
        node.add(Text.assemble(("continuation: ", "dim"), request.get("continuation", "")))
        node.add(
            Text(f"logprob {output.get('logprob', float('nan')):.4f} over {output.get('n_tokens')} tokens")
        )
    else:
        params = {k: v for k, v in request.items() if k != "prompt"}
        node.add(Text.assemble(("prompt: ", "dim"), request.get("prompt", "")))
        node.add(Text(_short_json(params), style="dim"))
        for index, sample in enumerate(output.get("samples", [])):
            node.add(
                Text.assemble(
                    (f"sample {index} ({sample.get('finish_reason')}): ", "dim"), sample.get("text", "")
                )
            )
    return node


def node_link_tree(data: dict[str, Any]) -> Tree:
    """A networkx node-link graph (edges under "edges" or "links") as a rich Tree from its roots."""
    nodes = {node["id"]: node for node in data.get("nodes", [])}
    children: dict[Any, list[Any]] = {key: [] for key in nodes}
    has_parent: set[Any] = set()
    for edge in data.get("edges", data.get("links", [])):
        children.setdefault(edge["source"], []).append(edge["target"])
        has_parent.add(edge["target"])
    tree = Tree(f"[bold]tree[/bold] ({len(nodes)} nodes)")
    seen: set[Any] = set()

    def add(parent: Tree, key: Any) -> None:
        if key in seen:
            parent.add(f"{escape(str(key))} (seen above)")
            return
        seen.add(key)
        attrs = {k: v for k, v in nodes.get(key, {}).items() if k != "id"}
        text = attrs.pop("text", attrs.pop("label", ""))
        extra = f"  {_short_json(attrs)}" if attrs else ""
        branch = parent.add(
            Text.assemble((f"{key}", "bold"), ": " if text else "", str(text), (extra, "dim"))
        )
        for child in children.get(key, []):
            add(branch, child)

    for key in [k for k in nodes if k not in has_parent] or list(nodes)[:1]:
        add(tree, key)
    return tree


def _short_json(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
