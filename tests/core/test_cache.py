import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from reasonkit.cache import CachedLM
from reasonkit.driver import run_questions
from reasonkit.fake import FakeLM
from reasonkit.protocol import GenerationRequest, LanguageModel, LoglikelihoodRequest
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question


class SampleThenScore(Strategy):
    name = "sample_then_score"

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        [gen] = await lm.generate([GenerationRequest(prompt=question.text, n=2, temperature=0.7, seed=3)])
        scored = await lm.loglikelihood(
            [
                LoglikelihoodRequest(context=question.text + gen.samples[0].text, continuation=f" {o}")
                for o in question.choices
            ]
        )
        best = max(range(len(scored)), key=lambda i: scored[i].logprob)
        return Prediction(
            question_id=question.id, answer=question.answer_of(best), scores={"best": scored[best].logprob}
        )


QUESTIONS = [Question(id=f"q{i}", text=f"Is {i} even?", options=None) for i in range(8)]


def test_is_a_language_model_with_the_inner_fingerprint(tmp_path: Path) -> None:
    lm = FakeLM()
    with CachedLM(lm, tmp_path / "c.sqlite") as cached:
        assert isinstance(cached, LanguageModel) and cached.fingerprint == lm.fingerprint


def test_a_cached_run_gives_identical_predictions_without_model_calls(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    first_lm = FakeLM(default=["yes it is", "no"])
    with CachedLM(first_lm, path) as cached:
        first = run_questions(SampleThenScore(), QUESTIONS, cached)
        assert cached.misses == 8 + 16 and cached.hits == 0
        assert not any(call.cached for p in first for call in p.trace.calls)
    second_lm = FakeLM(default=["yes it is", "no"])
    with CachedLM(second_lm, path) as cached:
        second = run_questions(SampleThenScore(), QUESTIONS, cached)
        assert second_lm.n_calls == 0 and cached.hits == 24 and cached.misses == 0
        assert all(call.cached for p in second for call in p.trace.calls)
        stats = cached.stats()
        assert stats.entries == 24 and stats.hits == 24 and stats.path == str(path) and stats.size_bytes > 0
    assert [p.answer for p in first] == [p.answer for p in second]
    assert [p.scores for p in first] == [p.scores for p in second]
    assert [[c.output for c in p.trace.calls] for p in first] == [
        [c.output for c in p.trace.calls] for p in second
    ]


def test_only_misses_reach_the_model_as_one_batch(tmp_path: Path) -> None:
    lm = FakeLM()
    with CachedLM(lm, tmp_path / "c.sqlite") as cached:
        a, b, c = (LoglikelihoodRequest(context="ctx", continuation=f" {w}") for w in "abc")
        cached.loglikelihood([a, b])
        results, hits = cached.loglikelihood_with_hits([a, c, b, c])
        assert hits == [True, False, True, False]
        assert lm.loglikelihood_batches == [2, 1]
        assert results == lm.loglikelihood([a, c, b, c])


def test_sampling_parameters_and_model_are_part_of_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    lm = FakeLM(default=["first", "second"])
    with CachedLM(lm, path) as cached:
        cached.generate([GenerationRequest(prompt="p", seed=0)])
        [other_seed] = cached.generate([GenerationRequest(prompt="p", seed=1)])
        cached.generate([GenerationRequest(prompt="p", seed=0, temperature=0.5)])
        assert cached.misses == 3 and other_seed.samples[0].text == "second"
    other_model = FakeLM(default="different")
    with CachedLM(other_model, path) as cached:
        [result] = cached.generate([GenerationRequest(prompt="p", seed=0)])
        assert result.samples[0].text == "different" and cached.misses == 1


def test_concurrent_readers_see_the_rows_of_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    request = LoglikelihoodRequest(context="x", continuation=" y")
    writer, reader = CachedLM(FakeLM(), path), CachedLM(FakeLM(), path)
    try:
        writer.loglikelihood([request])
        _, hits = reader.loglikelihood_with_hits([request])
        assert hits == [True]
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        writer.close()
        reader.close()


def test_clear_empties_the_cache(tmp_path: Path) -> None:
    with CachedLM(FakeLM(), tmp_path / "c.sqlite") as cached:
        cached.loglikelihood([LoglikelihoodRequest(context="x", continuation=" y")])
        cached.clear()
        assert cached.stats().entries == 0


def test_a_file_that_is_not_a_cache_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a database, just text " * 100)
    with pytest.raises(ValueError, match="notes.txt: not a usable reasonkit cache"):
        CachedLM(FakeLM(), bad)
