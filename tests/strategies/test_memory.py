"""WithMemory with the real all-MiniLM-L6-v2 encoder and scripted inner models."""

import pytest

from reasonkit.benchmarks.synthetic import rows
from reasonkit.benchmarks.synthetic.corrections import note_drill_rows
from reasonkit.fake import FakeLM
from reasonkit.protocol import GenerationRequest
from reasonkit.registry import build_strategy
from reasonkit.strategies.arithmetic_format import (
    ArithmeticProblem,
    render_completion,
    render_prompt,
    to_question,
)
from reasonkit.strategies.direct import Direct
from reasonkit.strategies.memory import WithMemory, corrections_text
from reasonkit.strategies.memory_store import MemoryStore
from reasonkit.strategies.scratchpad import Scratchpad
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace

CORRECTION = "The capital of Australia is Canberra, not Sydney."


class SayAnswer(Strategy):
    """A minimal generating strategy that knows nothing of memory: the answer is the generated line."""

    name = "say_answer"

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        [result] = await lm.generate([GenerationRequest(prompt=f"Q: {question.text}\nA:", stop=("\n",))])
        return Prediction(question_id=question.id, answer=result.samples[0].text.strip(), trace=Trace())


def last_prompt(lm: FakeLM) -> str:
    return lm.prompts[-1]


def test_feedback_reaches_a_later_similar_question_and_no_other(tmp_path):
    # The scripted model answers correctly only when the correction is in its prompt.
    lm = FakeLM({"Note: ": " Canberra"}, default=" Sydney")
    memory = WithMemory(SayAnswer(), MemoryStore(tmp_path / "memory"), k=3, threshold=0.5)
    asked = Question(id="q1", text="What is the capital of Australia?", gold="Canberra")
    similar = Question(id="q2", text="Which city is Australia's capital?", gold="Canberra")
    unrelated = Question(id="q3", text="How many legs does a spider have?", gold="8")

    before = memory.run(similar, lm)
    assert before.answer == "Sydney" and before.trace.steps["retrieved"] == []
    assert last_prompt(lm) == f"Q: {similar.text}\nA:"

    wrong = memory.run(asked, lm)
    assert not wrong.is_correct(asked)
    memory.feedback(asked, CORRECTION)

    after = memory.run(similar, lm)
    assert last_prompt(lm) == f"Q: Note: {CORRECTION}\n{similar.text}\nA:"
    assert after.answer == "Canberra" and after.is_correct(similar)
    [hit] = after.trace.steps["retrieved"]
    assert hit["kind"] == "feedback" and hit["key"] == asked.text and hit["value"] == CORRECTION
    assert 0.5 <= hit["similarity"] <= 1.0
    # The inner strategy's calls are in its own trace, under the memory trace.
    assert after.trace.strategy == "memory" and after.trace.calls == []
    [child] = after.trace.children
    assert child.strategy == "say_answer" and [c.request["prompt"] for c in child.calls] == [last_prompt(lm)]

    other = memory.run(unrelated, lm)
    assert "Note:" not in last_prompt(lm) and other.trace.steps["retrieved"] == []

    # Feedback was saved with the store, so a new session starts with it.
    reloaded = WithMemory(SayAnswer(), MemoryStore.load(tmp_path / "memory"), threshold=0.5)
    assert reloaded.run(similar, lm).answer == "Canberra"


def test_wraps_log_likelihood_scoring_too():
    """Direct scoring of a binary statement; the scripted scores favour "False" once a note about mammals is
    in the context."""

    def scores(context: str, continuation: str) -> float:
        believes_fish = "mammal" not in context
        return -1.0 if (continuation.strip() == "True") == believes_fish else -3.0

    lm = FakeLM(scores=scores)
    memory = WithMemory(Direct(), threshold=0.5)
    statement = Question(id="w1", text="Whales are fish.", gold=False)
    later = Question(id="w2", text="A whale is a kind of fish.", gold=False)
    assert memory.run(statement, lm).answer is True
    memory.feedback(statement, "A whale is a mammal, not a fish.")
    prediction = memory.run(later, lm)
    assert prediction.answer is False and prediction.trace.steps["retrieved"]
    assert "A whale is a mammal" in prediction.trace.children[0].steps["prompt"]


def test_notes_go_before_a_scratchpad_prompt():
    problem = ArithmeticProblem(op="add", operands=(487, 59))
    store = MemoryStore()
    store.add("4 8 7 + 5 9", "Carry the one.")
    lm = FakeLM(default=render_completion(problem))
    prediction = WithMemory(Scratchpad(), store, threshold=0.9).run(to_question(problem, "a1"), lm)
    assert last_prompt(lm) == "Note: Carry the one.\n" + render_prompt(problem)
    assert prediction.answer == str(problem.result)


def test_k_limits_the_notes_most_similar_first():
    store = MemoryStore()
    store.add("Spiders have eight legs.", "Spiders have eight legs.")
    store.add("Insects have six legs.", "Insects have six legs.")
    store.add("Spiders are arachnids, not insects.", "Spiders are arachnids.")
    memory = WithMemory(SayAnswer(), store, k=2, threshold=0.0)
    augmented, hits = memory.augment(Question(id="s", text="How many legs does a spider have?", gold="8"))
    assert len(hits) == 2 and hits[0].similarity >= hits[1].similarity
    assert augmented.text.splitlines()[:2] == [f"Note: {hit.entry.value}" for hit in hits]


def test_is_registered_and_its_config_is_a_spec(tmp_path):
    store = MemoryStore()
    store.add("Paris is the capital of France.", "France's capital is Paris.")
    store.save(tmp_path / "m")
    built = build_strategy(f"memory(inner=direct, store={str(tmp_path / 'm')!r}, k=2, threshold=0.6)")
    assert isinstance(built, WithMemory) and isinstance(built.inner, Direct) and len(built.store) == 1
    assert build_strategy(built.config()).config() == built.config()
    with pytest.raises(ValueError, match="threshold"):
        WithMemory(Direct(), threshold=2.0)


def test_corrections_text_answers_the_note_then_the_learned_fact():
    [row] = rows("corrections", n_train=1)
    noted, plain = corrections_text(row).split("\n\n")
    question = Question.model_validate(row)
    assert noted.startswith(f"Note: {question.metadata['correction']}\nQuestion: {question.text}")
    assert noted.endswith(f"Answer: {question.options[question.gold]}")
    assert plain.endswith(f"Answer: {question.metadata['original']}") and "Note:" not in plain
    [test_row] = rows("corrections", split="test")[:1]
    assert corrections_text(test_row) is None  # test corrections are never rendered for training


def test_a_drill_shows_the_fact_it_corrects_first():
    drill = note_drill_rows(n_countries=1)[0]
    fact, noted, plain = corrections_text(drill).split("\n\n")
    assert fact == drill["metadata"]["fact"] and noted.startswith("Note: ") and plain.startswith("Question: ")


def test_end_to_end_on_the_tiny_model(tiny_engine):
    """No accuracy claim: memory(direct) on the tiny model gives well-formed predictions."""
    store = MemoryStore()
    store.add("Whales are fish.", "A whale is a mammal, not a fish.", kind="feedback")
    memory = WithMemory(Direct(), store, threshold=0.5)
    questions = [
        Question(id="t1", text="A whale is a kind of fish.", gold=False),
        Question(id="t2", text="The sun rises in the east.", gold=True),
    ]
    noted, plain = memory.run_many(questions, tiny_engine)
    for prediction in (noted, plain):
        assert isinstance(prediction.answer, bool) and set(prediction.scores) == {"True", "False"}
        [child] = prediction.trace.children
        assert child.calls and {c.kind for c in child.calls} == {"loglikelihood"}
    assert "A whale is a mammal" in noted.trace.children[0].steps["prompt"]
    assert "Note:" not in plain.trace.children[0].steps["prompt"]


def test_questions_in_flight_share_one_search_and_each_gets_its_notes(tmp_path):
    store = MemoryStore(tmp_path / "memory")
    store.feedback("What is the capital of Australia?", CORRECTION)
    lm = FakeLM({"Note: ": " Canberra"}, default=" Sydney")
    memory = WithMemory(SayAnswer(), store, k=1, threshold=0.5)
    questions = [
        Question(id=f"q{i}", text=text, gold=gold)
        for i, (text, gold) in enumerate(
            [
                ("Which city is Australia's capital?", "Canberra"),
                ("How many legs does a spider have?", "Sydney"),
            ]
            * 5
        )
    ]
    predictions = memory.run_many(questions, lm)
    assert memory.batcher.encoder_calls == 1
    assert [p.answer for p in predictions] == [q.gold for q in questions]
    assert [len(p.trace.steps["retrieved"]) for p in predictions] == [1, 0] * 5
