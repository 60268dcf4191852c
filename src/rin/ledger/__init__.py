"""The spend ledger: one `spend_log` row per client request, written in batches off the request path.

    row.py       SpendRow (the table's columns), iso_utc / utc_now timestamps
    ledger.py    Ledger: record() -> buffer -> writer task; flush/close; health; report queries
    backend.py   the engine interface, database_url parsing, LedgerUnavailable
    engines.py   open_backend: the engine for a database_url
    sqlite.py    SQLite (default): writer + reader threads, WAL; its schema in sqlite_migrations.py
    writer.py    the SQLite writer process's gateway end
    postgres.py  PostgreSQL via asyncpg; its schema in postgres_migrations.py
    spill.py     local JSONL files holding rows while the database is unavailable
"""

from rin.ledger.backend import REPORT_BY, LedgerUnavailable, ReportBy, redact_url
from rin.ledger.ledger import Ledger
from rin.ledger.row import COLUMNS, CostSource, SpendRow, Status, iso_utc, utc_now

__all__ = [
    "COLUMNS",
    "REPORT_BY",
    "CostSource",
    "Ledger",
    "LedgerUnavailable",
    "ReportBy",
    "SpendRow",
    "Status",
    "iso_utc",
    "redact_url",
    "utc_now",
]
