"""The fault vocabulary: which misbehaviour a requested model name asks the fake upstream for.

A fault word is a substring of the model name; the leftmost one wins (`gpt-4o-fail-429-ra5`,
`claude-slow300`). `set_fault()` on the server overrides by exact model name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Alternation order matters only where one word prefixes another at the same position.
_FAULT_RE = re.compile(
    r"fail-429-ra(?P<ra>\d+)|fail-(?P<status>400|401|403|429|500|502|503|529)"
    r"|flaky(?P<flaky>\d+)|slow(?P<slow>\d+)"
    r"|ctx-overflow|content-policy|reset|silent|stall-mid|cut-mid|garbage|error-in-stream|usage-cost"
)

#: Kinds that answer with an HTTP error status before any body is sent.
STATUS_KINDS = frozenset({"status", "ctx-overflow", "content-policy"})


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed fault: `kind` plus the number it carries, if any."""

    kind: str  # "status", "flaky", "slow", or the fault word itself
    status: int = 0  # for kind "status" (also 400 for ctx-overflow / content-policy)
    retry_after: int = 1  # seconds, for status 429
    n: int = 0  # flaky: failures before success; slow: milliseconds


@lru_cache(maxsize=4096)
def parse_fault(name: str | None) -> Fault | None:
    """The fault a model name (or a `set_fault` value) asks for, or None for the happy path."""
    if not name:
        return None
    m = _FAULT_RE.search(name)
    if m is None:
        return None
    if m["ra"] is not None:
        return Fault("status", status=429, retry_after=int(m["ra"]))
    if m["status"] is not None:
        return Fault("status", status=int(m["status"]))
    if m["flaky"] is not None:
        return Fault("flaky", n=int(m["flaky"]))
    if m["slow"] is not None:
        return Fault("slow", n=int(m["slow"]))
    word = m[0]
    if word == "usage-cost":
        return None  # OpenRouter always reports usage.cost; nothing to inject
    if word in ("ctx-overflow", "content-policy"):
        return Fault(word, status=400)
    return Fault(word)
