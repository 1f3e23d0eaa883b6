"""Direct scoring's cheap variants: contextual calibration, noisy channel, few-shot, template ensembles."""

from __future__ import annotations

import math

import pytest

from reasonkit.fake import FakeLM
from reasonkit.registry import build_strategy
from reasonkit.strategies import prompts
from reasonkit.strategies.direct import CONTENT_FREE_INPUTS, Direct
from reasonkit.strategies.exemplars import load_exemplars, normalize_text
from reasonkit.strategies.templates import Template, load_templates
from reasonkit.types import Question

MC = Question(id="m", text="Where is a book kept?", options=("shelf", "oven"), gold=0)
STATEMENT = Question(id="s", text="Soup is a solid.", gold=False)
NOTED = Question(id="n", text="Note: soup is hot.\nSoup is a solid.", gold=False)


@pytest.mark.parametrize(
    ("text", "options", "options_line"),
    [
        (MC.text, MC.options, True),
        (MC.text, MC.options, False),
        (STATEMENT.text, None, True),
        (NOTED.text, None, True),
        ("Note: a.\nWhich?", ("x", "y"), True),
    ],
)
def test_the_default_template_is_the_trained_format(text, options, options_line) -> None:
    shipped = load_templates()["default"]
    kind = "binary" if options is None else "multiple_choice"
    expected = prompts.direct_prompt(text, options, kind, options_line)
    assert shipped == Template() and shipped.prompt(text, options, kind, options_line) == expected
    assert [f" {v}" for v in shipped.verbalised(options)] == prompts.direct_continuations(options)


def test_calibration_divides_out_the_content_free_prior_and_is_scored_once_per_prompt() -> None:
    """The model says True whatever it reads: -0.2 vs -1.8 for the content-free inputs, -0.5 vs -0.9 for the
    statement. Raw picks True; calibrated, False is less unlikely than the model's prior for it."""

    def table(context: str, continuation: str) -> float:
        content_free = any(f"True or false: {cf}".rstrip() + "\n" in context for cf in CONTENT_FREE_INPUTS)
        if content_free:
            return -0.2 if continuation == " True" else -1.8
        return -0.5 if continuation == " True" else -0.9

    lm = FakeLM(scores=table)
    assert Direct(normalization="raw").run(STATEMENT, lm).answer is True
    lm = FakeLM(scores=table)
    calibrated = Direct(normalization="raw", calibrate=True)
    prediction = calibrated.run(STATEMENT, lm)
    assert prediction.answer is False and prediction.is_correct(STATEMENT)
    prior_true = 1 / (1 + math.exp(-1.6))
    calibration = prediction.trace.steps["calibration"]
    assert calibration["prior"]["True"] == pytest.approx(prior_true)
    log_z = math.log(math.exp(-0.5) + math.exp(-0.9))
    assert prediction.scores["False"] == pytest.approx(-0.9 - log_z - math.log(1 - prior_true))
    assert prediction.scores == calibration["scores"]
    contexts = {r.context for r in lm.requests}
    assert "Question: True or false: N/A\nAnswer:" in contexts
    assert "Question: True or false:\nAnswer:" in contexts  # the empty input, no dangling space
    # within a run the content-free prompts are scored once, also while the questions run concurrently: each
    # statement adds its own 4 requests (2 + MI)
    more = [Question(id=f"s{i}", text=f"Ice is cold {i}.", gold=True) for i in range(3)]
    predictions = calibrated.run_many([STATEMENT, *more], FakeLM(scores=table))
    calls = [len(p.trace.calls) for p in predictions]
    assert sum(calls) == 4 * 4 + 2 * len(CONTENT_FREE_INPUTS) and sorted(calls) == [4, 4, 4, 10]


def test_calibration_of_multiple_choice_keeps_the_question_s_options() -> None:
    lm = FakeLM()
    prediction = Direct(calibrate=True, content_free=("N/A",)).run(MC, lm)
    assert "Question: N/A\nOptions: (A) shelf (B) oven\nAnswer:" in {r.context for r in lm.requests}
    assert set(prediction.trace.steps["calibration"]["prior"]) == {"shelf", "oven"}


def test_channel_scores_the_question_after_each_choice() -> None:
    table = {
        ("Answer: shelf\nQuestion:", " Where is a book kept?"): -3.0,
        ("Answer: oven\nQuestion:", " Where is a book kept?"): -6.0,
    }
    lm = FakeLM(scores=table)
    prediction = Direct(channel=True).run(MC, lm)
    assert prediction.answer == 0
    assert {(r.context, r.continuation) for r in lm.requests} == set(table)  # no unconditional requests
    assert prediction.trace.steps["channel"] is True and "mi" not in prediction.trace.steps["scores"]
    statement = Direct(channel=True).run(NOTED, lm := FakeLM())
    assert {r.context for r in lm.requests} == {
        "Note: soup is hot.\nAnswer: True\nQuestion: True or false:",
        "Note: soup is hot.\nAnswer: False\nQuestion: True or false:",
    }
    assert lm.requests[0].continuation == " Soup is a solid." and statement.answer in (True, False)
    with pytest.raises(ValueError, match="mi"):
        Direct(channel=True, normalization="mi")


@pytest.mark.parametrize("channel", [False, True])
def test_few_shot_puts_shipped_train_exemplars_first_in_the_same_form(channel: bool) -> None:
    question = MC.model_copy(update={"metadata": {"benchmark": "csqa"}})
    lm = FakeLM()
    prediction = Direct(shots=3, channel=channel).run(question, lm)
    shipped = {e.id: e for e in load_exemplars("commonsenseqa")}
    used = prediction.trace.steps["exemplars"]
    assert len(used) == 3 and set(used) <= set(shipped)
    context = lm.requests[0].context
    blocks = context.split(prompts.EXEMPLAR_SEPARATOR)
    assert len(blocks) == 4
    first = shipped[used[0]]
    assert normalize_text(first.question) in normalize_text(blocks[0])
    answer = first.options[first.answer]
    if channel:
        assert blocks[0].startswith(f"Answer: {answer}\nQuestion:")
    else:
        assert blocks[0].endswith(f"Answer: {answer}") and "Options:" in blocks[0]
    # the same exemplars for every question of the benchmark (a shared prefix)
    other = question.model_copy(update={"id": "m2", "text": "What is hot?"})
    assert Direct(shots=3).run(other, FakeLM()).trace.steps["exemplars"] == used


def test_template_ensemble_pools_each_template_s_log_softmax() -> None:
    lm = FakeLM()
    prediction = Direct(templates=("default", "short", "yes_no")).run(STATEMENT, lm)
    steps = prediction.trace.steps
    assert set(steps["templates"]) == {"default", "short", "yes_no"}
    assert steps["templates"]["yes_no"]["continuations"] == [" Yes", " No"]
    assert (
        steps["templates"]["yes_no"]["prompt"]
        == "Statement: Soup is a solid.\nIs the statement true?\nAnswer:"
    )
    for label in ("True", "False"):
        expected = 0.0
        for name in ("default", "short", "yes_no"):
            raw = steps["templates"][name]["scores"]["char"]
            expected += raw[label] - math.log(sum(math.exp(v) for v in raw.values()))
        assert prediction.scores[label] == pytest.approx(expected / 3)
    assert steps["pooled"] == prediction.scores


def test_variants_are_specs_and_keep_old_run_folders() -> None:
    strategy = build_strategy("direct(calibrate=True, channel=True, shots=2, templates=('default', 'short'))")
    assert isinstance(strategy, Direct) and strategy.templates == ("default", "short")
    assert strategy.config()["calibrate"] is True and "content_free" not in strategy.config()
    assert build_strategy(strategy.config()) == strategy
    assert Direct().config() == {
        "name": "direct",
        "normalization": "char",
        "unconditional_context": "Answer:",
    }
    with pytest.raises(ValueError, match="unknown templates"):
        Direct(templates=("nope",))
    with pytest.raises(ValueError, match="shots"):
        Direct(shots=-1)


def test_ensemble_can_pool_the_variants_scores() -> None:
    ensemble = build_strategy(
        "ensemble(members=(direct(), direct(calibrate=True), direct(channel=True)), vote='scores')"
    )
    prediction = ensemble.run(MC, FakeLM())
    members = prediction.trace.steps["members"]
    assert [set(m["scores"]) for m in members] == [{"shelf", "oven"}] * 3
    assert prediction.scores == pytest.approx(
        {label: sum(m["scores"][label] for m in members) for label in ("shelf", "oven")}
    )


def test_template_fields_are_checked() -> None:
    with pytest.raises(ValueError, match="question"):
        Template(question="no slot")
    with pytest.raises(ValueError, match="options"):
        Template(options="Options: none")


@pytest.mark.slow
def test_every_variant_on_the_real_tiny_model(tiny_engine) -> None:
    questions = [
        Question(
            id="r1",
            text="Where would you keep a book?",
            options=("shelf", "oven", "river"),
            gold=0,
            metadata={"benchmark": "csqa"},
        ),
        Question(id="r2", text="The sun rises in the east.", gold=True, metadata={"benchmark": "creak"}),
    ]
    # the tiny model's window (128 tokens) holds one shot of a true/false exemplar, not of a CSQA one
    variants = [
        (Direct(calibrate=True), questions),
        (Direct(channel=True), questions),
        (Direct(templates=("default", "short", "yes_no")), questions),
        (Direct(shots=1), questions[1:]),
        (Direct(calibrate=True, channel=True, shots=1, templates=("default", "short")), questions[1:]),
    ]
    for variant, asked in variants:
        for question, prediction in zip(asked, variant.run_many(asked, tiny_engine), strict=True):
            assert prediction.answer in (range(3) if question.options else (True, False))
            assert set(prediction.scores) == set(question.choices)
            assert all(math.isfinite(v) for v in prediction.scores.values())
            calls = prediction.trace.calls
            assert calls and all(c.kind == "loglikelihood" and c.output["logprob"] < 0 for c in calls)
