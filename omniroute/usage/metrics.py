"""Prometheus metrics (stub: filled in by the metrics work)."""

from __future__ import annotations


class Metrics:
    """Counts what each finished request's usage row says; rendered for /metrics on demand."""

    def observe(self, row) -> None:
        return None
