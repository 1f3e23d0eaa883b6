import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reasonkit.benchmarks.report import (
    load_runs,
    markdown_table,
    pairs_table,
    rows_for,
    samples_table,
    signal_table,
    tree_stats_table,
    votes_at_k,
    write_report,
)
from reasonkit.benchmarks.runner import RESULTS_FILE, RUN_FILE, RunError, RunRecord, data_hash, run_benchmark
from reasonkit.cli import main
from reasonkit.fake import FakeLM
from reasonkit.protocol import ContextWindowError
from reasonkit.registry import build_strategy
from reasonkit.strategies.maieutic_tree import TreeStats
from reasonkit.strategies.memory import WithMemory
from reasonkit.strategies.memory_store import MemoryEntry, MemoryStore
from reasonkit.strategies.retrieval import Retrieval
from reasonkit.strategy import Strategy
from reasonkit.types import Prediction, Question, Trace

sys.path.insert(0, str(Path(__file__).parent))
from run_slowly import PickBest, questions  # noqa: E402


def make_run(path: Path, strategy, qs, lm) -> None:  # type: ignore[no-untyped-def]
    record = RunRecord(
        benchmark="toy",
        split="dev",
        strategy=strategy.name,
        strategy_config=strategy.config(),
        model="fake",
        model_fingerprint=lm.fingerprint,
        seed=0,
        limit=None,
        n_questions=len(qs),
        data_hash=data_hash(qs),
    )
    run_benchmark(qs, strategy, lm, path, record)


def test_report_has_baselines_intervals_and_paired_rows(tmp_path: Path) -> None:
    qs = questions(30)
    make_run(tmp_path / "runs" / "a", PickBest(), qs, FakeLM())
    make_run(tmp_path / "runs" / "b", build_strategy("direct"), qs, FakeLM())
    rows = rows_for(load_runs([tmp_path / "runs"]))
    assert [r.strategy for r in rows][:2] == ["chance", "majority class (always option A)"]
    assert abs(rows[0].accuracy.estimate - 1 / 3) < 1e-12
    assert rows[-1].paired is not None and rows[-1].versus == rows[2].strategy
    table = markdown_table(rows)
    assert "| toy | chance | 30 | 33.3 [33.3, 33.3]" in table and "p=" in table


def test_self_consistency_votes_at_k_are_scored_against_gold(tmp_path: Path) -> None:
    qs = [
        Question(id=f"q{i}", text=f"Is {i} even?", gold=i % 2 == 0, metadata={"benchmark": "toy"})
        for i in range(6)
    ]
    lm = FakeLM(default=["Because. So the answer is yes.", "Hmm. So the answer is no."])
    make_run(tmp_path / "sc", build_strategy("self_consistency(n=4)"), qs, lm)
    [run] = load_runs([tmp_path / "sc"])
    curve = votes_at_k(run)
    assert sorted(curve) == [1, 4] and all(len(v) == 6 for v in curve.values())
    table = samples_table([run])
    assert (
        "| k = 1 | k = 4 |" in table and "| toy | self_consistency | 6 |" in table and "vs cot" not in table
    )
    make_run(tmp_path / "cot", build_strategy("cot"), qs, lm)
    paired = samples_table(load_runs([tmp_path / "sc", tmp_path / "cot"]))
    assert "vs cot (n=6, p=" in paired
    assert samples_table(load_runs([tmp_path / "sc"])[:0]) == ""


def test_report_command_writes_markdown_png_and_a_self_contained_page(tmp_path: Path) -> None:
    make_run(tmp_path / "run", PickBest(), questions(5), FakeLM())
    result = CliRunner().invoke(main, ["report", str(tmp_path / "run"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "report.html").read_text()
    assert (tmp_path / "out" / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert "data:image/png;base64," in page and "http" not in page.replace("http-equiv", "")
    data = json.loads(page.split('type="application/json">')[1].split("</script>")[0])
    assert len(data[0]["lines"]) == 5


def test_report_on_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code != 0 and "no run folder" in result.output


def test_write_report_lists_what_it_wrote(tmp_path: Path) -> None:
    make_run(tmp_path / "run", PickBest(), questions(3), FakeLM())
    names = [p.name for p in write_report([tmp_path / "run"], tmp_path / "out")]
    assert names == ["report.md", "accuracy.png", "report.html"]


CHROMIUM = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine")
def test_page_renders_a_maieutic_tree_in_headless_chromium(tmp_path: Path) -> None:
    qs = [Question(id="s1", text="Fire is hot.", gold=True, metadata={"benchmark": "toy"})]
    lm = FakeLM(default=["fire burns things.", "ice is cold."])
    make_run(tmp_path / "run", build_strategy("maieutic"), qs, lm)
    write_report([tmp_path / "run"], tmp_path / "out")
    url = (tmp_path / "out" / "report.html").as_uri() + "#run=0&q=s1"
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout
    assert '<ul class="tree">' in dom and "Fire is hot." in dom and "LM calls" in dom


def _statements(n: int) -> list[Question]:
    return [
        Question(id=f"s{i}", text=f"{i} is even.", gold=i % 2 == 0, metadata={"benchmark": "toy"})
        for i in range(n)
    ]


def _parity_scores(context: str, continuation: str) -> float:
    """An LM that knows parity: " True" is likelier exactly when the statement is true."""
    number = int(context.split("True or false: ")[1].split()[0]) if "True or false: " in context else 1
    right = (number % 2 == 0) == (continuation == " True")
    return -0.5 if right else -2.0


def test_signal_table_gives_the_auc_of_the_true_false_margin_and_finds_it_below_wrappers(
    tmp_path: Path,
) -> None:
    qs = _statements(40)
    make_run(tmp_path / "knows", build_strategy("direct"), qs, FakeLM(scores=_parity_scores))
    make_run(tmp_path / "blind", build_strategy("direct"), qs, FakeLM(scores={" True": -1.0, " False": -1.0}))
    wrapped = WithMemory(build_strategy("direct"), store=MemoryStore())
    make_run(tmp_path / "memory", wrapped, qs, FakeLM(scores=_parity_scores))
    runs = load_runs([tmp_path / "knows", tmp_path / "blind", tmp_path / "memory"])
    table = signal_table(runs).splitlines()
    assert table[2].startswith("| toy | direct | 40 | 1.000 [1.000, 1.000]")
    assert table[3].startswith("| toy | direct | 40 | 0.500 [0.500, 0.500]")
    assert table[4].startswith("| toy | memory | 40 | 1.000")
    make_run(tmp_path / "cot", build_strategy("cot"), qs, FakeLM(default="So the answer is yes."))
    assert signal_table(load_runs([tmp_path / "cot"])) == ""


def test_signal_table_reads_a_strategys_own_true_false_scores_where_no_model_scored(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "store")
    store.add_many(
        MemoryEntry(key=fact, value=fact) for fact in ["Penguins live in Antarctica.", "Milk is white."]
    )
    qs = [
        Question(id="t", text="Penguins live in Antarctica.", gold=True, metadata={"benchmark": "toy"}),
        Question(id="f", text="Volcanoes erupt during elections.", gold=False, metadata={"benchmark": "toy"}),
    ]
    make_run(tmp_path / "retrieval", Retrieval(store, threshold=0.5), qs, FakeLM())
    assert (
        signal_table(load_runs([tmp_path / "retrieval"]))
        .splitlines()[2]
        .startswith("| toy | retrieval | 2 | 1.000")
    )


def test_pairwise_accuracy_counts_pairs_with_both_statements_right(tmp_path: Path) -> None:
    texts = [
        "Ice is cold.",
        "Ice is hot.",
        "Snow is white.",
        "Snow is black.",
        "Rain is wet.",
        "Rain is dry.",
    ]
    qs = [
        Question(
            id=f"s{i}",
            text=t,
            gold=i % 2 == 0,
            metadata={"benchmark": "toy", "style": "statement", "pair_id": f"s{i ^ 1}"},
        )
        for i, t in enumerate(texts)
    ]
    make_run(
        tmp_path / "constant", build_strategy("direct"), qs, FakeLM(scores={" True": -0.1, " False": -3.0})
    )
    make_run(tmp_path / "lucky", PairTruth(), qs[:5], FakeLM())  # s5 unanswered: its pair is left out
    make_run(tmp_path / "leans", build_strategy("direct(normalization='raw')"), qs, FakeLM(scores=leans_true))
    table = pairs_table(load_runs([tmp_path]))
    assert "| toy | any constant answer |  | 0.0 |" in table
    assert "| toy | direct | 3 | 0.0 [0.0, 0.0] |  | 50.0 [50.0, 50.0] |" in table  # equal margins: ties
    assert (
        "| toy | pair_truth | 2 | 100.0 [100.0, 100.0] | +100.0 [+100.0, +100.0] vs direct (n=2), p=0.5 |  |"
        in table
    )
    # always True, but the true statement of each pair a little more so: no pair right, every pair ordered
    assert (
        "| toy | direct | 3 | 0.0 [0.0, 0.0] | +0.0 [+0.0, +0.0] vs direct (n=3), p=1 | 100.0 [100.0, 100.0] |"
        in table
    )
    assert pairs_table(load_runs([tmp_path / "constant"])[:0]) == ""


def leans_true(context: str, continuation: str) -> float:
    if continuation == " False":
        return -3.0
    return -0.1 if any(word in context for word in ("cold", "white", "wet")) else -0.2


class PairTruth(Strategy):
    """Answers every statement right (it reads the gold): the other end of the scale from a constant answer."""

    name = "pair_truth"

    async def solve(self, question: Question, lm) -> Prediction:  # type: ignore[no-untyped-def]
        return Prediction(question_id=question.id, answer=question.gold)


def test_a_results_file_that_answers_questions_twice_is_refused_naming_file_and_ids(tmp_path: Path) -> None:
    make_run(tmp_path / "run", PickBest(), questions(8), FakeLM())
    path = tmp_path / "run" / RESULTS_FILE
    path.write_bytes(path.read_bytes() * 2)  # two runs on one folder, before folders were locked
    with pytest.raises(
        RunError, match=rf"{path}: questions answered more than once: q0, q1, q2, q3, q4 and 3 more"
    ):
        load_runs([tmp_path])
    result = CliRunner().invoke(main, ["report", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "answered more than once" in result.output


class RejectsQ2(FakeLM):
    def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
        if any(r.context == "Question 2?" for r in requests):
            raise ContextWindowError("the prompt is over the window")
        return super().loglikelihood(requests)


def test_failed_questions_count_wrong_and_paired_comparisons_use_only_questions_both_answered(
    tmp_path: Path,
) -> None:
    qs = questions(10)
    make_run(tmp_path / "runs" / "direct", build_strategy("direct"), qs, FakeLM())
    path = tmp_path / "runs" / "direct" / RESULTS_FILE
    path.write_text(
        "".join(path.read_text().splitlines(keepends=True)[:6])
    )  # a run that stopped at question 6
    make_run(tmp_path / "runs" / "pick", PickBest(), qs, RejectsQ2())
    rows = rows_for(load_runs([tmp_path / "runs"]))
    stopped, failing = rows[-2], rows[-1]
    assert (stopped.strategy, stopped.n, stopped.of, stopped.errors) == ("direct", 6, 10, 0)
    assert (failing.strategy, failing.n, failing.of, failing.errors) == ("pick_best", 10, None, 1)
    pick = load_runs([tmp_path / "runs" / "pick"])[0].lines
    assert failing.accuracy.estimate == sum(line.correct for line in pick) / 10  # the failed one counts wrong
    assert failing.paired is not None and failing.paired.difference.n == 5  # q0, q1, q3, q4, q5
    table = markdown_table(rows)
    assert "| toy | direct | 6 of 10 |" in table and "vs direct (n=5)" in table
    assert "| toy | pick_best | 10 | " in table and " | 0 | 1 | " in table


def test_an_unreadable_run_record_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    make_run(tmp_path / "run", PickBest(), questions(2), FakeLM())
    (tmp_path / "run" / RUN_FILE).write_bytes(b"\x80\x81 not utf-8")
    result = CliRunner().invoke(main, ["report", str(tmp_path / "run"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert f"{tmp_path / 'run' / RUN_FILE}: not a reasonkit run record" in result.output


def test_the_report_says_what_its_baselines_are(tmp_path: Path) -> None:
    make_run(tmp_path / "run", PickBest(), questions(3), FakeLM())
    write_report([tmp_path / "run"], tmp_path / "out")
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| toy | majority class (always option A) |" in text
    assert "*chance*: the expected accuracy of answering at random" in text


def test_samples_png_is_written_only_for_runs_that_sample(tmp_path: Path) -> None:
    qs = [
        Question(id=f"q{i}", text=f"Is {i} even?", gold=i % 2 == 0, metadata={"benchmark": "toy"})
        for i in range(3)
    ]
    make_run(tmp_path / "greedy", build_strategy("direct"), qs, FakeLM())
    assert "samples.png" not in [p.name for p in write_report([tmp_path / "greedy"], tmp_path / "plain")]
    assert not (tmp_path / "plain" / "samples.png").exists()
    make_run(
        tmp_path / "sc",
        build_strategy("self_consistency(n=4)"),
        qs,
        FakeLM(default=["Because. So the answer is yes.", "Hmm. So the answer is no."]),
    )
    assert (tmp_path / "sampled" / "samples.png") in write_report([tmp_path / "sc"], tmp_path / "sampled")


def test_report_files_are_readable_by_group_and_others_under_umask_022(tmp_path: Path) -> None:
    import os

    make_run(tmp_path / "run", PickBest(), questions(3), FakeLM())
    old = os.umask(0o022)
    try:
        written = write_report([tmp_path / "run"], tmp_path / "out")
    finally:
        os.umask(old)
    assert {path.name: path.stat().st_mode & 0o044 for path in written} == {
        path.name: 0o044 for path in written
    }


VIEWER_DOM = """
const data = require('fs').readFileSync(process.argv[2], 'utf8');
const script = data.split('<script>')[1].split('</script>')[0];
const json = data.split('type="application/json">')[1].split('</script>')[0];
const elements = {};
const element = id => elements[id] = elements[id] || {id, innerHTML: '', textContent: id === 'data' ? json : '',
  value: 0, options: [], add(o) { this.options.push(o); }, appendChild() {}};
global.document = {getElementById: element, createElement: () => element('x' + Math.random())};
global.location = {hash: '#run=0&q=' + process.argv[3]};
global.window = {};
global.Option = function (text, value) { this.text = text; this.value = value; };
eval(script);
process.stdout.write(elements.detail.innerHTML);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="no node to run the viewer's script")
def test_the_viewer_shows_a_chain_of_thought_rationale_open(tmp_path: Path) -> None:
    qs = questions(1)
    make_run(
        tmp_path / "run", build_strategy("cot"), qs, FakeLM(default="alpha is first. So the answer is (A).")
    )
    write_report([tmp_path / "run"], tmp_path / "out")
    script = tmp_path / "viewer.js"
    script.write_text(VIEWER_DOM)
    detail = subprocess.run(
        ["node", str(script), str(tmp_path / "out" / "report.html"), qs[0].id],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "<h4>rationale</h4><pre>" in detail and "alpha is first." in detail
    opened = detail.split("<details>")[0]
    assert "alpha is first." in opened


class _Trees(Strategy):
    """Answers from a table, with maieutic's tree statistics in the trace."""

    name = "trees"
    STATS = {  # question id -> (answer, stats)
        "s0": (
            True,
            TreeStats(
                nodes_generated=6, nodes_integral=2, nodes_kept=3, root_answer=False, maxsat_answer=True
            ),
        ),
        "s1": (
            True,
            TreeStats(
                nodes_generated=6, nodes_integral=1, nodes_kept=2, root_answer=False, maxsat_answer=True
            ),
        ),
        "s2": (
            True,
            TreeStats(
                nodes_generated=8, nodes_integral=0, nodes_kept=0, root_answer=True, maxsat_answer=None
            ),
        ),
        "s3": (
            False,
            TreeStats(
                nodes_generated=0, nodes_integral=0, nodes_kept=1, root_answer=False, maxsat_answer=False
            ),
        ),  # an integral root alone
    }

    async def solve(self, question: Question, lm) -> Prediction:  # type: ignore[no-untyped-def]
        answer, stats = self.STATS[question.id]
        return Prediction(
            question_id=question.id,
            answer=answer,
            trace=Trace(strategy=self.name, steps={"tree_stats": stats.model_dump()}),
        )


def test_tree_stats_table_sums_what_maieutics_trees_did(tmp_path: Path) -> None:
    make_run(tmp_path / "trees", _Trees(), _statements(4), FakeLM())
    make_run(tmp_path / "direct", build_strategy("direct"), _statements(4), FakeLM())
    runs = load_runs([tmp_path / "trees", tmp_path / "direct"])
    table = tree_stats_table(runs).splitlines()
    # s0 (even, true) and s1 (odd, false) both changed by MAX-SAT: one right; s3 MAX-SAT agreed with the root
    assert table[2].startswith("| toy | trees | 4 | 20 | 3 (15.0%) | 3 | 2 | 3 | 2 | 1 | +0.0 [")
    assert table[2].endswith("vs root belief (n=4), p=1 |") and len(table) == 3
    write_report([tmp_path / "trees"], tmp_path / "report")
    assert "## Maieutic trees" in (tmp_path / "report" / "report.md").read_text()
    assert tree_stats_table(load_runs([tmp_path / "direct"])) == ""
