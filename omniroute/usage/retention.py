"""Usage retention (stub: filled in by the queries work)."""

from __future__ import annotations


class Retention:
    def __init__(self, services):
        self.s = services

    def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
