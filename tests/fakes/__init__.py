"""Test doubles for the far side of the network: fake OpenAI / Anthropic / OpenRouter servers."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .upstream import FakeUpstream, RecordedRequest

__all__ = ["FakeUpstream", "RecordedRequest"]


def __getattr__(name: str) -> Any:
    # Imported lazily so `python -m tests.fakes.upstream` does not import the module twice.
    if name in __all__:
        from . import upstream

        return getattr(upstream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
