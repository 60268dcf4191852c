"""The running gateway's state: the resolved config and everything built from it.

A reload builds a new Config, Router and model list, then swaps them in one assignment; requests
already running keep the objects they started with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rin.config.resolved import Config
from rin.errors import RinError
from rin.router import RequestState, Router
from rin.server.model_list import model_list_body
from rin.transport import Transport
from rin.types import Usage

log = logging.getLogger("rin")


@dataclass(slots=True, frozen=True)
class Generation:
    """One config and what was built from it, swapped as a whole."""

    config: Config
    router: Router
    models_body: bytes


class Runtime:
    def __init__(self, config: Config, transport: Transport | None = None) -> None:
        self.transport = transport or Transport()
        self.gen = self._build(config)
        self.listeners: list[Any] = []

    @staticmethod
    def _build(config: Config) -> Generation:
        return Generation(config, Router(config), model_list_body(config))

    @property
    def config(self) -> Config:
        return self.gen.config

    @property
    def router(self) -> Router:
        return self.gen.router

    def swap(self, config: Config) -> None:
        self.gen = self._build(config)

    def finished(self, state: RequestState, usage: Usage | None, status: str, error: RinError | None) -> None:
        """Called once per client request, whatever happened (the ledger subscribes here)."""
        for listener in self.listeners:
            listener(state, usage, status, error)
