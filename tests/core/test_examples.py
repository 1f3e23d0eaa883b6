"""The custom-strategy example runs as a user would run it: through the API, an entry point and the CLI."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import reasonkit.models
from reasonkit import registry
from reasonkit.cli import main
from reasonkit.fake import FakeLM
from reasonkit.protocol import GenerationRequest, LoglikelihoodRequest
from reasonkit.registry import available_strategies, build_strategy, register_strategy
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_strategy"
MODULE = "reasonkit_ask_twice"


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The example's module and registrations vanish after each test; built-in strategies are not needed."""
    monkeypatch.setattr(registry, "_state", registry._new_state(builtins_loaded=True))
    use_entry_points(monkeypatch, [])
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    yield
    sys.modules.pop(MODULE, None)


def use_entry_points(monkeypatch: pytest.MonkeyPatch, points: list[importlib.metadata.EntryPoint]) -> None:
    """Pretend `points` are the installed strategy plugins; other groups (e.g. networkx's) stay real."""
    real = importlib.metadata.entry_points

    def entry_points(**selection: str) -> object:
        return points if selection.get("group") == registry.ENTRY_POINT_GROUP else real(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def declared_entry_point() -> importlib.metadata.EntryPoint:
    """The entry point exactly as the example's pyproject.toml declares it."""
    pyproject = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    group = registry.ENTRY_POINT_GROUP
    [(name, value)] = pyproject["project"]["entry-points"][group].items()
    return importlib.metadata.EntryPoint(name=name, value=value, group=group)


def fake_lm() -> FakeLM:
    """Drafts 'water' for fish, 'trees' for birds; the option that repeats the draft scores best."""
    return FakeLM(
        {"fish": "water\nmore text", "birds": "trees"},
        scores=lambda context, continuation: 0.0 if continuation.strip() in context else -5.0,
    )


QUESTIONS = [
    Question(id="fish", text="Where do fish live?", options=("trees", "water"), gold=1),
    Question(id="birds", text="Where do birds nest?", options=("water", "trees"), gold=1),
]


def test_the_example_strategy_runs_through_the_api() -> None:
    import reasonkit_ask_twice  # noqa: F401  (registers "ask_twice")

    lm = fake_lm()
    strategy = build_strategy("ask_twice(max_tokens=4)")
    predictions = strategy.run_many(QUESTIONS, lm)
    assert [p.is_correct(q) for p, q in zip(predictions, QUESTIONS, strict=True)] == [True, True]
    assert predictions[0].trace.steps["draft"] == "water"
    assert (
        predictions[0].trace.calls[0].request["prompt"]
        == "Question: Where do fish live?\nAnswer in a few words:"
    )
    assert predictions[0].trace.calls[0].request["max_tokens"] == 4
    assert lm.generate_batches == [2] and lm.loglikelihood_batches == [4]


def test_the_entry_point_declared_by_the_example_finds_the_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    point = declared_entry_point()
    use_entry_points(monkeypatch, [point])
    assert MODULE not in sys.modules
    info = available_strategies()[point.name]
    assert info.origin == "plugin" and info.cls.__module__ == MODULE
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    assert point.name in result.output and "plugin" in result.output


def test_the_cli_runs_the_plugin_on_a_fake_backed_model(monkeypatch: pytest.MonkeyPatch) -> None:
    point = declared_entry_point()
    use_entry_points(monkeypatch, [point])
    monkeypatch.setattr(reasonkit.models, "load_model", lambda spec, **kw: fake_lm())
    args = ["ask", "Where do fish live?", "--option", "trees", "--option", "water", "--strategy", "ask_twice"]
    shown = CliRunner().invoke(main, args)
    assert shown.exit_code == 0, shown.output
    assert (
        "Answer in a few words:" in shown.output
        and "draft" in shown.output
        and "answer: 1 (water)" in shown.output
    )
    as_json = CliRunner().invoke(main, [*args, "--json"])
    prediction = Prediction.model_validate_json(as_json.output)
    assert prediction.answer == 1 and prediction.trace.strategy == "ask_twice"


def test_the_cli_runs_the_plugin_on_the_tiny_trained_model(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    use_entry_points(monkeypatch, [declared_entry_point()])
    args = [
        "ask",
        "Is ice cold?",
        "--binary",
        "--strategy",
        "ask_twice(max_tokens=3)",
        "--model",
        str(tiny_model_dir),
    ]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    prediction = Prediction.model_validate_json(result.output)
    assert prediction.answer in (True, False) and set(prediction.scores) == {"True", "False"}
    assert [c.kind for c in prediction.trace.calls] == ["generate", "loglikelihood", "loglikelihood"]


def test_ask_with_a_cache_answers_again_without_the_model(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path
) -> None:
    use_entry_points(monkeypatch, [declared_entry_point()])
    cache = tmp_path / "lm-cache.sqlite"
    args = [
        "ask",
        "Is ice cold?",
        "--binary",
        "--strategy",
        "ask_twice(max_tokens=3)",
        "--model",
        str(tiny_model_dir),
    ]
    first = CliRunner().invoke(main, [*args, "--cache", str(cache), "--json"])
    second = CliRunner().invoke(main, [*args, "--cache", str(cache), "--json"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    before, after = (Prediction.model_validate_json(r.output) for r in (first, second))
    assert not any(c.cached for c in before.trace.calls) and all(c.cached for c in after.trace.calls)
    assert (after.answer, after.scores) == (before.answer, before.scores)
    shown = CliRunner().invoke(main, [*args, "--cache", str(cache)])
    assert "cached" in shown.output and "3 hits, 0 misses, 3 entries" in " ".join(shown.output.split())


def test_ask_says_when_no_default_model_is_bundled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import reasonkit_ask_twice  # noqa: F401

    monkeypatch.setattr(reasonkit.models, "default_model_dir", lambda: tmp_path / "default_model")
    result = CliRunner().invoke(main, ["ask", "Is it?", "--binary", "--strategy", "ask_twice"])
    assert result.exit_code == 2 and "no default model is bundled" in result.output


def test_cli_errors_name_the_bad_argument(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(main, ["ask", "Why?", "--binary", "--option", "a", "--option", "b"])
    assert both.exit_code == 2 and "not both" in both.output
    one_option = runner.invoke(main, ["ask", "Why?", "--option", "a"])
    assert one_option.exit_code == 2 and "field 'options' needs at least 2 options" in one_option.output
    assert "pydantic" not in one_option.output and "http" not in one_option.output
    bad_spec = runner.invoke(main, ["ask", "Is it?", "--binary", "--strategy", "ask_twcie"])
    assert bad_spec.exit_code == 2 and "unknown strategy 'ask_twcie'" in bad_spec.output
    import reasonkit_ask_twice  # noqa: F401

    missing = runner.invoke(
        main, ["ask", "Is it?", "--binary", "--strategy", "ask_twice", "--model", str(tmp_path / "nope")]
    )
    assert missing.exit_code == 2 and "no such folder" in missing.output


def test_ask_prints_a_node_link_tree_from_the_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    @register_strategy("tree_maker")
    class TreeMaker(Strategy):
        """Puts a tree of explanations in its trace."""

        async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
            tree = {
                "directed": True,
                "multigraph": False,
                "graph": {},
                "nodes": [
                    {"id": "Q", "text": question.text},
                    {"id": "QT0", "text": "Ice is frozen water.", "belief": 0.9},
                    {"id": "QT0F0", "text": "Ice can be hot."},
                ],
                "edges": [{"source": "Q", "target": "QT0"}, {"source": "QT0", "target": "QT0F0"}],
            }
            unpruned = {
                **tree,
                "nodes": [
                    *tree["nodes"],
                    {"id": "QT1", "text": "Ice is a gas.", "belief": [0.7737323542232188, 0.1]},
                ],
                "edges": [*tree["edges"], {"source": "Q", "target": "QT1"}],
            }
            return Prediction(
                question_id=question.id,
                answer=True,
                trace=Trace(steps={"tree": tree, "unpruned_tree": unpruned, "depth": 2}),
            )

    monkeypatch.setattr(reasonkit.models, "load_model", lambda spec, **kw: FakeLM())
    result = CliRunner().invoke(main, ["ask", "Is ice cold?", "--binary", "--strategy", "tree_maker"])
    assert result.exit_code == 0, result.output
    everything = result.output.splitlines()
    [cut] = [i for i, line in enumerate(everything) if "unpruned_tree (4 nodes)" in line]
    lines, unpruned_lines = everything[:cut], everything[cut:]
    [root] = [i for i, line in enumerate(lines) if "Q: Is ice cold?" in line]
    [child] = [i for i, line in enumerate(lines) if "QT0: Ice is frozen water." in line]
    [grandchild] = [i for i, line in enumerate(lines) if "QT0F0: Ice can be hot." in line]
    assert root < child < grandchild
    indent = [len(lines[i]) - len(lines[i].lstrip(" │├└─")) for i in (root, child, grandchild)]
    assert indent[0] < indent[1] < indent[2]
    assert '"belief": 0.9' in lines[child] and json.dumps(2) in result.output
    assert "tree (3 nodes)" in result.output and "Ice is a gas." not in "\n".join(lines)
    assert any("QT1: Ice is a gas." in line and '"belief": [0.774, 0.1]' in line for line in unpruned_lines)


def test_ask_without_options_asks_a_free_form_question(monkeypatch: pytest.MonkeyPatch) -> None:
    @register_strategy("echo_first_line")
    class EchoFirstLine(Strategy):
        """Answers with the first line the model generates."""

        async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
            [out] = await lm.generate([GenerationRequest(prompt=question.text, stop=("\n",))])
            return Prediction(question_id=question.id, answer=out.samples[0].text.strip())

    monkeypatch.setattr(reasonkit.models, "load_model", lambda spec, **kw: FakeLM({"12 + 30": " 42\nmore"}))
    result = CliRunner().invoke(main, ["ask", "12 + 30 =", "--strategy", "echo_first_line", "--json"])
    assert result.exit_code == 0, result.output
    assert Prediction.model_validate_json(result.output).answer == "42"
    shown = CliRunner().invoke(main, ["ask", "12 + 30 =", "--strategy", "echo_first_line"])
    assert "free form question" in shown.output and "answer: 42" in shown.output


def test_ask_prints_a_few_lm_calls_in_full_and_counts_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    @register_strategy("many_calls")
    class ManyCalls(Strategy):
        """Scores the statement ten times, one call at a time."""

        async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
            for number in range(10):
                await lm.loglikelihood(
                    [LoglikelihoodRequest(context=f"call {number}:", continuation=" True")]
                )
            return Prediction(question_id=question.id, answer=True)

    monkeypatch.setattr(reasonkit.models, "load_model", lambda spec, **kw: FakeLM())
    args = ["ask", "Is ice cold?", "--binary", "--strategy", "many_calls"]
    default = CliRunner().invoke(main, args)
    assert default.exit_code == 0, default.output
    assert "call 2:" in default.output and "call 3:" not in default.output
    assert "7 more not shown (--calls all prints them)" in default.output
    every = CliRunner().invoke(main, [*args, "--calls", "all"])
    assert "call 9:" in every.output and "more not shown" not in every.output
    quiet = CliRunner().invoke(main, [*args, "--quiet"])
    assert quiet.exit_code == 0 and quiet.output.strip() == "answer: True"
    bad = CliRunner().invoke(main, [*args, "--calls", "some"])
    assert bad.exit_code == 2 and "expected a number of calls or 'all', got 'some'" in bad.output


def test_ask_refuses_an_answer_given_as_option_text_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    @register_strategy("says_the_text")
    class SaysTheText(Strategy):
        """Answers with the first option's text instead of its index."""

        async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
            assert question.options is not None
            return Prediction(question_id=question.id, answer=question.options[0])

    monkeypatch.setattr(reasonkit.models, "load_model", lambda spec, **kw: FakeLM())
    args = [
        "ask",
        "Where do fish live?",
        "--option",
        "water",
        "--option",
        "trees",
        "--strategy",
        "says_the_text",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the answer 'water' is an option's text; answer with its index, 0" in result.output
