"""Repository of evaluation suites and their runs (tables eval_suites and eval_runs)."""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from omniroute.store import tables as t
from omniroute.store.values import _dumps, _loads, new_id

_RUN_SUMMARY = (t.eval_runs.c.id, t.eval_runs.c.suite_id, t.eval_runs.c.target, t.eval_runs.c.status,
                t.eval_runs.c.started_at, t.eval_runs.c.finished_at, t.eval_runs.c.passed, t.eval_runs.c.total,
                t.eval_runs.c.score, t.eval_runs.c.latency_p50_ms, t.eval_runs.c.latency_max_ms)


KEEP_RUNS = 200  # finished runs kept per suite; older ones go when a new run starts


class EvalRepo:
    """Suites (a name, a description and their cases as JSON) and runs (scores, latencies, results).
    Each suite keeps its newest ``keep_runs`` runs; a run still going is never removed."""

    def __init__(self, engine: AsyncEngine, keep_runs: int = KEEP_RUNS):
        self.engine = engine
        self.keep_runs = max(1, int(keep_runs))

    # ---- suites ---------------------------------------------------------------------------

    async def list_suites(self) -> list[dict]:
        """Every suite without its cases, with ``caseCount``; by name."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.eval_suites).order_by(t.eval_suites.c.name))).mappings().all()
        out = []
        for row in rows:
            suite = _suite(row)
            del suite["cases"]
            out.append(suite)
        return out

    async def get_suite(self, suite_id: str) -> dict | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.eval_suites).where(t.eval_suites.c.id == suite_id))).mappings().first()
        return None if row is None else _suite(row)

    async def create_suite(self, *, name: str, description: str | None, cases: list[dict]) -> dict:
        """Insert one suite; a taken name raises IntegrityError."""
        now = time.time()
        row = {"id": new_id(), "name": name, "description": description, "cases_json": _dumps(cases),
               "created_at": now, "updated_at": now}
        async with self.engine.begin() as conn:
            await conn.execute(insert(t.eval_suites).values(**row))
        return _suite(row)

    async def replace_suite(self, suite_id: str, *, name: str, description: str | None,
                            cases: list[dict]) -> dict | None:
        """Replace a suite's name, description and cases (None when it does not exist); a name taken by
        another suite raises IntegrityError."""
        values = {"name": name, "description": description, "cases_json": _dumps(cases), "updated_at": time.time()}
        async with self.engine.begin() as conn:
            result = await conn.execute(update(t.eval_suites).where(t.eval_suites.c.id == suite_id).values(**values))
        return await self.get_suite(suite_id) if result.rowcount else None

    async def delete_suite(self, suite_id: str) -> bool:
        """Delete a suite and its runs, together."""
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(t.eval_suites).where(t.eval_suites.c.id == suite_id))
            if result.rowcount:
                await conn.execute(delete(t.eval_runs).where(t.eval_runs.c.suite_id == suite_id))
        return result.rowcount > 0

    # ---- runs -----------------------------------------------------------------------------

    async def start_run(self, *, suite_id: str, target: str, total: int) -> dict:
        row = {"id": new_id(), "suite_id": suite_id, "target": target, "status": "running",
               "started_at": time.time(), "finished_at": None, "passed": 0, "total": total, "score": None,
               "latency_p50_ms": None, "latency_max_ms": None, "results_json": None}
        runs = t.eval_runs
        # The started_at of the oldest run to keep; older finished ones of this suite are removed.
        oldest_kept = (select(runs.c.started_at).where(runs.c.suite_id == suite_id)
                       .order_by(runs.c.started_at.desc()).limit(1).offset(self.keep_runs - 1).scalar_subquery())
        async with self.engine.begin() as conn:
            await conn.execute(insert(runs).values(**row))
            await conn.execute(delete(runs).where(runs.c.suite_id == suite_id, runs.c.status != "running",
                                                  runs.c.started_at < oldest_kept))
        return _run(row)

    async def finish_run(self, run_id: str, *, status: str, passed: int, total: int, score: float | None,
                         p50_ms: int | None, max_ms: int | None, results: list[dict]) -> None:
        values = {"status": status, "finished_at": time.time(), "passed": passed, "total": total, "score": score,
                  "latency_p50_ms": p50_ms, "latency_max_ms": max_ms, "results_json": _dumps(results)}
        async with self.engine.begin() as conn:
            await conn.execute(update(t.eval_runs).where(t.eval_runs.c.id == run_id).values(**values))

    async def fail_stale_runs(self, before: float, reason: str) -> int:
        """Mark runs still 'running' that started before ``before`` (a process that ended) as failed."""
        values = {"status": "failed", "finished_at": time.time(),
                  "results_json": _dumps([{"error": reason}])}
        async with self.engine.begin() as conn:
            result = await conn.execute(update(t.eval_runs).where(
                t.eval_runs.c.status == "running", t.eval_runs.c.started_at < before).values(**values))
        return result.rowcount

    async def get_run(self, run_id: str) -> dict | None:
        """One run with its per-case results and its suite's name."""
        query = (select(t.eval_runs, t.eval_suites.c.name.label("suite_name"))
                 .select_from(t.eval_runs.outerjoin(t.eval_suites, t.eval_suites.c.id == t.eval_runs.c.suite_id))
                 .where(t.eval_runs.c.id == run_id))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        run = _run(row)
        run["results"] = _loads(row["results_json"], [])
        return run

    async def list_runs(self, limit: int = 50, suite_id: str | None = None) -> list[dict]:
        """Run summaries (no per-case results), newest first."""
        query = (select(*_RUN_SUMMARY, t.eval_suites.c.name.label("suite_name"))
                 .select_from(t.eval_runs.outerjoin(t.eval_suites, t.eval_suites.c.id == t.eval_runs.c.suite_id))
                 .order_by(t.eval_runs.c.started_at.desc(), t.eval_runs.c.id).limit(limit))
        if suite_id is not None:
            query = query.where(t.eval_runs.c.suite_id == suite_id)
        async with self.engine.connect() as conn:
            return [_run(r) for r in (await conn.execute(query)).mappings()]


def _suite(row) -> dict:
    cases = _loads(row["cases_json"], [])
    return {"id": row["id"], "name": row["name"], "description": row["description"], "caseCount": len(cases),
            "cases": cases, "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def _run(row) -> dict:
    return {"id": row["id"], "suiteId": row["suite_id"], "suiteName": row.get("suite_name"),
            "target": row["target"], "status": row["status"], "startedAt": row["started_at"],
            "finishedAt": row["finished_at"], "passed": row["passed"], "total": row["total"],
            "score": row["score"], "latencyP50Ms": row["latency_p50_ms"], "latencyMaxMs": row["latency_max_ms"]}
