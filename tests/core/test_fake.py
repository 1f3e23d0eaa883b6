import pytest

from reasonkit.fake import FakeLM, Rule
from reasonkit.protocol import GenerationRequest, LanguageModel, LoglikelihoodRequest


def test_is_a_language_model() -> None:
    assert isinstance(FakeLM(), LanguageModel)


def test_first_matching_rule_wins_and_texts_cycle_across_samples_and_seeds() -> None:
    lm = FakeLM({"capital of France": ["Paris", "Lyon"], "capital": "Rome"})
    [many] = lm.generate([GenerationRequest(prompt="Q: capital of France?", n=3)])
    assert [s.text for s in many.samples] == ["Paris", "Lyon", "Paris"]
    [seeded] = lm.generate([GenerationRequest(prompt="Q: capital of France?", seed=1)])
    assert seeded.samples[0].text == "Lyon"
    [other] = lm.generate([GenerationRequest(prompt="capital of Italy")])
    assert other.samples[0].text == "Rome"


def test_regex_rules_stop_strings_and_max_tokens() -> None:
    lm = FakeLM([Rule(r"\d+ \+ \d+", ("4\nQ: next question",), regex=True)], default="one two three four")
    [stopped] = lm.generate([GenerationRequest(prompt="2 + 2 =", stop=("\nQ:",))])
    assert stopped.samples[0].text == "4" and stopped.samples[0].finish_reason == "stop"
    [long] = lm.generate([GenerationRequest(prompt="anything", max_tokens=2)])
    assert long.samples[0].text == "one two" and long.samples[0].finish_reason == "length"
    assert len(long.samples[0].token_logprobs) == 2


def test_unmatched_prompt_without_default_names_the_prompt() -> None:
    with pytest.raises(LookupError, match="no generation rule.*hello"):
        FakeLM({"x": "y"}).generate([GenerationRequest(prompt="hello")])


def test_scores_from_table_function_and_hash() -> None:
    table = FakeLM(scores={" Paris": -1.0, ("ctx", " Rome"): -0.25})
    out = table.loglikelihood(
        [
            LoglikelihoodRequest(context="ctx", continuation=" Paris"),
            LoglikelihoodRequest(context="ctx", continuation=" Rome"),
        ]
    )
    assert [r.logprob for r in out] == [-1.0, -0.25]
    assert out[1].is_greedy and out[0].n_tokens == 1
    fn = FakeLM(scores=lambda context, continuation: -float(len(continuation)))
    assert fn.loglikelihood([LoglikelihoodRequest(context="a", continuation="abc")])[0].logprob == -3.0
    hashed = FakeLM()
    request = LoglikelihoodRequest(context="The sky is", continuation=" blue today")
    first, second = hashed.loglikelihood([request, request])
    assert first == second and first.n_tokens == 2 and -6.0 <= first.logprob <= -1.0
    other = hashed.loglikelihood([LoglikelihoodRequest(context="The sky is", continuation=" green today")])[0]
    assert other.logprob != first.logprob


def test_records_requests_and_batch_sizes() -> None:
    lm = FakeLM(default="x")
    lm.loglikelihood([LoglikelihoodRequest(context="a", continuation="b")] * 3)
    lm.generate([GenerationRequest(prompt="p")])
    assert lm.loglikelihood_batches == [3] and lm.generate_batches == [1] and lm.n_calls == 2
    assert lm.prompts == ["a", "a", "a", "p"]


def test_fingerprint_depends_on_the_script_only() -> None:
    assert FakeLM({"a": "b"}).fingerprint == FakeLM({"a": "b"}).fingerprint
    assert FakeLM({"a": "b"}).fingerprint != FakeLM({"a": "c"}).fingerprint
