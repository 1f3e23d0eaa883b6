"""reasonkit: reasoning strategies on language models you train yourself."""

from reasonkit.threads import set_threads, sleep_when_idle

__version__ = "0.1.0"
__all__ = ["set_threads"]

sleep_when_idle()
