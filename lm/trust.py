"""Which code a model folder or a recipe may name.

A model folder's `position_scheme` and a recipe's formatters, generators and position scheme are
'package.module:function' import paths: importing and calling them runs code, so a folder or a recipe from
someone else could run anything (`os:system`). Only reasonkit's own functions, listed here, are imported
without asking; any other path is refused unless the user opts in with REASONKIT_TRUST_CODE=1 (like
`trust_remote_code` in transformers), and the refusal says so.
"""

from __future__ import annotations

import os

TRUST_CODE_ENV = "REASONKIT_TRUST_CODE"

POSITION_SCHEMES: dict[str, str] = {
    "coupled": "reasonkit.strategies.arithmetic_positions:coupled_positions",
}

_PROMPTS = "reasonkit.strategies.prompts"
_ARITHMETIC = "reasonkit.strategies.arithmetic_format"
_MAIEUTIC = "reasonkit.strategies.maieutic"
FORMATTERS: frozenset[str] = frozenset(
    {
        *(
            f"{_PROMPTS}:{name}"
            for name in (
                "csqa_direct_text",
                "csqa_cot_text",
                "csqa2_direct_text",
                "strategyqa_cot_text",
                "strategyqa_direct_text",
                "creak_cot_text",
                "creak_direct_text",
                "mc_direct_text",
                "question_cot_text",
                "question_direct_text",
            )
        ),
        f"{_ARITHMETIC}:scratchpad_text",
        f"{_ARITHMETIC}:direct_text",
        f"{_MAIEUTIC}:abductive_text",
        f"{_MAIEUTIC}:belief_text",
        "reasonkit.strategies.memory:corrections_text",
        "reasonkit.strategies.relations:nli_text",
        "reasonkit.strategies.least_to_most:chain_text",
        "reasonkit.strategies.self_ask:self_ask_text",
        "reasonkit.strategies.self_ask:direct_text",
        "reasonkit.strategies.rationalization:hinted_cot_text",
        "reasonkit.benchmarks.synthetic.countdown:tree_text",
    }
)
GENERATORS: frozenset[str] = frozenset(
    {
        "reasonkit.benchmarks.synthetic:rows",
        "reasonkit.benchmarks.synthetic.corrections:note_drill_rows",
        "reasonkit.benchmarks.synthetic.consistency:abductive_drill_rows",
        "reasonkit.benchmarks.synthetic.consistency:nli_drill_rows",
        "reasonkit.benchmarks.synthetic.world:belief_drill_rows",
    }
)
BUILT_IN: dict[str, frozenset[str]] = {
    "position_scheme": frozenset(POSITION_SCHEMES.values()),
    "formatter": FORMATTERS,
    "generator": GENERATORS,
}


class UntrustedCodeError(ValueError):
    """A model folder or a recipe names code outside reasonkit's built-ins, and the user has not opted in."""


def code_trusted() -> bool:
    return os.environ.get(TRUST_CODE_ENV, "") == "1"


def resolve_code(spec: str, role: str) -> str:
    """The import path `spec` stands for (a built-in scheme's short name resolved); refused when it is not
    one of reasonkit's built-ins for `role` and the user has not opted in."""
    target = POSITION_SCHEMES.get(spec, spec) if role == "position_scheme" else spec
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{role} {spec!r} must look like 'package.module:function'")
    if target in BUILT_IN.get(role, frozenset()) or code_trusted():
        return target
    names = f" (built-in: {', '.join(sorted(POSITION_SCHEMES))})" if role == "position_scheme" else ""
    raise UntrustedCodeError(
        f"{role} {spec!r} names code outside reasonkit's built-ins{names}; importing it runs that code, "
        f"set {TRUST_CODE_ENV}=1 to allow it for model folders and recipes you trust"
    )
