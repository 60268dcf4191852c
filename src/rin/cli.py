"""The `rin` command line: serve, check-config, models (and the ledger/catalogue commands). What
every entry point does first (config path, `.env`, logging) is in rin.bootstrap."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path

import orjson

from rin.bootstrap import ACCESS_LOG_RATE, config_path, load_dotenv_file, log_settings, setup_logging

log = logging.getLogger("rin")


def load_for_serving(path: str | None = None):  # type: ignore[no-untyped-def]
    """Loads the config the way `rin serve` does, logging every warning once."""
    from rin.config import load_config

    load_dotenv_file()
    config = load_config(config_path(path))
    for warning in config.warnings:
        log.warning("%s", warning)
    enabled = sum(1 for d in config.deployments if d.enabled)
    log.info("config %s: %d of %d deployments enabled, %d model groups",
             config.path, enabled, len(config.deployments), len(config.groups))
    if config.missing_env:
        log.warning("set %s to enable the models that need them (in the environment or a .env file)",
                    ", ".join(config.missing_env))
    return config


def cmd_serve(args: argparse.Namespace) -> int:
    import signal

    import uvicorn

    from rin import runfile
    from rin.config import ConfigError

    os.environ["RIN_CONFIG"] = str(config_path(args.config))
    os.environ.update(args.log_settings.as_env())  # --workers N: each worker logs the same way
    try:
        config = load_for_serving(args.config)
    except ConfigError as err:
        print(f"rin: {err}", file=sys.stderr)
        return 2
    # log_config=None: uvicorn's own lines go through RIN's handler, in the same format
    from rin.server.http import HttpProtocol

    # HttpProtocol: uvicorn's httptools protocol, a response's head and body in one write
    options = dict(host=args.host, port=args.port, http=HttpProtocol, access_log=False, log_config=None,
                   log_level="warning", timeout_graceful_shutdown=30, lifespan="on")
    try:
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    except ImportError:
        pass
    log.info("RIN listening on http://%s:%d/v1", args.host, args.port)
    if hasattr(signal, "SIGHUP"):  # a `rin sync-models` SIGHUP while starting must not end the process
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    run_file = runfile.write(config.general.data_dir, args.host, args.port, config_path(args.config))
    if run_file is not None:
        runfile.remove_on_signals(run_file)
    try:
        if args.workers > 1:
            from rin.server.gc_tuning import tune_gc

            os.environ["RIN_WORKERS"] = str(args.workers)  # a worker's reload restarts its siblings too

            tune_gc()  # this process only supervises: each worker tunes its own collector
            uvicorn.run("rin.server.app:create_app", factory=True, workers=args.workers, **options)
        else:
            from rin.access_log import AccessLog
            from rin.runtime import Runtime
            from rin.server.app import App

            settings = args.log_settings
            access_log = AccessLog(settings.access_log_rate) if settings.access_log else None
            uvicorn.run(App(Runtime(config, access_log=access_log)), **options)
    finally:
        if run_file is not None:
            runfile.remove(run_file)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from rin.config import ConfigError, load_config

    load_dotenv_file()
    try:
        config = load_config(Path(args.path))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"warning: {warning}")
    from rin.telemetry import describe

    print(f"tracing: {describe(config.telemetry)}")
    if config.telemetry.unsupported:
        print(f"callbacks not implemented (ignored): {', '.join(config.telemetry.unsupported)}")
    from rin.config.paths import describe_data_paths

    print(f"data: {describe_data_paths(config.general, config.catalog)}")
    enabled = sum(1 for d in config.deployments if d.enabled)
    print(f"ok: {args.path}: {len(config.groups)} models, {enabled}/{len(config.deployments)} deployments enabled")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rin.config import ConfigError, load_config

    load_dotenv_file()
    try:
        config = load_config(config_path(args.config))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    from rin.catalog import expand_cached

    config, _ = expand_cached(config)
    rows = [{
        "model": d.model_name, "deployment": d.label,
        "status": "available" if d.enabled else "unavailable",
        "reason": d.disabled_reason or ("its OpenRouter model left the catalogue" if d.catalog_missing else None),
        "context_length": d.info.context_length,
        "vision": d.info.supports_vision, "function_calling": d.info.supports_function_calling,
    } for d in config.deployments if d.listed or not args.listed_only]
    if args.json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    width = max((len(r["model"]) for r in rows), default=5)
    dwidth = max((len(r["deployment"]) for r in rows), default=10)
    for r in rows:
        extra = f"  ({r['reason']})" if r["reason"] else ""
        print(f"{r['model']:<{width}}  {r['deployment']:<{dwidth}}  {r['status']}{extra}")
    return 0


def cmd_spend(args: argparse.Namespace) -> int:
    import asyncio
    from decimal import Decimal

    from rin.config import ConfigError, load_config
    from rin.ledger.backend import Filters, LedgerUnavailable
    from rin.ledger.engines import open_backend
    from rin.asgi import dumps
    from rin.server.spend import parse_time

    load_dotenv_file()
    try:
        config = load_config(config_path(args.config))
        since = parse_time(args.since, "--since")
    except (ConfigError, Exception) as err:  # noqa: BLE001 - both are the user's input
        print(f"error: {getattr(err, 'message', err)}", file=sys.stderr)
        return 1

    async def read() -> list[dict]:
        backend = open_backend(config.general.database_url)
        await backend.open()
        try:
            return await backend.report(args.by, Filters(start=since))
        finally:
            await backend.close()

    try:
        rows = asyncio.run(read())
    except LedgerUnavailable as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(dumps(rows).decode() + "\n")
        return 0
    total = sum((r["cost"] for r in rows), Decimal(0))
    header = f"{args.by:<40} {'requests':>9} {'errors':>7} {'unpriced':>9} {'tokens':>12} {'cost (USD)':>14}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{str(r[args.by])[:40]:<40} {r['requests']:>9} {r['errors']:>7} {r['unpriced']:>9} "
              f"{r['total_tokens']:>12} {r['cost']:>14.6f}")
    print("-" * len(header))
    print(f"{'total':<40} {sum(r['requests'] for r in rows):>9} {'':>7} {'':>9} "
          f"{sum(r['total_tokens'] for r in rows):>12} {total:>14.6f}")
    if any(r["unpriced"] for r in rows):
        print("note: 'unpriced' requests had no known price and are counted at $0; "
              "set general_settings.model_cost to price them.")
    return 0


def _sync_models(args: argparse.Namespace) -> int:
    from rin.catalog.cli import run_sync_models

    return run_sync_models(args.config, url=args.url)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The `rin` command's parser; `rin keys`' sub-commands are added only when `argv` asks for them."""
    parser = argparse.ArgumentParser(prog="rin", description="RIN: an OpenAI-compatible LLM gateway")
    parser.add_argument("--log-level", help="DEBUG, INFO (default), WARNING, ... (or RIN_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-format", help="text (default) or json: one JSON object a line (or RIN_LOG_FORMAT)")
    serve.add_argument("--access-log", action="store_true", default=None,
                       help="one line per request (or RIN_ACCESS_LOG=1), capped by --access-log-rate")
    serve.add_argument("--access-log-rate", help=f"access-log lines a second at most, the rest counted "
                                                 f"(or RIN_ACCESS_LOG_RATE; default {ACCESS_LOG_RATE})")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a config file exactly as serve loads it")
    check.add_argument("path")
    check.set_defaults(func=cmd_check_config)

    models = sub.add_parser("models", help="list configured models and whether they are usable")
    models.add_argument("--config")
    models.add_argument("--json", action="store_true")
    models.add_argument("--listed-only", action="store_true", help="hide synced models that /v1/models hides")
    models.set_defaults(func=cmd_models)

    sync = sub.add_parser("sync-models", help="fetch OpenRouter's model list into the catalogue cache")
    sync.add_argument("--config")
    sync.add_argument("--url", help="the gateway to tell to reload (default: the one whose run file is in "
                                    "this config's data folder)")
    sync.set_defaults(func=lambda a: _sync_models(a))

    spend = sub.add_parser("spend", help="spend report from the ledger")
    spend.add_argument("--config")
    spend.add_argument("--by", choices=["model", "provider", "day", "user", "key", "endpoint"], default="model")
    spend.add_argument("--since", help="a span such as 30d or 24h, or an ISO date")
    spend.add_argument("--json", action="store_true")
    spend.set_defaults(func=cmd_spend)

    if _command(argv) == "keys":  # rin.keys.cli (with the keys and ledger packages) for `rin keys` only
        from rin.keys.cli import add_keys_parser

        add_keys_parser(sub)
    else:
        sub.add_parser("keys", help="virtual keys: create, list, revoke")

    export = sub.add_parser("openwebui-export",
                            help="write Open WebUI's model settings (names, capabilities) for import")
    export.add_argument("--config")
    export.add_argument("--out", help="file to write (default: standard output)")
    export.set_defaults(func=cmd_openwebui_export)
    return parser


def _command(argv: list[str] | None) -> str | None:
    """The sub-command `argv` names (its first word after the global options), before parsing it."""
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--log-level")
    probe.add_argument("command", nargs="?")
    return probe.parse_known_args(sys.argv[1:] if argv is None else argv)[0].command


def cmd_openwebui_export(args: argparse.Namespace) -> int:
    from rin.openwebui import run_export

    return run_export(config_path(args.config), args.out)


def main(argv: list[str] | None = None) -> int:
    # `rin serve` imports some 600 modules before it serves; the collector would run ~130 times
    # meanwhile for nothing. It is turned on again, tuned, once the server has started
    # (rin.server.gc_tuning); every other command gets it back as soon as its arguments are read.
    gc.disable()
    try:
        args = build_parser(argv).parse_args(argv)
        if args.func is not cmd_serve:
            gc.enable()
        return _dispatch(args)
    finally:
        gc.enable()  # whatever happened (a usage error, a config `rin serve` rejected)


def _dispatch(args: argparse.Namespace) -> int:
    load_dotenv_file()  # before the log settings: RIN_LOG_FORMAT and the like may be set there
    try:
        args.log_settings = log_settings(args.log_level, getattr(args, "log_format", None),
                                         getattr(args, "access_log", None), getattr(args, "access_log_rate", None))
    except ValueError as err:
        print(f"rin: {err}", file=sys.stderr)
        return 2
    setup_logging(args.log_settings.level, args.log_settings.format)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
