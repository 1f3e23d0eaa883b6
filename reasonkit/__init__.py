"""reasonkit: reasoning strategies on language models you train yourself.

    import reasonkit as rk

    lm = rk.load_model()
    prediction = rk.SelfConsistency(rk.ChainOfThought(shots=4), n=20).run(question, lm)

The names below load on first use (PEP 562), so `import reasonkit` and the command's start stay light: torch,
pydantic and the strategies load only when a name that needs them is used.
"""

from reasonkit.threads import set_threads, sleep_when_idle

sleep_when_idle()  # first: OpenMP reads the wait policy once, when torch loads

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Question": "reasonkit.types",
    "Prediction": "reasonkit.types",
    "Trace": "reasonkit.types",
    "LanguageModel": "reasonkit.protocol",
    "LoglikelihoodRequest": "reasonkit.protocol",
    "GenerationRequest": "reasonkit.protocol",
    "Strategy": "reasonkit.strategy",
    "build_strategy": "reasonkit.registry",
    "register_strategy": "reasonkit.registry",
    "available_strategies": "reasonkit.registry",
    "load_model": "reasonkit.models",
    "load_questions": "reasonkit.benchmarks.registry",
    "EvaluationPlan": "reasonkit.benchmarks.plan",
    "Direct": "reasonkit.strategies.direct",
    "ChainOfThought": "reasonkit.strategies.chain_of_thought",
    "SelfConsistency": "reasonkit.strategies.self_consistency",
    "Maieutic": "reasonkit.strategies.maieutic",
    "Scratchpad": "reasonkit.strategies.scratchpad",
    "WithMemory": "reasonkit.strategies.memory",
    "MemoryStore": "reasonkit.strategies.memory_store",
    "Retrieval": "reasonkit.strategies.retrieval",
    "Ensemble": "reasonkit.strategies.ensemble",
    "GeneratedKnowledge": "reasonkit.strategies.generated_knowledge",
    "LeastToMost": "reasonkit.strategies.least_to_most",
    "SelfAsk": "reasonkit.strategies.self_ask",
    "TreeOfThoughts": "reasonkit.strategies.tree_of_thoughts",
    "Verifier": "reasonkit.strategies.verifier",
    "DatasetSpec": "reasonkit.datasets",
    "register_dataset": "reasonkit.datasets",
}

__all__ = ["set_threads", *_LAZY]


def __getattr__(name: str) -> object:
    """Import the module that holds `name` on first use and keep the name here."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'reasonkit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
