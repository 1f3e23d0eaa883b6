"""A benchmark run slow enough to be killed mid-way (used by test_runner's kill -9 test)."""

import sys
import time
from pathlib import Path

from reasonkit.benchmarks.runner import RunRecord, data_hash, run_benchmark
from reasonkit.fake import FakeLM
from reasonkit.protocol import LoglikelihoodRequest
from reasonkit.strategy import Strategy
from reasonkit.types import Prediction, Question


class SlowLM(FakeLM):
    def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return super().loglikelihood(requests)


class PickBest(Strategy):
    name = "pick_best"

    async def solve(self, question: Question, lm) -> Prediction:  # type: ignore[no-untyped-def]
        results = await lm.loglikelihood(
            [LoglikelihoodRequest(context=question.text, continuation=" " + o) for o in question.choices]
        )
        scores = [r.logprob for r in results]
        return Prediction(
            question_id=question.id,
            answer=question.answer_of(scores.index(max(scores))),
            scores=dict(zip(question.choices, scores, strict=True)),
        )


def questions(n: int) -> list[Question]:
    return [
        Question(id=f"q{i}", text=f"Question {i}?", options=("alpha", "beta", "gamma"), gold=i % 3)
        for i in range(n)
    ]


def main(run_dir: str, n: int, concurrency: int) -> None:
    qs = questions(n)
    lm = SlowLM()
    record = RunRecord(
        benchmark="toy",
        split="dev",
        strategy="pick_best",
        strategy_config={"name": "pick_best"},
        model="fake",
        model_fingerprint=lm.fingerprint,
        seed=0,
        limit=None,
        n_questions=n,
        data_hash=data_hash(qs),
    )
    run_benchmark(qs, PickBest(), lm, Path(run_dir), record, concurrency=concurrency)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
