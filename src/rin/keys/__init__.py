"""Virtual keys: hashed in the ledger's database, checked in memory on the request path.

    model.py   VirtualKey, generate_key, hash_key (SHA-256 of the whole key), preview_of
    fields.py  the settable fields under LiteLLM's names, validated once (admin API and CLI)
    store.py   KeyStore: table rin_keys via the ledger backends (SQLite, PostgreSQL)
    ring.py    KeyRing: the in-memory view the request path checks, refreshed from the store
    admin.py   KeyAdmin: /key/generate, /key/info, /key/update, /key/delete, /key/list
    cli.py     `rin keys create | list | revoke`
"""

from rin.keys.model import VirtualKey, generate_key, hash_key, preview_of
from rin.keys.ring import KeyRing
from rin.keys.store import KeyStore

__all__ = ["KeyRing", "KeyStore", "VirtualKey", "generate_key", "hash_key", "preview_of"]
