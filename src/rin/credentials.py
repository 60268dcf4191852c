"""Credentials that expire (Google access tokens, AWS session credentials, Entra ID tokens):
fetched off the request path, read on it without I/O.

A `Credential` knows how to fetch a fresh value (blocking: an HTTP token exchange, a credentials
file); the `Refresher` calls `fetch` in a worker thread before the value expires and keeps the
result. Adapters call `current()`, which only reads memory: the value, or, when the last refresh
failed and nothing valid is left, a `CredentialRefreshFailed` (401) that the router treats as an
attempt failure which cools the deployment at once. A request never waits on a token exchange.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from rin.deadlines import cancel_and_wait
from rin.errors import CredentialRefreshFailed

log = logging.getLogger("rin.credentials")

#: refresh this long before a value expires
MARGIN = 300.0
#: a value without an expiry (static keys read from a profile) is re-read this often
REREAD = 3600.0
#: after a failed refresh, try again after this long (doubling up to RETRY_MAX)
RETRY_MIN, RETRY_MAX = 5.0, 300.0
#: one fetch may take this long before it counts as failed
FETCH_TIMEOUT = 30.0


class Credential:
    """A value that expires. Subclasses implement `fetch`; everything else is shared."""

    def __init__(self, label: str) -> None:
        #: names the credential in logs and errors (never its value): "Vertex AI service account x@y"
        self.label = label
        self._value: Any = None
        self._expires: float | None = None  # epoch seconds
        self._error: str | None = None
        self._lock = threading.Lock()
        self.failures = 0

    def fetch(self) -> tuple[Any, float | None]:
        """Blocking: a fresh value and when it expires (epoch seconds, None for never). Raises on failure."""
        raise NotImplementedError

    def current(self) -> Any:
        """The value, without I/O; CredentialRefreshFailed when there is none usable."""
        value, expires, error = self._value, self._expires, self._error
        if value is not None and (expires is None or expires > time.time()):
            return value
        reason = error or ("it has not been fetched yet" if value is None else "it expired before its refresh came")
        raise CredentialRefreshFailed(
            f"The credential for this deployment ({self.label}) could not be refreshed: {reason}. "
            "Check the deployment's credentials in the config; RIN retries the refresh in the background."
        )

    def refresh(self) -> float:
        """Fetches now (blocking); returns seconds until the next refresh is due."""
        try:
            value, expires = self.fetch()
        except Exception as err:  # noqa: BLE001 - any failure is reported the same way
            with self._lock:
                self.failures += 1
                self._error = _describe(err)
                failures = self.failures
            log.warning("credentials: refreshing %s failed (%s)", self.label, self._error)
            return min(RETRY_MIN * 2 ** (failures - 1), RETRY_MAX)
        with self._lock:
            self._value, self._expires, self._error, self.failures = value, expires, None, 0
        if expires is None:
            return REREAD
        return max(expires - time.time() - MARGIN, RETRY_MIN)

    def due_in(self) -> float:
        """Seconds until this credential should be refreshed (0: now)."""
        if self._value is None:
            return 0.0
        if self._expires is None:
            return REREAD
        return max(self._expires - time.time() - MARGIN, 0.0)


def _describe(err: BaseException) -> str:
    """An exception as one line that names what failed, not what it carried: token endpoints echo
    request bodies in some errors, so only the type and the first line of the message are kept."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__


class Refresher:
    """Keeps every configured credential fresh: one background task, fetches in worker threads."""

    def __init__(self) -> None:
        self._credentials: list[Credential] = []
        self._due: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def track(self, credentials: list[Credential]) -> None:
        """Replaces the tracked set (a reload builds new deployments); new ones are fetched at once."""
        self._credentials = list({id(c): c for c in credentials}.values())
        now = time.monotonic()
        self._due = {id(c): self._due.get(id(c), now + c.due_in()) for c in self._credentials}
        self._wake.set()
        if self._task is None and self._credentials:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="rin-credentials")

    async def prime(self, credentials: list[Credential]) -> None:
        """Fetches the credentials that have no value yet: before a (re)loaded config is served."""
        unique = {id(c): c for c in credentials}.values()  # deployments may share one credential
        fresh = [c for c in unique if c.due_in() == 0.0]
        await asyncio.gather(*(self._refresh_one(c) for c in fresh))
        now = time.monotonic()
        for cred in fresh:
            self._due[id(cred)] = now + cred.due_in()

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            await self._refresh_due()
            wait = min((due - time.monotonic() for due in self._due.values()), default=REREAD)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(wait, 0.05))
            except asyncio.TimeoutError:
                pass

    async def _refresh_due(self) -> None:
        now = time.monotonic()
        due = [c for c in self._credentials if self._due.get(id(c), now) <= now]
        if not due:
            return
        results = await asyncio.gather(*(self._refresh_one(c) for c in due))
        after = time.monotonic()
        for cred, wait in zip(due, results):
            self._due[id(cred)] = after + wait

    @staticmethod
    async def _refresh_one(cred: Credential) -> float:
        try:
            return await asyncio.wait_for(asyncio.to_thread(cred.refresh), timeout=FETCH_TIMEOUT)
        except asyncio.TimeoutError:
            # the thread keeps running until its own socket timeout; its result still lands
            cred._error = f"fetching it took longer than {FETCH_TIMEOUT:g}s"
            cred.failures += 1
            log.warning("credentials: refreshing %s timed out", cred.label)
            return RETRY_MIN
