"""Reports over run folders: a markdown table, PNG plots, and a self-contained HTML page of traces.

Every accuracy carries a bootstrap 95% interval; each benchmark gets chance and majority-class rows, and
each strategy a paired comparison against `direct` (or the first strategy) on the same questions. A question
that could not be run counts as wrong in accuracy (so a strategy gains nothing by failing on hard questions)
and is shown in the errors column; paired comparisons use only the questions both runs answered. A run that
stopped early shows how many of its questions it holds ("142 of 1838").
"""

from __future__ import annotations

import base64
import html
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field  # noqa: E402

from reasonkit.atomic import atomic_write_bytes, atomic_write_text  # noqa: E402
from reasonkit.benchmarks.metrics import (  # noqa: E402
    Interval,
    PairedComparison,
    bootstrap_accuracy,
    bootstrap_auc,
    chance_accuracy,
    majority_baseline,
    pair_outcomes,
    paired_comparison,
)
from reasonkit.benchmarks.runner import RESULTS_FILE, ResultLine, RunError, RunRecord, load_run  # noqa: E402
from reasonkit.strategies.maieutic_tree import TreeStats  # noqa: E402
from reasonkit.types import Prediction, SampledSteps, ScoredSteps, Trace  # noqa: E402


class Run(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    record: RunRecord
    lines: tuple[ResultLine, ...]

    @property
    def label(self) -> str:
        return self.record.strategy

    def answered(self) -> dict[str, bool]:
        """Whether each question that did not fail was answered right."""
        return {line.question_id: line.correct for line in self.lines if line.error is None}


class Row(BaseModel):
    benchmark: str
    strategy: str
    n: int
    accuracy: Interval
    abstained: int
    errors: int = 0
    of: int | None = Field(default=None, description="the run's question count, when it holds fewer results")
    calls_per_question: float | None = None
    tokens_per_question: float | None = None
    versus: str | None = None
    paired: PairedComparison | None = None


def load_runs(paths: list[Path]) -> list[Run]:
    """Run folders given directly, or found (any depth) under the given folders."""
    runs = []
    for path in paths:
        folders = [path] if (path / "run.json").exists() else sorted(p.parent for p in path.rglob("run.json"))
        if not folders:
            raise FileNotFoundError(f"{path}: no run folder (run.json) here or below")
        for folder in folders:
            record, lines = load_run(folder)
            check_once(folder, lines)
            if lines:
                runs.append(Run(path=folder, record=record, lines=tuple(lines)))
    return runs


def check_once(folder: Path, lines: list[ResultLine]) -> None:
    """Refuse a results file that answers a question twice (two runs wrote to one folder before run folders were
    locked): counting both would make n, and the confidence of every interval, too large."""
    twice = sorted(qid for qid, count in Counter(line.question_id for line in lines).items() if count > 1)
    if twice:
        shown = ", ".join(twice[:5]) + (f" and {len(twice) - 5} more" if len(twice) > 5 else "")
        raise RunError(
            f"{folder / RESULTS_FILE}: questions answered more than once: {shown}; rerun the same "
            "`reasonkit bench` command to keep the first answer of each"
        )


def benchmark_label(record: RunRecord) -> str:
    """The benchmark, with its split when that is not the usual evaluation split (e.g. arithmetic [test_long])."""
    return record.benchmark if record.split in ("dev", "test") else f"{record.benchmark} [{record.split}]"


def reference_run(group: list[Run]) -> Run:
    """What the other strategies are compared with: `direct` when it ran, else the first run."""
    return next((run for run in group if run.label.startswith("direct")), group[0])


def by_benchmark(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs grouped by `benchmark_label`, in the order the benchmarks first appear."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[benchmark_label(run.record)].append(run)
    return groups


def rows_for(runs: list[Run]) -> list[Row]:
    rows: list[Row] = []
    for benchmark, group in by_benchmark(runs).items():
        questions = {line.question_id: line.question for run in group for line in run.lines}
        all_questions = list(questions.values())
        chance = chance_accuracy(all_questions) if any(q.choices for q in all_questions) else 0.0
        rows.append(
            Row(
                benchmark=benchmark,
                strategy="chance",
                n=len(all_questions),
                abstained=0,
                accuracy=Interval(estimate=chance, low=chance, high=chance, n=len(all_questions)),
            )
        )
        if all(q.gold is not None for q in all_questions) and not all_questions[0].is_free_form:
            label, interval = majority_baseline(all_questions)
            always = f"option {chr(ord('A') + int(label))}" if all_questions[0].options is not None else label
            rows.append(
                Row(
                    benchmark=benchmark,
                    strategy=f"majority class (always {always})",
                    n=interval.n,
                    abstained=0,
                    accuracy=interval,
                )
            )
        reference = reference_run(group)
        for run in [reference, *(r for r in group if r is not reference)]:
            correct = [line.correct for line in run.lines]
            row = Row(
                benchmark=benchmark,
                strategy=run.label,
                n=len(correct),
                accuracy=bootstrap_accuracy(correct),
                abstained=sum(line.abstained for line in run.lines),
                errors=sum(line.error is not None for line in run.lines),
                of=run.record.n_questions if len(correct) < run.record.n_questions else None,
                calls_per_question=sum(line.lm_calls for line in run.lines) / len(correct),
                tokens_per_question=sum(line.tokens for line in run.lines) / len(correct),
            )
            if run is not reference:
                ours, theirs = run.answered(), reference.answered()
                shared = sorted(set(ours) & set(theirs))
                if shared:
                    row.versus = reference.label
                    row.paired = paired_comparison([ours[q] for q in shared], [theirs[q] for q in shared])
            rows.append(row)
    return rows


def paired_text(comparison: PairedComparison, versus: str) -> str:
    d = comparison.difference
    return (
        f"{100 * d.estimate:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}] vs {versus} (n={d.n}), "
        f"p={comparison.p_value:.3g}"
    )


def markdown_table(rows: list[Row]) -> str:
    out = [
        "| benchmark | strategy | n | accuracy % [95% CI] | abstained | errors | calls/q | tokens/q | "
        "vs reference (paired) |",
        "|---|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        paired = "" if row.paired is None else paired_text(row.paired, str(row.versus))
        calls = "" if row.calls_per_question is None else f"{row.calls_per_question:.1f}"
        tokens = "" if row.tokens_per_question is None else f"{row.tokens_per_question:.0f}"
        n = f"{row.n} of {row.of}" if row.of is not None else str(row.n)
        out.append(
            f"| {row.benchmark} | {row.strategy} | {n} | {row.accuracy} | {row.abstained} | {row.errors} | "
            f"{calls} | {tokens} | {paired} |"
        )
    return "\n".join(out) + "\n"


def html_table(rows: list[Row]) -> str:
    """The markdown table's content as an HTML table."""
    lines = [line.strip("|").split(" | ") for line in markdown_table(rows).splitlines()]
    head, body = lines[0], lines[2:]
    cells = "".join(f"<th>{html.escape(h.strip())}</th>" for h in head)
    trs = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>" for row in body
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{trs}</tbody></table>"


def accuracy_plot(rows: list[Row], path: Path) -> None:
    benchmarks = list(dict.fromkeys(row.benchmark for row in rows))
    columns = min(4, len(benchmarks))
    grid_rows = -(-len(benchmarks) // columns)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(4.5 * columns, 4 * grid_rows), squeeze=False)
    for ax in axes.flat[len(benchmarks) :]:
        ax.set_visible(False)
    for ax, benchmark in zip(axes.flat, benchmarks, strict=False):
        group = [r for r in rows if r.benchmark == benchmark]
        strategies = [r for r in group if r.calls_per_question is not None]
        baselines = [r for r in group if r.calls_per_question is None]
        est = [100 * r.accuracy.estimate for r in strategies]
        err = [
            [100 * (r.accuracy.estimate - r.accuracy.low) for r in strategies],
            [100 * (r.accuracy.high - r.accuracy.estimate) for r in strategies],
        ]
        ax.bar(range(len(strategies)), est, yerr=err, capsize=4, color="#4c72b0")
        for baseline, style in zip(baselines, ("--", ":"), strict=False):
            ax.axhline(
                100 * baseline.accuracy.estimate, linestyle=style, color="grey", label=baseline.strategy
            )
        ax.set_xticks(
            range(len(strategies)), [r.strategy for r in strategies], rotation=30, ha="right", fontsize=8
        )
        ax.set_ylim(0, 100)
        ax.set_title(benchmark)
        ax.set_ylabel("accuracy % (95% CI)")
        if baselines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def votes_at_k(run: Run) -> dict[int, dict[str, bool]]:
    """Self-consistency: per k, question id -> whether the vote over the first k sampled paths is right."""
    out: dict[int, dict[str, bool]] = defaultdict(dict)
    for line in run.lines:
        steps = line.prediction.trace.steps_as(SampledSteps)
        for vote in steps.votes_at_k if steps is not None else ():
            answer = vote.majority
            out[vote.k][line.question_id] = (
                answer is not None
                and answer == line.question.gold
                and type(answer) is type(line.question.gold)
            )
    return dict(sorted(out.items()))


def samples_table(runs: list[Run]) -> str:
    """Self-consistency runs: accuracy [95% CI] of the majority vote over the first k paths, one column per k,
    and where a greedy `cot` run covers the same questions, the paired difference against it."""
    curves = [(run, curve) for run in runs if len(curve := votes_at_k(run)) > 1]
    if not curves:
        return ""
    ks = sorted({k for _, curve in curves for k in curve})
    out = [
        "| benchmark | strategy | n | " + " | ".join(f"k = {k}" for k in ks) + " |",
        "|---|---|---:|" + "---|" * len(ks),
    ]
    for run, curve in curves:
        greedy = next(
            (
                other
                for other in runs
                if other.label == "cot"
                and other.record.benchmark == run.record.benchmark
                and other.record.split == run.record.split
            ),
            None,
        )
        theirs = greedy.answered() if greedy is not None else {}
        cells = []
        for k in ks:
            if k not in curve:
                cells.append("")
                continue
            cell = str(bootstrap_accuracy(list(curve[k].values())))
            if theirs:
                shared = [q for q in curve[k] if q in theirs]
                if shared:
                    d = paired_comparison([curve[k][q] for q in shared], [theirs[q] for q in shared])
                    cell += (
                        f"; {100 * d.difference.estimate:+.1f} [{100 * d.difference.low:+.1f}, "
                        f"{100 * d.difference.high:+.1f}] vs cot (n={len(shared)}, p={d.p_value:.2g})"
                    )
            cells.append(cell)
        n = len(next(iter(curve.values())))
        out.append(f"| {benchmark_label(run.record)} | {run.label} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def true_false_margin(trace: Trace) -> float | None:
    """log P(" True") - log P(" False") as scored by the first scoring step in the trace (depth first), under
    the normalisation that step answered by; None when no step scored the two labels."""
    steps = trace.steps_as(ScoredSteps)
    by = steps.scores.get(steps.normalization) if steps is not None else None
    if by is not None and {"True", "False"} <= by.keys():
        return by["True"] - by["False"]
    return next((m for child in trace.children if (m := true_false_margin(child)) is not None), None)


def answer_margin(prediction: Prediction) -> float | None:
    """The model's True - False margin where it scored them, else the strategy's own (e.g. retrieval's
    similarity against its threshold); None when there is neither."""
    margin = true_false_margin(prediction.trace)
    if margin is None and {"True", "False"} <= prediction.scores.keys():
        margin = prediction.scores["True"] - prediction.scores["False"]
    return margin


def signal_table(runs: list[Run]) -> str:
    """Binary runs that scored True against False: AUC of that margin against the gold label."""
    out = []
    for run in runs:
        pairs = [
            (margin, line.question.gold)
            for line in run.lines
            if isinstance(line.question.gold, bool) and (margin := answer_margin(line.prediction)) is not None
        ]
        labels = {gold for _, gold in pairs}
        if len(pairs) < len(run.lines) or labels != {True, False}:
            continue
        interval = bootstrap_auc([m for m, _ in pairs], [g for _, g in pairs])
        out.append(
            f"| {benchmark_label(run.record)} | {run.label} | {len(pairs)} | {interval.estimate:.3f} "
            f"[{interval.low:.3f}, {interval.high:.3f}] |"
        )
    if not out:
        return ""
    return "| benchmark | strategy | n | AUC [95% CI] |\n|---|---|---:|---|\n" + "\n".join(out) + "\n"


def pairs_of(run: Run) -> dict[tuple[str, str], bool]:
    """The run's complete complementary pairs (questions with metadata "pair_id") and whether both are right."""
    return pair_outcomes({line.question_id: line.correct for line in run.lines}, partner_map(run))


def partner_map(run: Run) -> dict[str, str]:
    return {
        line.question_id: str(line.question.metadata["pair_id"])
        for line in run.lines
        if "pair_id" in line.question.metadata
    }


def pairs_ordered(run: Run, pairs: list[tuple[str, str]]) -> Interval | None:
    """How often the pair's true statement gets the larger True - False margin (ties count half): whether the
    score tells the two apart at all, whatever the threshold. None unless every statement has a margin."""
    lines = {line.question_id: line for line in run.lines}
    ordered = []
    for a, b in pairs:
        margins = [answer_margin(lines[q].prediction) for q in (a, b)]
        golds = [lines[q].question.gold for q in (a, b)]
        if None in margins:
            return None  # a strategy that scores only some answers (cot's fallback) would be read on a few
        if {golds[0], golds[1]} != {True, False}:
            continue
        true_margin, false_margin = margins if golds[0] is True else margins[::-1]
        ordered.append(1.0 if true_margin > false_margin else 0.5 if true_margin == false_margin else 0.0)
    return bootstrap_accuracy(ordered) if ordered else None


def pairs_table(runs: list[Run]) -> str:
    """Pairwise accuracy (both statements of a pair right) per run, paired against the benchmark's reference,
    and how often the margin orders the pair right."""
    out = []
    for benchmark, group in by_benchmark(runs).items():
        outcomes = {id(run): pairs_of(run) for run in group}
        if not any(outcomes.values()):
            continue
        answered = {id(run): pair_outcomes(run.answered(), partner_map(run)) for run in group}
        reference = reference_run(group)
        out.append(f"| {benchmark} | chance (each statement a coin flip) |  | 25.0 |  | 50.0 |")
        out.append(f"| {benchmark} | any constant answer |  | 0.0 |  |  |")
        for run in [reference, *(r for r in group if r is not reference)]:
            ours = outcomes[id(run)]
            if not ours:
                continue
            paired = ""
            theirs = answered[id(reference)]
            shared = sorted(set(answered[id(run)]) & set(theirs))
            if run is not reference and shared:
                comparison = paired_comparison([ours[k] for k in shared], [theirs[k] for k in shared])
                paired = paired_text(comparison, reference.label)
            ordered = pairs_ordered(run, list(ours))
            out.append(
                f"| {benchmark} | {run.label} | {len(ours)} | {bootstrap_accuracy(list(ours.values()))} | "
                f"{paired} | {'' if ordered is None else ordered} |"
            )
    if not out:
        return ""
    return (
        "| benchmark | strategy | pairs | pairwise accuracy % [95% CI] | vs reference (paired, by pair) | "
        "true one scored higher % [95% CI] |\n|---|---|---:|---|---|---|\n" + "\n".join(out) + "\n"
    )


def pairs_section(runs: list[Run]) -> str:
    return section(
        "Complementary pairs: both statements right",
        "Where the benchmark pairs each statement with one that differs by a few words and has the other label "
        "(Com2Sense), a pair counts only when both are answered right: the benchmark's pairwise accuracy. Any "
        "constant answer scores 0, and so does a model that answers the two statements of a pair alike; "
        "independent coin flips score 25. The last column asks only whether the pair's true statement gets the "
        "larger True - False margin (50 is no signal), which no threshold can change.",
        pairs_table(runs),
    )


def signal_section(runs: list[Run]) -> str:
    return section(
        "True/false sets: is there a signal to threshold?",
        "AUC of log P(True) - log P(False), or of the strategy's own True - False score where no model scored "
        "them, against the gold label (bootstrap 95% intervals). 0.5 is no signal: then accuracy sits at the "
        "majority class whatever the threshold, and no calibration can move it.",
        signal_table(runs),
    )


def samples_section(runs: list[Run]) -> str:
    table = samples_table(runs)
    return section(
        "Self-consistency: accuracy vs sampled paths",
        "Majority vote over the first k of the n paths (bootstrap 95% intervals).",
        table and table + "\n![samples](samples.png)\n",
    )


def tree_stats_table(runs: list[Run]) -> str:
    """Per run whose predictions carry maieutic's "tree_stats": what the trees did, summed over questions."""
    out = []
    for run in runs:
        lines = [line for line in run.lines if "tree_stats" in line.prediction.trace.steps]
        rows = [
            (TreeStats.model_validate(line.prediction.trace.steps["tree_stats"]), line.correct)
            for line in lines
        ]
        if not rows:
            continue
        root_right = [s.root_answer == line.question.gold for (s, _), line in zip(rows, lines, strict=True)]
        versus_root = paired_text(paired_comparison([c for _, c in rows], root_right), "root belief")
        generated = sum(s.nodes_generated for s, _ in rows)
        integral = sum(s.nodes_integral for s, _ in rows)
        changed = [correct for s, correct in rows if s.changed]
        out.append(
            f"| {benchmark_label(run.record)} | {run.label} | {len(rows)} | {generated} | {integral} "
            f"({100 * integral / max(generated, 1):.1f}%) | {sum(s.non_empty for s, _ in rows)} "
            f"| {sum(s.explanations_kept > 0 for s, _ in rows)} | {sum(s.maxsat_answer is not None for s, _ in rows)} "
            f"| {len(changed)} | {sum(changed)} | {versus_root} |"
        )
    if not out:
        return ""
    return (
        "| benchmark | strategy | trees | nodes generated | nodes integral | trees non-empty "
        "| trees keeping an explanation | MAX-SAT answered | answer differs from root belief | of those right "
        "| accuracy minus the root belief's |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        + "\n".join(out)
        + "\n"
    )


def tree_stats_section(runs: list[Run]) -> str:
    return section(
        "Maieutic trees",
        "Explanations generated below the roots, how many were logically integral, how many trees kept a node "
        "after pruning (an integral root alone counts) and how many kept an explanation below the root, how often "
        "weighted MAX-SAT gave an answer, how often that answer differs from the root statement's own belief "
        "(and was right), and the paired difference in accuracy from answering every question by the root's "
        "belief (bootstrap 95% interval, exact McNemar p). A tree that is empty, or that MAX-SAT cannot decide, "
        "answers with the root's belief.",
        tree_stats_table(runs),
    )


def section(title: str, intro: str, body: str) -> str:
    """A report section, or nothing when its table is empty."""
    return f"\n## {title}\n\n{intro}\n\n{body}" if body else ""


def accuracy_curve(ax: Any, correct_at: dict[int, list[bool]], label: str) -> None:
    """Accuracy % with its 95% bootstrap interval as error bars, one point per x (e.g. the number of samples)."""
    intervals = [bootstrap_accuracy(correct) for correct in correct_at.values()]
    ax.errorbar(
        list(correct_at),
        [100 * i.estimate for i in intervals],
        yerr=[
            [100 * (i.estimate - i.low) for i in intervals],
            [100 * (i.high - i.estimate) for i in intervals],
        ],
        marker="o",
        capsize=3,
        label=label,
    )


def samples_plot(runs: list[Run], path: Path) -> bool:
    curves = [(run, {k: list(v.values()) for k, v in votes_at_k(run).items()}) for run in runs]
    curves = [(run, c) for run, c in curves if len(c) > 1]
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for run, curve in curves:
        accuracy_curve(ax, curve, f"{run.record.benchmark}: {run.label}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("number of sampled paths (majority vote)")
    ax.set_ylabel("accuracy % (95% CI)")
    ax.set_title("Self-consistency: accuracy vs samples")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    return True


def save_figure(fig: plt.Figure, path: Path) -> None:
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def html_page(runs: list[Run], rows: list[Row], images: list[Path]) -> str:
    data = [
        {
            "benchmark": run.record.benchmark,
            "strategy": run.label,
            "model": run.record.model,
            "lines": [json.loads(line.model_dump_json()) for line in run.lines],
        }
        for run in runs
    ]
    pictures = "".join(
        f'<img alt="{html.escape(p.stem)}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        for p in images
    )
    table = html_table(rows)
    # Inside <script> the HTML parser still reacts to "</script" and to "<!--" with "<script" (which makes a
    # later "</script>" not end the block): JSON written with no <, > or & at all gives it nothing to see.
    payload = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return PAGE.replace("%TABLE%", table).replace("%IMAGES%", pictures).replace("%DATA%", payload)


LEGEND = (
    "*chance*: the expected accuracy of answering at random; *majority class (always option E)*: the "
    "accuracy of always giving the gold answer seen most often (an option's position, or True/False)."
)


def write_report(paths: list[Path], out: Path) -> list[Path]:
    runs = load_runs(paths)
    if not runs:
        raise FileNotFoundError(f"no finished questions in {', '.join(map(str, paths))}")
    out.mkdir(parents=True, exist_ok=True)
    rows = rows_for(runs)
    written = [out / "report.md", out / "accuracy.png"]
    atomic_write_text(
        out / "report.md",
        "# reasonkit report\n\nAccuracy with bootstrap 95% intervals; paired "
        "differences against `direct` (or the first strategy) on the questions both runs answered "
        "(exact McNemar p). A question that could not be run (errors) counts as wrong; a run that "
        "stopped early shows how many of its questions it holds (n = 142 of 1838).\n\n"
        + markdown_table(rows)
        + "\n"
        + LEGEND
        + "\n\n![accuracy](accuracy.png)\n"
        + samples_section(runs)
        + signal_section(runs)
        + pairs_section(runs)
        + tree_stats_section(runs),
    )
    accuracy_plot(rows, out / "accuracy.png")
    images = [out / "accuracy.png"]
    if samples_plot(runs, out / "samples.png"):
        images.append(out / "samples.png")
        written.append(out / "samples.png")
    atomic_write_bytes(out / "report.html", html_page(runs, rows, images).encode())
    written.append(out / "report.html")
    return written


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>reasonkit report</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;display:flex;height:100vh}
#side{width:34%;overflow:auto;border-right:1px solid #ccc;padding:8px}
#main{flex:1;overflow:auto;padding:12px}
pre{white-space:pre-wrap;background:#f6f6f6;padding:6px;border-radius:4px}
.q{padding:4px;border-bottom:1px solid #eee;cursor:pointer}.q:hover{background:#eef}
.ok{color:#1a7f37}.bad{color:#c62828}.abst{color:#888}.err{color:#b26a00}
img{max-width:100%;margin:4px 0}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:18px;border-left:1px dashed #999}
ul.tree li{margin:4px 0;position:relative}
ul.tree li:before{content:"";position:absolute;left:-18px;top:9px;width:14px;border-top:1px dashed #999}
.node{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:2px 6px;background:#fff}
.integral{border-color:#1a7f37}.true{background:#e8f5e9}.false{background:#ffebee}
details{margin:6px 0}
.nested{border-left:3px solid #ccd;padding-left:10px;margin-left:4px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
</style></head><body>
<div id="side"><h3>reasonkit report</h3>
<label>run <select id="run"></select></label><br>
<label>show <select id="filter"><option value="all">all</option><option value="bad">wrong</option>
<option value="ok">right</option><option value="abst">abstained</option><option value="err">failed</option></select></label>
<div id="list"></div></div>
<div id="main"><div id="detail"></div><h3>Summary</h3>%TABLE%%IMAGES%</div>
<script id="data" type="application/json">%DATA%</script>
<script>
const runs = JSON.parse(document.getElementById('data').textContent);
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const runSel = document.getElementById('run'), filt = document.getElementById('filter');
runs.forEach((r, i) => runSel.add(new Option(r.benchmark + ' · ' + r.strategy + ' (' + r.lines.length + ')', i)));
function status(l){return l.error ? 'err' : l.abstained ? 'abst' : (l.correct ? 'ok' : 'bad');}
function answerText(q, a){ if (a === null || a === undefined) return '(abstained)';
  if (q.options && typeof a === 'number') return String.fromCharCode(65 + a) + '. ' + q.options[a];
  if (typeof a === 'boolean') return a ? 'True' : 'False'; return String(a); }
function callLine(c){ const r = c.request; const text = c.kind === 'generate' ? r.prompt : r.context + ' ⟶ ' + r.continuation;
  return text.replace(/\s+/g, ' ').slice(-90); }
function tree(g){
  const kids = {}; g.edges.forEach(e => (kids[e.source] = kids[e.source] || []).push(e.target));
  const nodes = Object.fromEntries(g.nodes.map(n => [n.id, n]));
  const targets = new Set(g.edges.map(e => e.target));
  const value = (g.graph && g.graph.assignment) || {};
  const item = id => { const n = nodes[id]; const b = (n.belief ? ' b=' + n.belief.map(x => x.toFixed(2)).join('/') : '')
      + (typeof n.value === 'number' ? ' value=' + n.value.toFixed(3) : '') + (n.chosen ? ' chosen' : '');
    const cls = 'node' + (n.integral ? ' integral' : '') + (n.value === true ? ' true' : n.value === false ? ' false' : '');
    return '<li><span class="' + cls + '" title="' + esc(n.negation || '') + '"><b>' + esc(id) + '</b> ' + esc(n.text) + '<small>' + b + (n.integral ? ' integral' : '') + '</small></span>'
      + ((kids[id] || []).length ? '<ul>' + kids[id].map(item).join('') + '</ul>' : '') + '</li>'; };
  const roots = g.nodes.map(n => n.id).filter(id => !targets.has(id));
  return roots.length ? '<ul class="tree">' + roots.map(item).join('') + '</ul>' : '<p>(empty tree)</p>';
}
function show(l){
  const q = l.question, p = l.prediction;
  let h = '<h3 class="' + status(l) + '">' + esc(q.id) + '</h3><p>' + esc(q.text) + '</p>';
  if (q.options) h += '<ol type="A">' + q.options.map(o => '<li>' + esc(o) + '</li>').join('') + '</ol>';
  h += '<p>gold: <b>' + esc(answerText(q, q.gold)) + '</b> · predicted: <b class="' + status(l) + '">' + esc(answerText(q, p.answer)) + '</b></p>';
  if (l.error) h += '<p class="err">could not be run: ' + esc(l.error) + '</p>';
  if (Object.keys(p.scores).length) h += '<p>scores: ' + esc(JSON.stringify(p.scores)) + '</p>';
  document.getElementById('detail').innerHTML = h + traceHtml(p.trace);
}
function allCalls(t){ return t.calls.length + (t.children || []).reduce((n, c) => n + allCalls(c), 0); }
// A trace and, nested below it, the traces of the strategies it ran (ensemble members, memory's inner strategy):
// each child a collapsible section, open when it is the only one.
function traceHtml(t){
  let h = '';
  if (t.notes.length) h += '<p>notes:</p><ul>' + t.notes.map(n => '<li>' + esc(n) + '</li>').join('') + '</ul>';
  if (t.steps.tree) {
    const empty = !t.steps.tree.nodes.length && t.steps.unpruned_tree;
    h += '<h4>' + (t.strategy === 'tree_of_thoughts' ? 'search tree' : 'maieutic tree') + (empty ? ' (everything was pruned; the generated tree)' : '') + '</h4>'
      + tree(empty ? t.steps.unpruned_tree : t.steps.tree);
  }
  const steps = Object.assign({}, t.steps); delete steps.tree; delete steps.unpruned_tree;
  Object.entries(steps).filter(([k, v]) => typeof v === 'string').forEach(([k, v]) => {  // a rationale, a scratchpad: shown open
    h += '<h4>' + esc(k) + '</h4><pre>' + esc(v) + '</pre>'; delete steps[k]; });
  if (Object.keys(steps).length) h += '<details><summary>strategy steps</summary><pre>' + esc(JSON.stringify(steps, null, 1)) + '</pre></details>';
  const children = t.children || [];
  if (t.calls.length || !children.length)
    h += '<h4>' + t.calls.length + ' LM calls</h4>' + t.calls.map((c, i) => '<details><summary>' + i + ': ' + c.kind + (c.cached ? ' (cached)' : '') + ' <small>…' + esc(callLine(c)) + '</small></summary><pre>'
      + esc(JSON.stringify(c.request, null, 1)) + '</pre><pre>' + esc(JSON.stringify(c.output, null, 1)) + '</pre></details>').join('');
  children.forEach((c, i) => {
    h += '<details class="child"' + (children.length === 1 ? ' open' : '') + '><summary>' + (children.length > 1 ? 'member ' + (i + 1) + ': ' : 'inner: ')
      + '<b>' + esc(c.strategy || '?') + '</b> <small>(' + allCalls(c) + ' LM calls)</small></summary><div class="nested">' + traceHtml(c) + '</div></details>'; });
  return h;
}
function render(){
  const run = runs[runSel.value], f = filt.value, list = document.getElementById('list');
  list.innerHTML = '';
  run.lines.filter(l => f === 'all' || status(l) === f).forEach(l => {
    const d = document.createElement('div'); d.className = 'q ' + status(l);
    d.textContent = (l.error ? '⚠ ' : l.correct ? '✔ ' : l.abstained ? '∅ ' : '✘ ') + l.question.text.slice(0, 90);
    d.onclick = () => { location.hash = 'run=' + runSel.value + '&q=' + encodeURIComponent(l.question_id); };
    list.appendChild(d); });
}
function route(){
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.has('run') && runs[h.get('run')]) { runSel.value = h.get('run'); render(); }
  const run = runs[runSel.value]; const l = run && run.lines.find(x => x.question_id === h.get('q'));
  if (l) show(l); else document.getElementById('detail').innerHTML = '<p>Pick a question on the left.</p>';
}
runSel.onchange = () => { location.hash = 'run=' + runSel.value; }; filt.onchange = render;
window.onhashchange = route; render(); route();
</script></body></html>
"""
