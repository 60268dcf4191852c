"""Money as text: the one place that writes an exact Decimal for storage. A leaf module (no other
rin import), so that the ledger's writer process (rin.spend_writer) starts fast."""

from __future__ import annotations

from decimal import Decimal

__all__ = ["decimal_text"]


def decimal_text(value: Decimal) -> str:
    """The exact value in plain notation (`0.0000001`, never `1E-7`), as stored in SQLite."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
