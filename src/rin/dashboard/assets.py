"""The page template and the static files, read from the package (nothing is fetched from the
internet at run time). uPlot is vendored unmodified: see static/uPlot.LICENSE.txt."""

from __future__ import annotations

import html
from functools import cache
from string import Template

#: everything /ui/static/ serves, with its content type; a name not here has no route at all
STATIC: dict[str, bytes] = {
    "dashboard.js": b"text/javascript; charset=utf-8",
    "dashboard.css": b"text/css; charset=utf-8",
    "uPlot.iife.min.js": b"text/javascript; charset=utf-8",
    "uPlot.min.css": b"text/css; charset=utf-8",
    "uPlot.LICENSE.txt": b"text/plain; charset=utf-8",
}


@cache
def static_file(name: str) -> bytes:
    if name not in STATIC:
        raise KeyError(name)
    from importlib.resources import files

    return files(__package__).joinpath("static", name).read_bytes()


@cache
def _template() -> Template:
    from importlib.resources import files

    return Template(files(__package__).joinpath("templates", "dashboard.html").read_text("utf-8"))


def render_page(*, version: str, key_required: bool, poll_ms: int) -> bytes:
    """The page shell. It carries no data: the script fetches that with the key."""
    values = {"version": version, "auth": "key" if key_required else "open", "poll_ms": str(poll_ms)}
    return _template().substitute({k: html.escape(v, quote=True) for k, v in values.items()}).encode()
