"""Language-model backends beyond the project's own GPT engine.

`reasonkit.backends.hf.HFLanguageModel` runs any Hugging Face causal LM (needs the `hf` extra). Import it
from its module: this package stays free of heavy imports.
"""
