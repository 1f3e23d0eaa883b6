"""reasonkit: reasoning strategies on language models you train yourself."""

__version__ = "0.1.0"
