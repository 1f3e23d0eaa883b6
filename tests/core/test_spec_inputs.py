"""Strategy specs a user (or a fuzzer) gets wrong: only StrategySpecError comes out, with a short message."""

from __future__ import annotations

import warnings
from inspect import signature
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reasonkit.protocol import MAX_NEW_TOKENS, MAX_SAMPLES, GenerationRequest
from reasonkit.registry import StrategySpecError, available_strategies, build_strategy

NAMES = sorted(available_strategies())
OPTIONS = sorted(
    {option for info in available_strategies().values() for option in signature(info.cls).parameters}
)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "direct(normalization={[1]: 2})",
            r"option 'normalization': the dict key \[1\] is not a string or a number",
        ),
        (
            "direct(normalization={a: 1})",
            r"option 'normalization': the dict key a is not a string or a number",
        ),
        ("cot\ud800", r"is not valid: a lone surrogate"),
        ("cot\x00", r"is not valid: source code string cannot contain null bytes$"),
        ("cot(shots=" + "[" * 10_000 + "]" * 10_000 + ")", r"is not valid: too many nested parentheses"),
    ],
    ids=["unhashable-key", "name-key", "surrogate", "nul", "deep"],
)
def test_bad_spec_strings_give_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(StrategySpecError, match=message) as raised:
        build_strategy(spec)
    assert len(str(raised.value)) < 600


def test_a_dict_spec_nested_too_deeply_gives_a_short_spec_error() -> None:
    spec: dict[str, Any] = {"name": "cot"}
    for _ in range(5_000):
        spec = {"name": "self_consistency", "inner": spec}
    with pytest.raises(StrategySpecError, match=r"is nested too deeply$") as raised:
        build_strategy(spec)
    assert len(str(raised.value)) < 600


def test_a_spec_with_odd_literals_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(StrategySpecError):
            build_strategy("cot(shots=1x)")


literals = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | st.sampled_from(NAMES),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "inner", "n", "a"]) | st.text(max_size=3), inner, max_size=3
        )
    ),
    max_leaves=8,
)


@st.composite
def dict_specs(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    options = draw(st.dictionaries(st.sampled_from(OPTIONS), literals, max_size=3))
    if depth < 2 and draw(st.booleans()):
        options[draw(st.sampled_from(["inner", "members"]))] = draw(dict_specs(depth + 1))
    return {"name": draw(st.sampled_from([*NAMES, "nope"])), **options}


def as_string(spec: Any) -> str:
    if isinstance(spec, dict) and isinstance(spec.get("name"), str):
        options = ", ".join(f"{key}={as_string(value)}" for key, value in spec.items() if key != "name")
        return f"{spec['name']}({options})"
    return repr(spec)


spec_text = st.lists(
    st.sampled_from(
        [
            *NAMES,
            "(",
            ")",
            "=",
            ",",
            "[",
            "]",
            "{",
            "}",
            ":",
            " ",
            "n",
            "inner",
            "1",
            "-1",
            "0.5",
            "1e999",
            "'a'",
            "None",
            "*",
            "**",
            "lambda x: x",
            "x.y",
            "f'{x}'",
            "1j",
            "...",
            "\\",
            "#",
            "\n",
            "\x00",
            "\ud800",
            "é",
            "{[1]: 2}",
            "{a: 1}",
        ]
    ),
    max_size=14,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(dict_specs(), dict_specs().map(as_string), spec_text, st.text(max_size=40)))
def test_fuzzed_specs_build_or_give_a_spec_error(spec: str | dict[str, Any]) -> None:
    try:
        strategy = build_strategy(spec)
    except StrategySpecError as error:
        assert "\n" not in str(error).strip() or "\n" in repr(spec)
    else:
        assert build_strategy(strategy.config()).config() == strategy.config()


@pytest.mark.parametrize(
    ("spec", "option", "limit"),
    [
        ("self_consistency(n=1000000000)", "self_consistency', option 'n'", "256"),
        ("cot(max_tokens=10000000)", "cot', option 'max_tokens'", "32768"),
        ("maieutic(n_first=100000)", "maieutic', option 'n_first'", "256"),
        ("maieutic(n_deeper=257)", "maieutic', option 'n_deeper'", "256"),
        ("maieutic(max_tokens=40000)", "maieutic', option 'max_tokens'", "32768"),
        ("scratchpad(max_tokens=99999999)", "scratchpad', option 'max_tokens'", "32768"),
        ("self_consistency(inner=cot(max_tokens=32769))", "cot', option 'max_tokens'", "32768"),
    ],
)
def test_samples_and_new_tokens_are_bounded_when_the_spec_is_built(
    spec: str, option: str, limit: str
) -> None:
    with pytest.raises(StrategySpecError, match=rf"^strategy '{option} = \d+: more than {limit}, the most "):
        build_strategy(spec)


def test_the_bounds_are_inclusive_and_requests_keep_them_too() -> None:
    assert build_strategy(f"self_consistency(n={MAX_SAMPLES})").n == MAX_SAMPLES
    assert build_strategy(f"cot(max_tokens={MAX_NEW_TOKENS})").max_tokens == MAX_NEW_TOKENS
    with pytest.raises(ValidationError, match=f"more than {MAX_SAMPLES}"):
        GenerationRequest(prompt="x", n=MAX_SAMPLES + 1)
    with pytest.raises(ValidationError, match=f"more than {MAX_NEW_TOKENS}"):
        GenerationRequest(prompt="x", max_tokens=10**9)
