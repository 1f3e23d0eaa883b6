from pathlib import Path

from click.testing import CliRunner

from reasonkit.benchmarks.runner import RunRecord, data_hash, run_benchmark
from reasonkit.benchmarks.studies.arithmetic_breakdown import breakdown, main
from reasonkit.fake import FakeLM
from reasonkit.strategies.arithmetic_format import (
    ArithmeticProblem,
    render_completion,
    render_prompt,
    to_question,
)
from reasonkit.strategies.scratchpad import Scratchpad

PROBLEMS = [
    ArithmeticProblem(op="add", operands=(12, 34)),
    ArithmeticProblem(op="add", operands=(123, 456)),
    ArithmeticProblem(op="mul", operands=(123, 4)),
    ArithmeticProblem(op="mul", operands=(987, 6)),
]


def test_groups_by_operation_and_length(tmp_path: Path) -> None:
    """The scripted model is right on additions and on 123 * 4 only."""
    lm = FakeLM({render_prompt(p): render_completion(p) for p in PROBLEMS[:3]} | {"": "Answer: 1"})
    questions = [to_question(p, f"q{i}") for i, p in enumerate(PROBLEMS)]
    record = RunRecord(
        benchmark="arithmetic",
        split="test",
        strategy="scratchpad",
        strategy_config={},
        model="fake",
        model_fingerprint=lm.fingerprint,
        seed=0,
        limit=None,
        n_questions=len(questions),
        data_hash=data_hash(questions),
    )
    lines = run_benchmark(questions, Scratchpad(), lm, tmp_path / "run", record)
    assert breakdown(lines) == {("add", 2): [True], ("add", 3): [True], ("mul", 3): [True, False]}
    result = CliRunner().invoke(main, [str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "| mul | 3 | 2 | 50.0 [0.0, 100.0] |" in result.output
    assert "| add | all | 2 | 100.0 [100.0, 100.0] |" in result.output
