from reasonkit.benchmarks.runner import result_line
from reasonkit.benchmarks.studies.decomposition import verified, written_solution
from reasonkit.strategies.tree_of_thoughts import TreeOfThoughts
from reasonkit.types import Prediction, Question, Trace

QUESTION = Question(
    id="p",
    text="Make 26 from 2 5 8.",
    gold="26",
    kind="free_form",
    metadata={"numbers": [2, 5, 8], "target": 26},
)


def line(steps: dict[str, object], answer: str = "26"):  # type: ignore[no-untyped-def]
    prediction = Prediction(question_id="p", answer=answer, trace=Trace(strategy="x", steps=steps))
    return result_line(0, QUESTION, TreeOfThoughts(), prediction, 0.0)


def test_a_right_answer_counts_only_when_its_steps_check() -> None:
    good = ["8 + 5 = 13. Left: 2 13.", "13 * 2 = 26. Left: 26.", "So the answer is 26."]
    assert verified(line({"path": good}))
    assert not verified(
        line({"rationale": " 8 + 5 = 13. Left: 2 13. 13 * 2 = 27. Left: 26. So the answer is 26."})
    )
    assert not verified(line({"path": good}, answer="13"))  # wrong answers never count


def test_a_vote_is_checked_on_its_most_probable_winning_path() -> None:
    wrong_sum = {"text": " 8 * 2 = 16. Left: 5 16. 16 + 5 = 26. Left: 26.", "answer": "26"}
    right = {"text": " 8 + 5 = 13. Left: 2 13. 13 * 2 = 26. Left: 26.", "answer": "26"}
    loser = {"text": " 8 + 5 = 13. Left: 2 13. 13 + 2 = 15. Left: 15.", "answer": "15", "weight": 0.99}
    assert not verified(line({"paths": [{**wrong_sum, "weight": 0.6}, {**right, "weight": 0.4}, loser]}))
    assert verified(line({"paths": [{**wrong_sum, "weight": 0.4}, {**right, "weight": 0.6}, loser]}))
    assert written_solution(line({"paths": [loser]})) == ""  # no path gave the winning answer


def test_why_reads_real_data_runs_that_have_no_reference_decomposition(capsys) -> None:  # type: ignore[no-untyped-def]
    """StrategyQA questions carry no suite decomposition: `why` says what was written and why it abstained."""
    from reasonkit.benchmarks.studies.decomposition import _why_least_to_most, _why_self_ask
    from reasonkit.strategies.least_to_most import LeastToMost
    from reasonkit.strategies.self_ask import SelfAsk

    sqa = Question(id="s", text="Can a cat fly?", gold=False, metadata={"benchmark": "strategyqa"})
    stopped = "the last subanswer 'Cats' is not one of the question's answers"
    steps = {"subquestions": ["Do cats have wings?"], "subanswers": ["Cats"], "stopped": stopped}
    prediction = Prediction(question_id="s", answer=None, trace=Trace(strategy="least_to_most", steps=steps))
    _why_least_to_most([result_line(0, sqa, LeastToMost(), prediction, 0.0)])
    asked = {"follow_ups": [{"question": "Do cats have wings?", "answer": "no"}], "final": "no"}
    answered = Prediction(question_id="s", answer=False, trace=Trace(strategy="self_ask", steps=asked))
    _why_self_ask([result_line(0, sqa, SelfAsk(), answered, 0.0)])
    out = capsys.readouterr().out
    assert "subquestions written: {1: 1}" in out and "1 x the last subanswer" in out
    assert "asked no follow-up: 0/1" in out and "follow-ups asked: {1: 1}" in out


def test_why_reads_a_true_false_verdict_as_what_it_would_answer(capsys) -> None:  # type: ignore[no-untyped-def]
    """The default model answers "Q: ... A:" with "This statement is false, because ...": counted, and compared
    with the label as if it were the answer (no reader takes it for yes / no)."""
    from reasonkit.benchmarks.studies.decomposition import _why_least_to_most
    from reasonkit.strategies.least_to_most import LeastToMost

    lines = []
    for i, (last, gold) in enumerate(
        [
            ("This statement is false, because cats.", False),
            ("This statement is true, because x", False),
            ("7", True),
        ]
    ):
        sqa = Question(id=f"s{i}", text="Can a cat fly?", gold=gold)
        steps = {"subquestions": ["Can #1 fly?"], "subanswers": [last], "stopped": "the last subanswer"}
        prediction = Prediction(
            question_id=f"s{i}", answer=None, trace=Trace(strategy="least_to_most", steps=steps)
        )
        lines.append(result_line(i, sqa, LeastToMost(), prediction, 0.0))
    _why_least_to_most(lines)
    out = capsys.readouterr().out
    assert (
        "last subanswer a true / false verdict: 2/3 (1 true, 1 false); the verdict equals the label: 1/2"
        in out
    )


def test_why_on_a_tree_run_skips_questions_that_errored(capsys) -> None:  # type: ignore[no-untyped-def]
    """A question that could not be run (a prompt over the window) has no tree: counted, not a KeyError."""
    from reasonkit.benchmarks.studies.decomposition import _why_tree

    tree = {
        "nodes": [
            {"id": 0, "text": "(question)", "value": 1.0},
            {"id": 1, "text": "8 + 5 = 13. Left: 2 13.", "value": 0.9},
        ]
    }
    ran = line({"tree": tree})
    failed = ran.model_copy(update={"error": "ContextWindowError: too long"})
    failed = failed.model_copy(update={"prediction": Prediction(question_id="p", answer=None)})
    _why_tree([ran, failed])
    out = capsys.readouterr().out
    assert (
        "questions that errored (no tree): 1/2" in out and "proposed steps with right arithmetic: 1/1" in out
    )


def test_the_countdown_checker_is_a_perfect_judge_for_tree_of_thoughts() -> None:
    from reasonkit.benchmarks.studies.decomposition import CountdownChecker
    from reasonkit.fake import FakeLM
    from reasonkit.protocol import GenerationRequest

    proposals = {
        r"Steps:\nNext:$": ["8 * 2 = 16. Left: 5 16.", "8 + 5 = 13. Left: 2 13."],
        r"Left: 2 13\.\nNext:$": ["13 + 2 = 15. Left: 15.", "13 * 2 = 26. Left: 26."],
        r"Left: 5 16\.\nNext:$": "16 + 5 = 21. Left: 21.",
        r"Left: 26\.\nNext:$": "So the answer is 26.",
        r"Left: (15|21)\.\nNext:$": "So the answer is 15.",
    }
    lm = FakeLM(proposals, regex=True)
    strategy = TreeOfThoughts(evaluator="judge", judge=CountdownChecker(), proposals=2, breadth=1)
    prediction = strategy.run(QUESTION, lm)
    assert prediction.answer == "26" and verified(line({"path": prediction.trace.steps["path"]}))
    assert all(isinstance(r, GenerationRequest) for r in lm.requests)  # proposals only: the checker judges
    assert len(lm.requests) == prediction.trace.steps["calls"] == 3


def test_the_checker_command_pairs_a_perfect_judge_with_a_run(tmp_path, tiny_model_dir) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from reasonkit.benchmarks.studies.decomposition import main as study
    from reasonkit.cli import main as cli

    out = tmp_path / "runs"
    made = CliRunner().invoke(
        cli,
        [
            "bench",
            "--model",
            str(tiny_model_dir),
            "-b",
            "countdown",
            "--limit",
            "2",
            "-s",
            "cot(shots=0)",
            "--out",
            str(out),
        ],
    )
    assert made.exit_code == 0, made.output
    spec = "tot(proposals=2, breadth=1, max_depth=2, max_calls=6, thought_tokens=8)"
    result = CliRunner().invoke(
        study,
        ["checker", "--model", str(tiny_model_dir), "--spec", spec, str(out / "countdown" / "cot_shots=0")],
    )
    assert result.exit_code == 0, result.output
    assert f"{spec} with a perfect judge: " in result.output and "(n=2)" in result.output
    assert "solved, A - B: " in result.output
    refused = CliRunner().invoke(
        study,
        ["checker", "--model", str(tiny_model_dir), "--spec", "cot", str(out / "countdown" / "cot_shots=0")],
    )
    assert refused.exit_code != 0 and "is not a tree_of_thoughts spec" in refused.output
