"""What constrained decoding costs per generated token, and what counting a shared few-shot prefix once in
the generation batch budget buys, each measured side by side in one run.

Figures: BENCHMARKS.md, "Decoding"; docs/studies/constrained_decoding.md.

    python -m reasonkit.benchmarks.studies.decoding_speed               # bundled model, 20 csqa CoT prompts
    python -m reasonkit.benchmarks.studies.decoding_speed --reps 5 --questions 20

The bundled model and real chain-of-thought prompts (4 exemplars, csqa dev questions from the bundled copy)
are used, since both effects depend on the prompts: the masks on the vocabulary and the automaton's states,
the budget on how long the shared exemplar prefix is. The two sides of each comparison alternate,
repetition by repetition; a ratio is the median of the paired ratios, so machine load hits both alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator

import click
import torch

from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.studies.engine_speed import generated, rates
from reasonkit.lm.engine import Engine, _Prompt
from reasonkit.models import default_model_dir
from reasonkit.protocol import Constraint, GenerationRequest
from reasonkit.strategies import prompts
from reasonkit.strategies.chain_of_thought import ChainOfThought, _option_sentences


class BudgetPerRow(Engine):
    """The engine with the batch budget as it was: a shared prefix counted once per row."""

    def _generation_batches(self, prompts: list[_Prompt]) -> Iterator[list[_Prompt]]:
        batch: list[_Prompt] = []
        rows = 0
        for prompt in sorted(prompts, key=lambda p: len(p.ids), reverse=True):
            if batch:
                width = len(batch[0].ids) + max(prompt.steps, *(p.steps for p in batch)) - 1
                fits = (
                    width <= self.config.block_size
                    and (rows + prompt.request.n) * width <= self.max_batch_tokens
                )
                if not fits:
                    yield batch
                    batch, rows = [], 0
            batch.append(prompt)
            rows += prompt.request.n
        if batch:
            yield batch


def paired(
    name: str, unit: str, old: Callable[[], int], new: Callable[[], int], reps: int, warm_up: bool = True
) -> float:
    """Median rate of each side and the median paired ratio new / old (wall time and process CPU time)."""
    if warm_up:
        old(), new()
    old_runs, new_runs = [], []
    for _ in range(reps):
        old_runs.append(rates(old))
        new_runs.append(rates(new))
    ratio = statistics.median(n[0] / o[0] for o, n in zip(old_runs, new_runs, strict=True))
    cpu = statistics.median(n[1] / o[1] for o, n in zip(old_runs, new_runs, strict=True))
    click.echo(
        f"{name:<58} {statistics.median(r[0] for r in old_runs):8.1f} "
        f"{statistics.median(r[0] for r in new_runs):8.1f} {unit:<9} {ratio:5.2f}x (cpu time {cpu:4.2f}x)"
    )
    return ratio


@click.command()
@click.option("--threads", default=2, show_default=True, help="torch.set_num_threads")
@click.option("--reps", default=3, show_default=True, help="timed repetitions per side (median reported)")
@click.option("--questions", default=20, show_default=True, help="csqa dev questions (one CoT prompt each)")
@click.option("--new-tokens", default=128, show_default=True, help="rationale tokens per prompt")
def main(threads: int, reps: int, questions: int, new_tokens: int) -> None:
    torch.set_num_threads(threads)
    directory = default_model_dir()
    engine = Engine.from_pretrained(directory)
    per_row = BudgetPerRow.from_pretrained(directory)
    cot = ChainOfThought()
    asked = load_questions("csqa")[:questions]
    texts = [cot.build_prompt(q) for q in asked]
    click.echo(f"bundled model, {len(texts)} csqa CoT prompts (4 shots), {threads} threads, median of {reps}")
    click.echo(f"{'':<58} {'before':>8} {'after':>8}")

    rationale = [GenerationRequest(prompt=t, max_tokens=new_tokens, stop=prompts.COT_STOP) for t in texts]
    first = engine.generate(rationale)
    if [r.samples[0].text for r in first] != [r.samples[0].text for r in per_row.generate(rationale)]:
        raise RuntimeError("the two batch budgets gave different generations")
    paired(
        f"{len(texts)} batched CoT rationales, shared prefix counted once",
        "tok/s",
        lambda: generated(per_row.generate(rationale)),
        lambda: generated(engine.generate(rationale)),
        reps,
        warm_up=False,  # the check above ran both sides once
    )

    # the answer step of cot(constrain=True): the option sentences after each rationale
    answer = [
        GenerationRequest(
            prompt=f"{t}{result.samples[0].text.rstrip()} {prompts.ANSWER_PREFIX}",
            max_tokens=max(len(o.encode()) for o in _option_sentences(q)) + 1,
        )
        for t, q, result in zip(texts, asked, first, strict=True)
    ]
    options = [
        r.model_copy(update={"constraint": Constraint(choices=tuple(_option_sentences(q)))})
        for r, q in zip(answer, asked, strict=True)
    ]
    began = time.perf_counter()
    engine.generate(options[:1])
    click.echo(
        f"compiling the first option list over the vocabulary (with the vocabulary): "
        f"{time.perf_counter() - began:.2f} s"
    )
    paired(
        "answer step: option-list constraint vs none (per token)",
        "tok/s",
        lambda: generated(engine.generate(answer)),
        lambda: generated(engine.generate(options)),
        reps,
    )
    free = [r.model_copy(update={"max_tokens": 32}) for r in answer]
    regex = [r.model_copy(update={"constraint": Constraint(regex=r"[^\n]*")}) for r in free]
    paired(
        "32 tokens: regex [^\\n]* constraint vs none (per token)",
        "tok/s",
        lambda: generated(engine.generate(free)),
        lambda: generated(engine.generate(regex)),
        reps,
    )


if __name__ == "__main__":
    main()
