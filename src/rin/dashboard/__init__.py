"""The dashboard at `/ui`: one server-rendered page that polls a small JSON API.

    routes.py   the handlers and `ROUTES` (merged into the app's route table) and `PUBLIC`
    state.py    what the page shows: models, budgets, recent requests, sync status
    series.py   spend per day per model / provider / user, for the chart
    sync.py     the "Sync now" button over the runtime's catalogue sync
    assets.py   the page template and the static files (the whitelist /ui/static/ serves)
    redact.py   the last guard before a byte leaves: no configured secret reaches the page

Auth: the page shell and its static files are public (they hold no data); every `/ui/api/*`
call carries the master key as `Authorization: Bearer`, which the page keeps in sessionStorage
after asking for it, so the app's ordinary key check guards the data and no cookie (and so no
CSRF) is involved.
"""

from rin.dashboard.routes import PUBLIC, ROUTES

__all__ = ["PUBLIC", "ROUTES"]
