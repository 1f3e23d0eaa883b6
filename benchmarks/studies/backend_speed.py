"""How fast the `hf:` backend is beside the native engine on the same weights, and what its shared-context
scoring and shared-prefix generation buy, each measured side by side in one run.

    python -m reasonkit.benchmarks.studies.backend_speed                 # 100 csqa direct, 20 CoT prompts
    python -m reasonkit.benchmarks.studies.backend_speed --questions 100 --reps 3 --cot 20

The bundled model is exported to a temporary Hugging Face folder (`reasonkit export`) and loaded by the
`hf:` backend, so both sides compute the same function. "hf, before" is the backend as it was: scoring one
right-padded row per (context, option) pair with logits at every position, and generation prefilling every
prompt whole. The sides alternate, repetition by repetition; a ratio is the median of the paired ratios
(wall time and process CPU time), so machine load hits every side alike. Predictions and generated texts
are checked to be identical before anything is timed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import torch

from reasonkit.backends.hf import HFLanguageModel, _Piece
from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.studies.backend_parity import predictions
from reasonkit.benchmarks.studies.engine_speed import generated
from reasonkit.decoding import DecodeRow
from reasonkit.lm.engine import Engine
from reasonkit.lm.export_hf import export_hf
from reasonkit.models import default_model_dir
from reasonkit.protocol import GenerationRequest, LanguageModel, LoglikelihoodResult
from reasonkit.strategies import prompts
from reasonkit.strategies.chain_of_thought import ChainOfThought


class HFBefore(HFLanguageModel):
    """The `hf:` backend as it was: one row per pair with every position's logits, and no shared prefix."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._last_logits_only = {}

    def _score_batches(
        self, by_context: dict[tuple[int, ...], list[int]], pairs: list[tuple[list[int], list[int]]]
    ) -> Iterator[list[list[int]]]:
        order = sorted(
            (i for group in by_context.values() for i in group), key=lambda i: -sum(map(len, pairs[i]))
        )
        for start in range(0, len(order), self.batch_size):
            yield [[i] for i in order[start : start + self.batch_size]]

    def _score_batch(
        self, groups: list[list[int]], pairs: list[tuple[list[int], list[int]]]
    ) -> list[tuple[int, LoglikelihoodResult]]:
        members = [i for (i,) in groups]
        inputs = [(pairs[i][0] + pairs[i][1])[:-1] for i in members]
        width = max(map(len, inputs))
        ids = torch.full((len(inputs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(inputs), width), dtype=torch.long)
        for row, row_ids in enumerate(inputs):
            ids[row, : len(row_ids)] = torch.tensor(row_ids)
            mask[row, : len(row_ids)] = 1
        logits = self.model(input_ids=ids, attention_mask=mask).logits
        out = []
        for row, i in enumerate(members):
            context, continuation = pairs[i]
            scores = logits[row, len(context) - 1 : len(context) - 1 + len(continuation)].float()
            targets = torch.tensor(continuation)
            logprob = (scores.gather(-1, targets[:, None]).squeeze(-1) - scores.logsumexp(dim=-1)).sum()
            greedy = bool((scores.argmax(dim=-1) == targets).all())
            out.append(
                (i, LoglikelihoodResult(logprob=float(logprob), n_tokens=len(continuation), is_greedy=greedy))
            )
        return out

    def _generate_batch(self, pieces: list[_Piece]) -> list[DecodeRow]:
        return self._generate_rows(pieces, shared=0)


def timed(sides: dict[str, Callable[[], object]], reps: int) -> dict[str, list[tuple[float, float]]]:
    """(wall s, CPU s) of each side per repetition, the sides alternating."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for _ in range(reps):
        for name, run in sides.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            runs[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return runs


def report(title: str, runs: dict[str, list[tuple[float, float]]], pairs: list[tuple[str, str]]) -> None:
    click.echo(title)
    for name, times in runs.items():
        click.echo(
            f"  {name:<12} wall {statistics.median(t[0] for t in times):7.2f} s   "
            f"cpu {statistics.median(t[1] for t in times):7.2f} s"
        )
    for slow, fast in pairs:
        wall = statistics.median(s[0] / f[0] for s, f in zip(runs[slow], runs[fast], strict=True))
        cpu = statistics.median(s[1] / f[1] for s, f in zip(runs[slow], runs[fast], strict=True))
        click.echo(f"  {slow} / {fast}: {wall:.2f}x wall, {cpu:.2f}x cpu time")


@click.command()
@click.option("--threads", default=2, show_default=True, help="torch.set_num_threads")
@click.option("--reps", default=3, show_default=True, help="timed repetitions per side (median reported)")
@click.option("--questions", default=100, show_default=True, help="csqa dev questions for `direct`")
@click.option("--cot", "n_cot", default=20, show_default=True, help="csqa CoT prompts generated as one batch")
@click.option("--new-tokens", default=128, show_default=True, help="rationale tokens per CoT prompt")
def main(threads: int, reps: int, questions: int, n_cot: int, new_tokens: int) -> None:
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        export_hf(default_model_dir(), Path(tmp) / "hf")
        sides: dict[str, LanguageModel] = {
            "native": Engine.from_pretrained(default_model_dir()),
            "hf": HFLanguageModel(Path(tmp) / "hf"),
            "hf, before": HFBefore(Path(tmp) / "hf"),
        }
    click.echo(f"bundled model, {threads} threads, median of {reps}; hf batch_size 16 (its default)")

    asked = load_questions("csqa")[:questions]
    answers = {name: [p.answer for p in predictions("direct", asked, lm)] for name, lm in sides.items()}
    if len({tuple(a) for a in answers.values()}) != 1:
        raise RuntimeError(f"the backends answered differently: {answers}")
    runs = timed({name: lambda lm=lm: predictions("direct", asked, lm) for name, lm in sides.items()}, reps)
    report(
        f"direct on {len(asked)} csqa dev questions (identical predictions)",
        runs,
        [("hf, before", "native"), ("hf", "native"), ("hf, before", "hf")],
    )

    cot = ChainOfThought()
    rationale = [
        GenerationRequest(prompt=cot.build_prompt(q), max_tokens=new_tokens, stop=prompts.COT_STOP)
        for q in load_questions("csqa")[:n_cot]
    ]
    texts = {name: [r.samples[0].text for r in lm.generate(rationale)] for name, lm in sides.items()}
    if len({tuple(t) for t in texts.values()}) != 1:
        raise RuntimeError("the backends generated different rationales")
    tokens = generated(sides["native"].generate(rationale))
    runs = timed({name: lambda lm=lm: lm.generate(rationale) for name, lm in sides.items()}, reps)
    report(
        f"{len(rationale)} csqa CoT rationales (4 shots) as one generate call, {tokens} tokens (identical texts)",
        runs,
        [("hf, before", "native"), ("hf", "native"), ("hf, before", "hf")],
    )


if __name__ == "__main__":
    main()
