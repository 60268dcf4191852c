"""`rin keys create | list | revoke`: virtual keys in the config's database. A running gateway picks
changes up at its next key refresh (every 10 seconds)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import orjson

from rin.errors import InvalidRequest
from rin.keys.fields import parse_fields
from rin.keys.model import PREFIX, VirtualKey, generate_key, hash_key, is_hash, now_utc
from rin.keys.store import KeyStore

T = TypeVar("T")

#: LiteLLM field -> the flag that sets it, for error messages
_FLAGS = {"key_alias": "--alias", "max_budget": "--budget", "budget_duration": "--budget-duration",
          "models": "--models", "rpm_limit": "--rpm", "tpm_limit": "--tpm", "duration": "--expires"}


def add_keys_parser(subparsers: Any) -> None:
    """Adds `rin keys ...` to the `rin` command's subparsers."""
    keys = subparsers.add_parser("keys", help="virtual keys: create, list, revoke")
    sub = keys.add_subparsers(dest="keys_command", required=True)

    create = sub.add_parser("create", help="make a key; prints it once (RIN keeps only its hash)")
    create.add_argument("--config")
    create.add_argument("--alias", help="a unique name for the key")
    create.add_argument("--budget", help="max spend in USD, e.g. 25")
    create.add_argument("--budget-duration", help="budget window, e.g. 30d, 7d, 24h, 1mo")
    create.add_argument("--models", help="comma-separated model names the key may use (default: all)")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--expires", help="time until the key expires, e.g. 30d, 12h")
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=cmd_create)

    listing = sub.add_parser("list", help="keys with their limits and spend (never the keys themselves)")
    listing.add_argument("--config")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)

    revoke = sub.add_parser("revoke", help="stop a key from working")
    revoke.add_argument("key", help="the key, its hash or its alias")
    revoke.add_argument("--config")
    revoke.set_defaults(func=cmd_revoke)


def _run(args: argparse.Namespace, job: Callable[[KeyStore], Awaitable[T]]) -> T:
    """Runs `job` against the config's database; failures become SystemExit(1) with a message."""
    from rin.bootstrap import config_path, load_dotenv_file
    from rin.config import ConfigError, load_config
    from rin.ledger import LedgerUnavailable

    load_dotenv_file()
    try:
        url = load_config(config_path(args.config)).general.database_url
    except ConfigError as err:
        raise _fail(str(err)) from None

    async def main() -> T:
        store = KeyStore.from_url(url)
        await store.open()
        try:
            return await job(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (LedgerUnavailable, InvalidRequest) as err:
        raise _fail(_flagged(err)) from None


def _fail(message: str) -> SystemExit:
    print(f"error: {message}", file=sys.stderr)
    return SystemExit(1)


def _flagged(err: Any) -> str:
    flag = _FLAGS.get(err.param or "")
    return f"{flag}: {err.message}" if flag else err.message


def cmd_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    for name, value in (("key_alias", args.alias), ("max_budget", args.budget),
                        ("budget_duration", args.budget_duration), ("rpm_limit", args.rpm),
                        ("tpm_limit", args.tpm), ("duration", args.expires)):
        if value is not None:
            body[name] = value
    if args.models is not None:
        body["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    now = now_utc()
    try:
        fields = parse_fields(body, now)
    except InvalidRequest as err:
        raise _fail(_flagged(err)) from None
    secret = generate_key()
    key = VirtualKey.new(secret, created_at=now, **fields)
    _run(args, lambda store: store.put(key))
    if args.json:
        sys.stdout.write(orjson.dumps({"key": secret, **key.info()}).decode() + "\n")
        return 0
    # the key alone on stdout, so `KEY=$(rin keys create ...)` works; the rest for the human
    print(secret)
    print(f"created {key.alias or 'an unnamed key'} ({key.preview}): store the key now, RIN keeps only "
          "its hash; running gateways accept it within 10 seconds", file=sys.stderr)
    return 0


async def _spend(store: KeyStore, keys: list[VirtualKey]) -> dict[str, Decimal]:
    """Each key's spend in its current budget window (all time when it has none)."""
    totals = await store.spent_by_key()
    for key in keys:
        if key.budget_duration:
            totals[key.key_hash] = await store.current_spend(key.key_hash)
    return totals


def cmd_list(args: argparse.Namespace) -> int:
    async def read(store: KeyStore) -> tuple[list[VirtualKey], dict[str, Decimal]]:
        keys = [k for k in await store.all() if args.all or k.revoked_at is None]
        return keys, await _spend(store, keys)

    keys, spend = _run(args, read)
    now = now_utc()
    rows = [{**k.info(spend.get(k.key_hash, Decimal(0))), "status": _status(k, now)} for k in keys]
    if args.json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    header = (f"{'alias':<24} {'key':<13} {'models':<24} {'spend':>10} {'budget':>16} {'rpm':>7} {'tpm':>9} "
              f"{'expires':<20} status")
    print(header)
    print("-" * len(header))
    for key, row in zip(keys, rows, strict=True):
        budget = f"{key.max_budget}/{key.budget_duration}" if key.budget_duration else str(key.max_budget or "-")
        print(f"{(key.alias or '-')[:24]:<24} {key.preview:<13} {(','.join(key.models) or 'all')[:24]:<24} "
              f"{spend.get(key.key_hash, Decimal(0)):>10.4f} {budget[:16]:>16} {key.rpm or '-':>7} "
              f"{key.tpm or '-':>9} {(row['expires'] or 'never')[:20]:<20} {row['status']}")
    return 0


def _status(key: VirtualKey, now: Any) -> str:
    return "revoked" if key.revoked_at else "expired" if key.expired(now) else "active"


def cmd_revoke(args: argparse.Namespace) -> int:
    ref: str = args.key

    async def revoke(store: KeyStore) -> VirtualKey | None:
        if ref.startswith(PREFIX):
            key = await store.get(hash_key(ref))
        elif is_hash(ref):
            key = await store.get(ref)
        else:
            key = next((k for k in await store.all() if k.alias == ref and k.revoked_at is None), None)
        if key is None or key.revoked_at is not None:
            return key
        return await store.revoke(key.key_hash)

    key = _run(args, revoke)
    if key is None:
        # never echo the argument: it may be a key
        raise _fail("no key matches that key, hash or alias")
    print(f"revoked {key.alias or 'key'} ({key.preview}); running gateways refuse it within 10 seconds")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m rin.keys.cli create ...`: the same commands without the `rin keys` prefix."""
    parser = argparse.ArgumentParser(prog="rin")
    add_keys_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["keys", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
