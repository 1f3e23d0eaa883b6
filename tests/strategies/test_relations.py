"""Relation scorers: the LM judge by log-likelihood, and the offline HF NLI classifier on a tiny random model."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from reasonkit.fake import FakeLM
from reasonkit.strategies.relations import (
    HFNLIScorer,
    LMRelationScorer,
    RelationScores,
    label_index,
    nli_text,
)


class _Direct:
    """The FakeLM's services awaited directly (no runner needed for a scorer)."""

    def __init__(self, lm: FakeLM) -> None:
        self.lm = lm

    async def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
        return self.lm.loglikelihood(requests)

    async def generate(self, requests):  # type: ignore[no-untyped-def]
        return self.lm.generate(requests)


def test_lm_scorer_softmaxes_the_three_answers() -> None:
    table = {
        "Birds fly.": {" True": -0.1, " Neither": -2.0, " False": -3.0},
        "Fish walk.": {" True": -4.0, " Neither": -2.0, " False": -0.5},
    }

    def score(context: str, continuation: str) -> float:
        premise = context.split("\n", 1)[0]
        return table[premise][continuation]

    lm = FakeLM(scores=score)
    pairs = [("Birds fly.", "Some birds fly."), ("Fish walk.", "Fish swim.")]
    scores = asyncio.run(LMRelationScorer().score(pairs, _Direct(lm)))
    assert [s.label for s in scores] == ["entail", "contradict"]
    z = math.exp(-0.1) + math.exp(-2.0) + math.exp(-3.0)
    assert scores[0].entail == pytest.approx(math.exp(-0.1) / z)
    assert sum(scores[1].model_dump().values()) == pytest.approx(1.0)
    assert lm.prompts[0] == "Birds fly.\nQuestion: Some birds fly. True, False, or Neither?\nAnswer:"
    assert lm.loglikelihood_batches == [6]


def test_lm_scorer_no_pairs_no_call() -> None:
    lm = FakeLM()
    assert asyncio.run(LMRelationScorer().score([], _Direct(lm))) == []
    assert lm.n_calls == 0


def test_label_of_scores() -> None:
    assert RelationScores(entail=0.2, neutral=0.5, contradict=0.3).label == "neutral"


def test_label_index_reads_names_and_rejects_other_heads() -> None:
    mnli = {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}
    assert label_index(mnli, where="m") == {"contradict": 0, "neutral": 1, "entail": 2}
    with pytest.raises(ValueError, match="sentiment-model.*contradict"):
        label_index({0: "NEGATIVE", 1: "POSITIVE"}, where="sentiment-model")


def test_hf_scorer_on_a_tiny_local_model(tmp_path: Path) -> None:
    """The real loading path on random weights saved locally: shapes, label mapping, no download."""
    transformers = pytest.importorskip("transformers")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "birds", "fly", "fish", "."]))
    transformers.BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(tmp_path)
    config = transformers.BertConfig(
        vocab_size=9,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        num_labels=3,
        id2label={0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"},
        label2id={"ENTAILMENT": 0, "NEUTRAL": 1, "CONTRADICTION": 2},
    )
    transformers.BertForSequenceClassification(config).save_pretrained(tmp_path)
    scorer = HFNLIScorer(str(tmp_path), batch_size=2)
    pairs = [("birds fly .", "fish fly ."), ("fish .", "birds ."), ("birds .", "birds fly .")]
    scores = asyncio.run(scorer.score(pairs, lm=None))  # type: ignore[arg-type]
    assert len(scores) == 3
    assert all(sum(s.model_dump().values()) == pytest.approx(1.0, abs=1e-5) for s in scores)
    assert scorer._index == {"entail": 0, "neutral": 1, "contradict": 2}


def test_hf_scorer_missing_folder_fails_offline(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    scorer = HFNLIScorer(str(tmp_path / "no-such-model"))
    with pytest.raises(OSError):
        asyncio.run(scorer.score([("a.", "b.")], lm=None))  # type: ignore[arg-type]


def test_nli_text_is_the_scorers_prompt_and_answer() -> None:
    """A recipe teaching the NLI format must write exactly what the scorer reads: its prompt, then the answer
    the scorer compares for that label."""
    premise, hypothesis = "Tupo is a bobenu. Bobenus are not sweet.", "Tupo is sweet."
    for label, answer in (("entail", " True"), ("neutral", " Neither"), ("contradict", " False")):
        text = nli_text({"premise": premise, "text": hypothesis, "label": label})
        assert text == LMRelationScorer.prompt(premise, hypothesis) + answer
    assert nli_text({"premise": premise, "text": hypothesis, "label": "maybe"}) is None


def test_a_judge_scores_the_prompt_with_its_own_model_not_the_strategys(tiny_model_dir: Path) -> None:
    """'lm:PATH' asks another local model the same NLI prompt: the strategy's LM is never called, and the
    scores are what the judge's model gives through the plain 'lm' scorer."""
    from reasonkit.client import BatchingClient
    from reasonkit.models import load_model
    from reasonkit.strategies.maieutic import relation_scorer_for
    from reasonkit.strategies.relations import JudgeRelationScorer

    pairs = [
        ("Tupo is a bobenu. Bobenus are not sweet.", "Tupo is sweet."),
        ("Zapodu is red.", "Zapodu is red."),
    ]
    judge = relation_scorer_for(f"lm:{tiny_model_dir}")
    assert isinstance(judge, JudgeRelationScorer) and judge.name == f"lm:{tiny_model_dir}"
    untouched = FakeLM({})
    got = asyncio.run(judge.score(pairs, BatchingClient(untouched)))
    expected = asyncio.run(LMRelationScorer().score(pairs, BatchingClient(load_model(str(tiny_model_dir)))))
    assert [s.model_dump() for s in got] == [pytest.approx(s.model_dump()) for s in expected]
    assert untouched.n_calls == 0
    assert asyncio.run(judge.score([], BatchingClient(untouched))) == []
