"""Language-model backends, registered by name (`reasonkit.backends.registry`, group "reasonkit.backends").

Built in: the native engine, `reasonkit.backends.hf.HFLanguageModel` (any Hugging Face causal LM; the `hf`
extra) and `reasonkit.backends.openai.OpenAICompletionsLM` (an OpenAI-compatible server; the `openai` extra).
Import each from its module: this package stays free of heavy imports.
"""
