"""The key admin API driven over real HTTP against real databases."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest

from rin.keys import KeyStore, hash_key
from rin.keys.admin import ROUTES
from rin.ledger import Ledger, utc_now
from tests.keys.served import MASTER, Served
from tests.keys.test_store import INJECTIONS
from tests.ledger.support import row


def seed_spend(url: str, workdir: Path, key_hash: str, *costs: str) -> None:
    async def main() -> None:
        ledger = Ledger(url, spill_dir=workdir / "spill")
        await ledger.start()
        for i, cost in enumerate(costs):
            ledger.record(row(i, request_id=f"seed-{key_hash[:8]}-{i}", api_key_hash=key_hash, cost=Decimal(cost),
                              created_at=utc_now()))
        await ledger.close()

    asyncio.run(main())


def test_every_key_route_needs_the_master_key(tmp_path: Path) -> None:
    with Served(f"sqlite:///{tmp_path / 'rin.db'}", tmp_path) as gw:
        virtual = gw.call("POST", "/key/generate", {"key_alias": "not-admin"}).json["key"]
        for path, (method, _) in ROUTES.items():
            body = {} if method == "POST" else None
            for token in (None, "wrong", MASTER + "x", MASTER[:-1], virtual):
                reply = gw.call(method, path, body, token=token)
                assert reply.status in (401, 403), (path, token, reply.status)
                assert reply.json["error"]["type"] in ("invalid_request_error", "permission_error")


def test_generate_info_update_list_delete(database_url: str, tmp_path: Path) -> None:
    with Served(database_url, tmp_path) as gw:
        made = gw.call("POST", "/key/generate", {
            "key_alias": "team-a", "models": ["gpt-4o", "claude"], "max_budget": 25.5, "budget_duration": "30d",
            "rpm_limit": 60, "tpm_limit": 100000, "duration": "30d", "metadata": {"team": "a"}})
        assert made.status == 200 and made.headers["cache-control"] == "no-store"
        key = made.json["key"]
        token = hash_key(key)
        assert key.startswith("sk-rin-") and len(key) == len("sk-rin-") + 43
        assert made.json["token"] == token and made.json["key_name"] == f"sk-rin-…{key[-4:]}"
        assert {k: made.json[k] for k in ("key_alias", "models", "max_budget", "budget_duration", "rpm_limit",
                                           "tpm_limit", "metadata")} == {
            "key_alias": "team-a", "models": ["gpt-4o", "claude"], "max_budget": 25.5, "budget_duration": "30d",
            "rpm_limit": 60, "tpm_limit": 100000, "metadata": {"team": "a"}}
        expires = datetime.fromisoformat(made.json["expires"])
        assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)

        seed_spend(database_url, tmp_path, token, "0.25", "0.0000001")
        for ref in (key, token):
            info = gw.call("GET", f"/key/info?key={quote(ref)}")
            assert info.status == 200 and info.json["key"] == token
            assert info.json["info"]["spend"] == 0.2500001 and info.json["info"]["key_alias"] == "team-a"
            assert info.json["info"]["blocked"] is False
            assert key not in info.raw.decode()

        updated = gw.call("POST", "/key/update", {"key": key, "rpm_limit": 5, "max_budget": None,
                                                  "models": ["gpt-4o"]})
        assert updated.status == 200 and key not in updated.raw.decode()
        assert (updated.json["rpm_limit"], updated.json["max_budget"], updated.json["models"]) == (5, None, ["gpt-4o"])
        assert (updated.json["tpm_limit"], updated.json["key_alias"]) == (100000, "team-a")

        second = gw.call("POST", "/key/generate", {}).json
        assert second["key_alias"] is None and second["models"] == [] and second["expires"] is None
        taken = gw.call("POST", "/key/update", {"key": second["token"], "key_alias": "team-a"})
        assert taken.status == 400 and taken.json["error"]["param"] == "key_alias"
        assert gw.call("POST", "/key/generate", {"key_alias": "team-a"}).status == 400

        listed = gw.call("GET", "/key/list")
        assert listed.json == {"keys": [token, second["token"]], "total_count": 2}
        full = gw.call("GET", "/key/list?return_full_object=true")
        assert [k["key_alias"] for k in full.json["keys"]] == ["team-a", None]
        assert key not in full.raw.decode() and second["key"] not in full.raw.decode()

        missing = gw.call("POST", "/key/delete", {"keys": [second["token"], "sk-rin-unknown"]})
        assert missing.status == 404 and missing.json["error"]["param"] == "keys[1]"
        assert gw.call("GET", "/key/list").json["total_count"] == 2  # nothing revoked
        deleted = gw.call("POST", "/key/delete", {"keys": [key]})
        assert deleted.status == 200 and deleted.json == {"deleted_keys": [token]}
        by_alias = gw.call("POST", "/key/delete", {"key_aliases": ["nope"]})
        assert by_alias.status == 404 and by_alias.json["error"]["param"] == "key_aliases[0]"
        info = gw.call("GET", f"/key/info?key={token}").json["info"]
        assert info["blocked"] is True and info["revoked_at"] is not None
        assert gw.call("GET", "/key/list").json == {"keys": [second["token"]], "total_count": 1}
        assert gw.call("POST", "/key/generate", {"key_alias": "team-a"}).status == 200  # alias freed

        for ref in ("sk-rin-unknown", "0" * 64):
            gone = gw.call("GET", f"/key/info?key={ref}")
            assert gone.status == 404 and gone.json["error"]["code"] == "key_not_found"
        assert gw.call("POST", "/key/update", {"key": "0" * 64, "rpm_limit": 1}).status == 404


@pytest.mark.parametrize(("body", "param"), [
    ({"key_alias": ""}, "key_alias"),
    ({"key_alias": 7}, "key_alias"),
    ({"key_alias": "x" * 257}, "key_alias"),
    ({"key_alias": "nul\u0000"}, "key_alias"),
    ({"models": "gpt-4o"}, "models"),
    ({"models": [1]}, "models"),
    ({"max_budget": -1}, "max_budget"),
    ({"max_budget": "lots"}, "max_budget"),
    ({"max_budget": True}, "max_budget"),
    ({"max_budget": 1e300}, "max_budget"),
    ({"budget_duration": "monthly"}, "budget_duration"),
    ({"rpm_limit": 1.5}, "rpm_limit"),
    ({"rpm_limit": -1}, "rpm_limit"),
    ({"tpm_limit": "100"}, "tpm_limit"),
    ({"tpm_limit": 2**63}, "tpm_limit"),
    ({"duration": "forever"}, "duration"),
    ({"duration": "0d"}, "duration"),
    ({"duration": "999999999d"}, "duration"),
    ({"metadata": ["a"]}, "metadata"),
    ({"metadata": {"a": "\u0000"}}, "metadata"),
    ({"team_id": "t"}, "team_id"),
    ({"key": "sk-rin-chosen-by-the-client"}, "key"),
])
def test_invalid_fields_are_named(served_sqlite: Served, body: dict, param: str) -> None:
    reply = served_sqlite.call("POST", "/key/generate", body)
    assert reply.status == 400, reply.json
    assert reply.json["error"]["param"] == param and reply.json["error"]["type"] == "invalid_request_error"


def test_malformed_bodies_are_400s(served_sqlite: Served) -> None:
    for path in ("/key/generate", "/key/update", "/key/delete"):
        for raw in (b"{", b"[]", b'"x"', b"\xff\xfe", b'{"keys": "x"}', b'{"tpm_limit": 1' + b"0" * 40 + b"}"):
            reply = served_sqlite.call("POST", path, raw=raw)
            assert reply.status in (400, 404), (path, raw, reply.status)
    assert served_sqlite.call("GET", "/key/info").json["error"]["param"] == "key"
    assert served_sqlite.call("POST", "/key/update", {"rpm_limit": 1}).json["error"]["param"] == "key"
    assert served_sqlite.call("POST", "/key/delete", {}).json["error"]["param"] == "keys"


@pytest.fixture(scope="module")
def served_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Served:
    workdir = tmp_path_factory.mktemp("keys-admin")
    with Served(f"sqlite:///{workdir / 'rin.db'}", workdir) as gw:
        yield gw  # type: ignore[misc]


def test_injection_strings_in_every_parameter(database_url: str, tmp_path: Path) -> None:
    with Served(database_url, tmp_path) as gw:
        made = []
        for text in INJECTIONS:
            reply = gw.call("POST", "/key/generate", {"key_alias": text, "models": [text], "metadata": {text: text}})
            assert reply.status == 200, reply.json
            assert (reply.json["key_alias"], reply.json["models"], reply.json["metadata"]) == (text, [text], {text: text})
            made.append(reply.json)
            for path in (f"/key/info?key={quote(text)}", f"/key/info?key={quote(text)}&key=x",
                         f"/key/list?return_full_object={quote(text)}"):
                assert gw.call("GET", path).status in (200, 404)
            assert gw.call("POST", "/key/update", {"key": text, "rpm_limit": 1}).status == 404
            assert gw.call("POST", "/key/delete", {"keys": [text]}).status == 404
            assert gw.call("POST", "/key/delete", {"key_aliases": [text + "'"]}).status == 404
        for reply in made:
            info = gw.call("GET", f"/key/info?key={reply['token']}").json["info"]
            assert (info["key_alias"], info["models"], info["metadata"]) == (
                reply["key_alias"], reply["models"], reply["metadata"])
        renamed = gw.call("POST", "/key/update", {"key": made[0]["key"], "key_alias": INJECTIONS[-1] + "2",
                                                  "models": INJECTIONS})
        assert renamed.json["models"] == INJECTIONS
        assert gw.call("POST", "/key/delete", {"key_aliases": [INJECTIONS[3]]}).json == {
            "deleted_keys": [made[3]["token"]]}
        assert gw.call("GET", "/key/list").json["total_count"] == len(INJECTIONS) - 1

    async def tables_intact() -> None:
        store = KeyStore.from_url(database_url)
        await store.open()
        assert len(await store.all()) == len(INJECTIONS)
        assert await store.spent_by_key() == {}
        await store.close()

    asyncio.run(tables_intact())


def test_the_key_is_never_stored_or_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "rin.db"
    with Served(f"sqlite:///{db}", tmp_path) as gw:
        key = gw.call("POST", "/key/generate", {"key_alias": "secret-holder"}).json["key"]
        gw.call("GET", f"/key/info?key={key}")
        gw.call("POST", "/key/update", {"key": key, "rpm_limit": 3})
        gw.call("POST", "/key/generate", {"key_alias": "secret-holder"})  # an error path
        gw.call("POST", "/key/delete", {"keys": [key]})
        gw.call("GET", f"/key/info?key={key}")
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith("rin.db"))
    assert key.encode() not in stored and key[7:].encode() not in stored
    assert hash_key(key).encode() in stored
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert key not in logs and key[7:] not in logs
    log_file = tmp_path / "rin.log"
    if log_file.exists():
        assert key not in log_file.read_text()
