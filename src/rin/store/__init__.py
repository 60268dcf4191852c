"""What RIN keeps for clients between requests, in the ledger's database.

    responses.py  ResponseStore: Responses API responses by id, per caller, bounded
"""

from rin.store.responses import ResponseStore

__all__ = ["ResponseStore"]
