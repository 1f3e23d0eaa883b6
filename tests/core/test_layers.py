"""The backend-neutral layer stands without `reasonkit.lm`: lm/ is our model, not a library other backends
need."""

from __future__ import annotations

import subprocess
import sys

NEUTRAL = (
    "reasonkit.encoding",
    "reasonkit.sampling",
    "reasonkit.decoding",
    "reasonkit.backends.hf",
    "reasonkit.backends.openai",
    "reasonkit.backends.builtin",
    "reasonkit.protocol",
)


def test_neutral_modules_and_other_backends_do_not_import_our_model() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {NEUTRAL!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'reasonkit.lm' or m.startswith('reasonkit.lm.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
