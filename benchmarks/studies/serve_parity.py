"""Parity through a client no one here wrote: lm-evaluation-harness's `local-completions` against `reasonkit
serve`, on CommonsenseQA dev, question by question against `reasonkit bench -s direct`.

Question: Does lm-evaluation-harness, through `reasonkit serve`, score every question as `reasonkit bench`
does? Figures: BENCHMARKS.md, "Serving and backends"; docs/studies/serving.md.

    pip install lm_eval     # not a reasonkit dependency; this script alone needs it (it runs offline)
    python -m reasonkit.benchmarks.studies.serve_parity                      # the bundled model, all 1,221 questions
    python -m reasonkit.benchmarks.studies.serve_parity --model DIR --limit 200
    python -m reasonkit.benchmarks.studies.serve_parity --batch-size 8 --concurrency 4 --save scores.jsonl

--batch-size is lm-eval's own: how many prompts go in one /v1/completions request (the server takes lists);
8 per request ran the whole split's 6,081 scoring prompts in under 10 minutes on 2 loaded cores, where one
per request managed about one a second.

Steps: (1) `reasonkit bench -b csqa -s direct` writes its results; (2) its prompts and options become an
lm-eval multiple-choice task read from a local JSON file (lm-eval's own commonsense_qa task downloads from
the Hugging Face hub), so lm-eval builds the requests itself: context, then " " + option; (3) `reasonkit
export` gives lm-eval the model's tokenizer as a Hugging Face one (local-completions counts context tokens
with it); (4) `reasonkit serve` starts and lm-eval scores every option through /v1/completions with
echo=True, logprobs=1, max_tokens=1. lm-eval's acc is the argmax of the summed log-probability (our "raw");
its acc_norm divides by the option's length in characters without the leading space, which no direct
normalisation does (our "char" counts the space), so acc_norm is compared with raw / len(option) computed
from our raw scores. The script exits 1 on any disagreement.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

TASK = "reasonkit_csqa_parity"
TOLERANCE = 1e-3  # summed log-probabilities, engine (KV cache) vs server (one full pass)


def run_bench(model: str, limit: int | None, out: Path) -> list[dict[str, Any]]:
    command = [
        sys.executable,
        "-m",
        "reasonkit",
        "bench",
        "-b",
        "csqa",
        "-s",
        "direct",
        "--model",
        model,
        "--out",
    ]
    command += [str(out)] + (["--limit", str(limit)] if limit else [])
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    lines = [
        json.loads(line) for line in (out / "csqa" / "direct" / "results.jsonl").read_text().splitlines()
    ]
    return sorted(lines, key=lambda line: line["index"])


def task_rows(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The exact prompt and options `direct` scored, for lm-eval to score again."""
    rows = []
    for line in lines:
        options = line["question"]["options"]
        calls = line["prediction"]["trace"]["calls"][: len(options)]
        continuations = [call["request"]["continuation"] for call in calls]
        assert all(c.startswith(" ") for c in continuations), continuations
        rows.append(
            {
                "id": line["question_id"],
                "context": calls[0]["request"]["context"],
                "choices": [c[1:] for c in continuations],
                "gold": line["gold"],
            }
        )
    return rows


def write_task(folder: Path, rows: list[dict[str, Any]]) -> None:
    data = folder / "csqa_dev.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / f"{TASK}.yaml").write_text(
        "\n".join(
            [
                f"task: {TASK}",
                "dataset_path: json",
                "dataset_kwargs:",
                f"  data_files: {{validation: {json.dumps(str(data))}}}",
                "validation_split: validation",
                "output_type: multiple_choice",
                "doc_to_text: '{{context}}'",
                "doc_to_choice: '{{choices}}'",
                "doc_to_target: gold",
                'target_delimiter: " "',
                "metric_list:",
                "  - metric: acc",
                "  - metric: acc_norm",
                "",
            ]
        )
    )


def run_lm_eval(
    url: str, model_name: str, tokenizer_dir: Path, task_dir: Path, concurrency: int, batch_size: int
) -> list[dict]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    model_args = {
        "model": model_name,
        "base_url": f"{url}/v1/completions",
        "tokenizer_backend": "huggingface",
        "tokenizer": str(tokenizer_dir),
        "tokenized_requests": False,
        "num_concurrent": concurrency,
        "max_retries": 1,
        "max_length": 512,
    }
    results = simple_evaluate(
        model="local-completions",
        model_args=model_args,
        tasks=[TASK],
        task_manager=TaskManager(include_path=str(task_dir)),
        log_samples=True,
        batch_size=batch_size,  # prompts per /v1/completions request
    )
    assert results is not None
    return sorted(results["samples"][TASK], key=lambda sample: sample["doc_id"])


def compare(lines: list[dict[str, Any]], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Per question: lm-eval's acc vs our raw, lm-eval's acc_norm vs raw / len(option), and the scores."""
    if len(lines) != len(samples):
        raise SystemExit(f"lm-eval scored {len(samples)} questions, bench {len(lines)}")
    acc_diff, norm_diff, worst = [], [], 0.0
    ours = {"raw": 0, "norm": 0, "char": 0}
    theirs = {"acc": 0.0, "acc_norm": 0.0}
    for line, sample in zip(lines, samples, strict=True):
        options = line["question"]["options"]
        steps = line["prediction"]["trace"]["steps"]
        raw = [steps["scores"]["raw"][label] for label in options]
        their_scores = [float(resp[0][0]) for resp in sample["resps"]]
        worst = max(worst, *(abs(a - b) for a, b in zip(raw, their_scores, strict=True)))
        gold = line["gold"]
        raw_pick = max(range(len(raw)), key=lambda i: (raw[i], -i))
        norm = [score / len(option) for score, option in zip(raw, options, strict=True)]
        norm_pick = max(range(len(norm)), key=lambda i: (norm[i], -i))
        ours["raw"] += raw_pick == gold
        ours["norm"] += norm_pick == gold
        ours["char"] += steps["answer_by"]["char"] == options[gold]
        theirs["acc"] += sample["acc"]
        theirs["acc_norm"] += sample["acc_norm"]
        if float(sample["acc"]) != float(raw_pick == gold):
            acc_diff.append(line["question_id"])
        if float(sample["acc_norm"]) != float(norm_pick == gold):
            norm_diff.append(line["question_id"])
    n = len(lines)
    return {
        "questions": n,
        "lm_eval_acc": theirs["acc"] / n,
        "bench_raw_acc": ours["raw"] / n,
        "lm_eval_acc_norm": theirs["acc_norm"] / n,
        "bench_raw_per_char_no_space_acc": ours["norm"] / n,
        "bench_char_acc (space counted)": ours["char"] / n,
        "questions_where_acc_differs": acc_diff,
        "questions_where_acc_norm_differs": norm_diff,
        "max_abs_logprob_difference": worst,
    }


def per_question(lines: list[dict[str, Any]], samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per question: id, gold, our raw scores, lm-eval's scores and its acc / acc_norm."""
    rows = []
    for line, sample in zip(lines, samples, strict=True):
        options = line["question"]["options"]
        raw = line["prediction"]["trace"]["steps"]["scores"]["raw"]
        rows.append(
            {
                "id": line["question_id"],
                "gold": line["gold"],
                "bench_raw": [raw[label] for label in options],
                "lm_eval": [float(resp[0][0]) for resp in sample["resps"]],
                "lm_eval_acc": sample["acc"],
                "lm_eval_acc_norm": sample["acc_norm"],
            }
        )
    return rows


@click.command()
@click.option("--model", default="default", show_default=True, help="Model spec (a folder or default).")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="First N dev questions (default all)."
)
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Prompts lm-eval puts in one /v1/completions request.",
)
@click.option(
    "--save",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write each question's scores (ours and lm-eval's) to this JSONL file.",
)
def main(model: str, limit: int | None, concurrency: int, batch_size: int, save: Path | None) -> None:
    """Run the comparison and print it as JSON; exit 1 if any question disagrees."""
    from reasonkit.models import default_model_dir
    from reasonkit.serve.launch import running_server

    folder = str(default_model_dir()) if model == "default" else model
    with tempfile.TemporaryDirectory(prefix="serve_parity_") as tmp:
        root = Path(tmp)
        lines = run_bench(model, limit, root / "bench")
        task_dir = root / "task"
        task_dir.mkdir()
        write_task(task_dir, task_rows(lines))
        command = [sys.executable, "-m", "reasonkit", "export", "--model", folder, "--hf", str(root / "hf")]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with running_server(["--model", model, "--model-name", "reasonkit"]) as server:
            samples = run_lm_eval(server.url, "reasonkit", root / "hf", task_dir, concurrency, batch_size)
    if save is not None:
        save.write_text("".join(json.dumps(row) + "\n" for row in per_question(lines, samples)))
    report = compare(lines, samples)
    click.echo(json.dumps(report, indent=2))
    if report["questions_where_acc_differs"] or report["questions_where_acc_norm_differs"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
