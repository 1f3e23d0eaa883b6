"""`reasonkit ask`: answer one question with a strategy and show how (every LM call, every step)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
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
@click.option(
    "--truncation",
    type=click.Choice(["error", "left"]),
    default="error",
    show_default=True,
    help="A prompt longer than the model's window: fail, or drop its oldest tokens.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the prediction with its trace as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print the answer only, no trace.")
@click.option(
    "--calls",
    "shown_calls",
    default="3",
    show_default=True,
    callback=lambda ctx, param, value: _calls(value),
    help="How many LM calls to print in full (a number, or 'all'); the rest are counted.",
)
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
    quiet: bool,
    shown_calls: int | None,
) -> None:
    """Answer QUESTION and print the trace: multiple choice with --option (twice or more), a true/false
    statement with --binary, otherwise a free-form question (e.g. arithmetic for the scratchpad)."""
    from reasonkit.driver import QuestionError
    from reasonkit.models import load_model
    from reasonkit.protocol import ContextWindowError
    from reasonkit.registry import StrategySpecError, build_strategy

    if binary and options:
        raise click.UsageError("give --option (multiple choice) or --binary (true/false), not both")
    kind = "multiple_choice" if options else "binary" if binary else "free_form"
    try:
        q = Question(id="cli", text=question, kind=kind, options=options or None)
    except ValidationError as error:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
        raise click.BadParameter(problems, param_hint="QUESTION / --option") from error
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
    except QuestionError as error:  # e.g. a custom strategy that answers with an option's text
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
    if quiet:
        console.print(answer_line(q, prediction))
        return
    console.print(render_prediction(q, prediction, shown_calls))
    stats = getattr(lm, "stats", None)
    if callable(stats):
        s = stats()
        console.print(f"[dim]cache {s.path}: {s.hits} hits, {s.misses} misses, {s.entries} entries[/dim]")


def _calls(value: str) -> int | None:
    """`--calls`: a count of calls to print in full, or None for all of them."""
    if value.strip().lower() == "all":
        return None
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise click.BadParameter(f"expected a number of calls or 'all', got {value!r}", param_hint="--calls")
    return count


def answer_line(question: Question, prediction: Prediction) -> Text:
    """`answer: 0 (cupboard)`: the answer as the strategy gave it and, for an option index, its text."""
    if prediction.abstained:
        answer = "abstained"
    elif question.options is not None:
        answer = f"{prediction.answer} ({question.answer_text(prediction.answer)})"
    else:
        answer = str(prediction.answer)
    confidence = "" if prediction.confidence is None else f"  confidence {prediction.confidence:.3f}"
    return Text.assemble(("answer:", "bold"), f" {answer}{confidence}")


def render_prediction(
    question: Question, prediction: Prediction, shown_calls: int | None = None
) -> RenderableType:
    table = Table(show_header=True, box=None)
    table.add_column("")
    table.add_column("choice")
    table.add_column("score", justify="right")
    for index, label in enumerate(question.choices):
        chosen = prediction.answer is not None and question.answer_of(index) == prediction.answer
        score = prediction.scores.get(label)
        table.add_row("→" if chosen else "", escape(label), "" if score is None else f"{score:.4g}")
    parts: list[RenderableType] = [Text(question.text)]
    if question.choices:
        parts.append(table)
    parts.append(answer_line(question, prediction))
    head = Panel(Group(*parts), title=f"{question.kind.replace('_', ' ')} question")
    budget = [sys.maxsize if shown_calls is None else shown_calls]
    return Group(head, render_trace(prediction.trace, budget=budget))


def render_trace(trace: Trace, label: str = "trace", budget: list[int] | None = None) -> Tree:
    """The trace as a tree: notes, steps (node-link graphs drawn as trees), then LM calls, printed in full
    while `budget[0]` (shared with the children) lasts and counted after that."""
    budget = [sys.maxsize] if budget is None else budget
    root = Tree(f"[bold]{label}[/bold]: {escape(trace.strategy or '?')}")
    for note in trace.notes:
        root.add(f"[italic]{escape(note)}[/italic]")
    graphs = {k: v for k, v in trace.steps.items() if _is_node_link(v)}
    steps = {k: v for k, v in trace.steps.items() if k not in graphs}
    if steps:
        node = root.add("[bold]steps[/bold]")
        for key, value in steps.items():
            node.add(Text(f"{key}: {_short_json(value)}"))
    for key, graph in graphs.items():
        root.add(node_link_tree(graph, key))
    if trace.calls:
        calls = root.add(f"[bold]LM calls[/bold] ({len(trace.calls)})")
        shown = min(budget[0], len(trace.calls))
        for number, call in enumerate(trace.calls[:shown], 1):
            calls.add(render_call(number, call))
        budget[0] -= shown
        if shown < len(trace.calls):
            calls.add(f"[dim]… {len(trace.calls) - shown} more not shown (--calls all prints them)[/dim]")
    for index, child in enumerate(trace.children):
        root.add(render_trace(child, label=f"child {index}", budget=budget))
    return root


def _is_node_link(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("nodes"), list)
        and ("edges" in value or "links" in value)
    )


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


def node_link_tree(data: dict[str, Any], label: str = "tree") -> Tree:
    """A networkx node-link graph (edges under "edges" or "links") as a rich Tree from its roots."""
    nodes = {node["id"]: node for node in data.get("nodes", [])}
    children: dict[Any, list[Any]] = {key: [] for key in nodes}
    has_parent: set[Any] = set()
    for edge in data.get("edges", data.get("links", [])):
        children.setdefault(edge["source"], []).append(edge["target"])
        has_parent.add(edge["target"])
    tree = Tree(f"[bold]{escape(label)}[/bold] ({len(nodes)} nodes)")
    seen: set[Any] = set()

    def add(parent: Tree, key: Any) -> None:
        if key in seen:
            parent.add(f"{escape(str(key))} (seen above)")
            return
        seen.add(key)
        attrs = {k: v for k, v in nodes.get(key, {}).items() if k != "id"}
        text = attrs.pop("text", attrs.pop("label", ""))
        extra = f"  {_short_json(_rounded(attrs))}" if attrs else ""
        branch = parent.add(
            Text.assemble((f"{key}", "bold"), ": " if text else "", str(text), (extra, "dim"))
        )
        for child in children.get(key, []):
            add(branch, child)

    for key in [k for k in nodes if k not in has_parent] or list(nodes)[:1]:
        add(tree, key)
    return tree


def _rounded(value: Any) -> Any:
    """Floats to 3 decimals (beliefs read as 0.774, not 0.7737323542232188), inside lists and dicts too."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value


def _short_json(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
