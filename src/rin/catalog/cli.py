"""`rin sync-models` (and scripts/sync_models.sh): fetch the catalogue now, say what changed, and
tell the running gateway (rin.runfile) to serve it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import orjson

from rin import runfile
from rin.catalog.expand import expand, is_synced, missing_warning, openrouter_access
from rin.catalog.model import CatalogError
from rin.catalog.store import load_catalog
from rin.catalog.sync import SyncError, SyncResult, models_url, sync_catalog
from rin.config.resolved import Config

_SHOWN = 15


def run_sync_models(config_path: str | None, *, url: str | None = None, out: TextIO | None = None,
                    err: TextIO | None = None) -> int:
    """Sync the catalogue for the config at `config_path` (None: $RIN_CONFIG, else the default), then
    tell the gateway that uses the same data folder (its run file), or the one at `url`, to reload.
    0 on success; 1, with the reason on stderr and the old file kept, on failure."""
    from rin.bootstrap import config_path as resolve_path, load_dotenv_file
    from rin.config import ConfigError, load_config

    out, err = out or sys.stdout, err or sys.stderr
    load_dotenv_file()
    path = resolve_path(config_path)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"rin sync-models: the config {path} has errors:\n{exc}", file=err)
        return 1
    if not config.catalog.enabled:
        print(f"rin sync-models: the catalogue is turned off in {path} (catalog.enabled: false)", file=err)
        return 1
    access = openrouter_access(config.deployments, config.openrouter)
    print(f"Fetching {models_url(access)} ...", file=out, flush=True)
    if not access.api_key:
        print("note: OPENROUTER_API_KEY is not set: the catalogue is public, but its models stay "
              "disabled until the key is set", file=out)
    try:
        result = asyncio.run(sync_catalog(config))
    except SyncError as exc:
        print(f"rin sync-models: failed: {exc}", file=err)
        print(f"rin sync-models: {_kept(config.catalog.path)}", file=err)
        return 1
    _summary(result, out)
    expanded = expand(config, result.catalog)
    usable = sum(1 for dep in expanded.deployments if is_synced(dep))
    print(f"{usable} catalogue models are served as openrouter/<id> (after the catalog: filters; "
          "model_list entries keep their own names)", file=out)
    for dep in expanded.deployments:
        if dep.catalog_missing:
            print(f"warning: {missing_warning(dep, result.catalog)}", file=out)
    notify_gateway(config, url, out)
    return 0


def notify_gateway(config: Config, url: str | None, out: TextIO) -> None:
    """Asks the running gateway to reload, so the new catalogue serves at once: POST /admin/reload
    with the config's master key, or, without one, SIGHUP to the process its run file names."""
    info = None
    if url is None:
        info, why = runfile.find(config.general.data_dir)
        if info is None:
            print(f"no running gateway found for this config ({why}); a gateway reads the new catalogue "
                  "when it starts", file=out)
            return
        url = info.url
    url = url.rstrip("/")
    master = config.general.master_key
    if master is None:
        _signal(info, url, out)
        return
    request = urllib.request.Request(url + "/admin/reload", b"", {"authorization": "Bearer " + master.get()},
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            models = orjson.loads(resp.read()).get("models")
        print(f"notified the gateway at {url}: it reloaded and serves {models} model groups", file=out)
    except urllib.error.HTTPError as exc:
        print(f"the gateway at {url} refused the reload (HTTP {exc.code}): {_error_message(exc)}", file=out)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        print(f"no gateway answered at {url} ({reason}); a running one applies the new catalogue on its "
              "next reload (POST /admin/reload, or SIGHUP) or start", file=out)


def _signal(info: runfile.RunInfo | None, url: str, out: TextIO) -> None:
    """Without a master key the admin API is off: SIGHUP reloads a gateway on this machine."""
    if info is None or info.hostname != socket.gethostname():
        print(f"the gateway at {url} was not notified: its admin API needs general_settings.master_key, "
              "which this config does not set; POST /admin/reload, SIGHUP or a restart applies the "
              "new catalogue", file=out)
        return
    try:
        os.kill(info.pid, signal.SIGHUP)
    except OSError as exc:
        print(f"could not signal the gateway at {url} (pid {info.pid}: {exc.strerror}); POST "
              "/admin/reload, SIGHUP or a restart applies the new catalogue", file=out)
        return
    print(f"notified the gateway at {url} (pid {info.pid}, SIGHUP): it reloads the config and the "
          "new catalogue", file=out)


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(orjson.loads(exc.read())["error"]["message"])
    except (OSError, ValueError, KeyError, TypeError):
        return exc.reason


def _summary(result: SyncResult, out: TextIO) -> None:
    catalog, change = result.catalog, result.diff
    dropped = []
    if catalog.not_text:
        dropped.append(f"{catalog.not_text} answering in neither text nor images")
    if catalog.skipped:
        dropped.append(f"{catalog.skipped} without a usable id")
    extra = f" (left out: {', '.join(dropped)})" if dropped else ""
    images = sum(1 for m in catalog if m.info.mode == "image_generation")
    kinds = f" ({images} of them image models, for /v1/images/generations)" if images else ""
    print(f"Received {len(catalog)} models{kinds}{extra}", file=out)
    print(f"{len(catalog)} models: added {len(change.added)}, removed {len(change.removed)}, "
          f"price changed {len(change.price_changed)}; written to {result.path}", file=out)
    if result.previous is None:
        return  # a first sync: "added" is everything, not news
    for label, ids in (("added", change.added), ("removed", change.removed),
                       ("price changed", change.price_changed)):
        if ids:
            print(f"  {label}: {_names(ids)}", file=out)


def _names(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_SHOWN])
    return shown if len(ids) <= _SHOWN else f"{shown} and {len(ids) - _SHOWN} more"


def _kept(path: Path) -> str:
    try:
        previous = load_catalog(path)
    except CatalogError:
        return f"{path} was left as it was (it is not a readable catalogue either)"
    if previous is None:
        return f"no catalogue was written ({path} does not exist yet)"
    when = previous.synced_at.strftime("%Y-%m-%d %H:%M UTC") if previous.synced_at else "an unknown time"
    return f"kept the last good catalogue: {len(previous)} models synced {when} in {path}"
