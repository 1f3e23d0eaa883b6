"""`reasonkit serve`: an OpenAI-compatible HTTP server for any backend (needs the `serve` extra)."""
