"""/api/evals: evaluation suites (stored) and their runs against a model or combo (API reference §2.8).

POST ``{"suite": {...}}`` stores a suite; POST ``{"suiteId", "target"}`` runs one. A run of at most
SYNC_MAX_CASES cases that ends within WAIT_S is answered with its results (200); otherwise the answer
is 202 with the run's id and status "running", and GET /api/evals/runs/{runId} shows it when done.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.routing import Route

from omniroute import evals
from omniroute.errors import ModelNotFound
from omniroute.server.api.common import (
    ApiError,
    admin,
    audit,
    int_param,
    json_response,
    read_json,
    validation_message,
)
from omniroute.store.eval_repos import EvalRepo

log = logging.getLogger("omniroute.evals")

SYNC_MAX_CASES = 20  # larger suites always run in the background
WAIT_S = 30.0  # how long a POST waits for a small suite before answering 202
MAX_ACTIVE_RUNS = 8
RECENT_RUNS = 50
READ_ONLY = ("id", "caseCount", "createdAt", "updatedAt", "runs")  # shown by GET, ignored by PUT


class CreateOrRun(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    suite: evals.Suite | None = None
    suiteId: str | None = Field(default=None, min_length=1, max_length=36)
    target: str | None = Field(default=None, min_length=1, max_length=400)
    caseTimeoutMs: int | None = Field(default=None, ge=100, le=600_000)


class _Evals:
    """The repository and the background runs of one gateway."""

    def __init__(self, services):
        self.repo = EvalRepo(services.engine)
        self.tasks: set[asyncio.Task] = set()
        self.swept = False


_BY_SERVICES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def _evals(s) -> _Evals:
    ev = _BY_SERVICES.get(s)
    if ev is None:
        ev = _BY_SERVICES[s] = _Evals(s)
    if not ev.swept:  # runs a previous process left unfinished can never finish now
        ev.swept = True
        await ev.repo.fail_stale_runs(s.started_at, "the gateway stopped before this run finished")
    return ev


def _validate(model, data):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, validation_message(exc)) from None


@admin
async def evals_root(request: Request):
    """GET → {"suites", "runs"}; POST {"suite"} stores a suite (201); POST {"suiteId", "target"} runs one."""
    s = request.app.state.services
    ev = await _evals(s)
    if request.method == "GET":
        return json_response({"suites": await ev.repo.list_suites(),
                              "runs": await ev.repo.list_runs(RECENT_RUNS)})
    body = _validate(CreateOrRun, await read_json(request))
    if body.suite is not None:
        if body.suiteId is not None or body.target is not None or body.caseTimeoutMs is not None:
            raise ApiError(400, "send either {\"suite\": {...}} to store a suite or {\"suiteId\", \"target\"} "
                                "to run one, not both")
        try:
            suite = await ev.repo.create_suite(name=body.suite.name, description=body.suite.description,
                                               cases=body.suite.stored_cases())
        except IntegrityError:
            raise ApiError(409, f"'suite.name': a suite named '{body.suite.name}' already exists") from None
        await audit(request, "eval.suite.create", suite["name"])
        return json_response(suite, 201)
    if body.suiteId is None or body.target is None:
        missing = "suiteId" if body.suiteId is None else "target"
        if body.suiteId is None and body.target is None:
            raise ApiError(400, "request body must be {\"suite\": {...}} to store a suite or "
                                "{\"suiteId\", \"target\"} to run one")
        raise ApiError(400, f"'{missing}': required to run a suite (send both 'suiteId' and 'target')")
    return await _run(request, s, ev, body)


async def _run(request: Request, s, ev: _Evals, body: CreateOrRun):
    suite = await ev.repo.get_suite(body.suiteId)
    if suite is None:
        raise ApiError(404, f"eval suite '{body.suiteId}' not found")
    target = body.target.strip()
    if not target:
        raise ApiError(400, "'target': empty; name a model (provider/model) or a combo")
    try:
        evals.check_target(s, target)
    except ModelNotFound as err:
        raise ApiError(400, f"'target': unknown model or combo '{target}': {err.message}") from None
    except ValueError as exc:
        raise ApiError(400, f"'target': {exc}") from None
    if len(ev.tasks) >= MAX_ACTIVE_RUNS:
        raise ApiError(429, f"{len(ev.tasks)} eval runs are in progress (at most {MAX_ACTIVE_RUNS}); "
                            "wait for one to finish")
    timeout_s = body.caseTimeoutMs / 1000 if body.caseTimeoutMs else evals.CASE_TIMEOUT_S
    run = await ev.repo.start_run(suite_id=suite["id"], target=target, total=suite["caseCount"])
    run["suiteName"] = suite["name"]
    task = asyncio.create_task(_background(s, ev.repo, run["id"], suite["cases"], target, timeout_s))
    ev.tasks.add(task)
    task.add_done_callback(ev.tasks.discard)
    await audit(request, "eval.run", f"{suite['name']} → {target}"[:500])
    if suite["caseCount"] <= SYNC_MAX_CASES:
        done, _ = await asyncio.wait({task}, timeout=WAIT_S)
        if done:
            return json_response(await ev.repo.get_run(run["id"]))
    return json_response(run, 202)


async def _background(s, repo: EvalRepo, run_id: str, cases: list[dict], target: str, timeout_s: float) -> None:
    try:
        await evals.run_suite(s, repo, run_id, cases, target, timeout_s)
    except Exception as exc:  # the run must not stay "running"
        log.exception("eval run %s failed", run_id)
        await repo.finish_run(run_id, status="failed", passed=0, total=len(cases), score=None, p50_ms=None,
                              max_ms=None, results=[{"error": f"internal error: {exc.__class__.__name__}"}])


@admin
async def eval_suite(request: Request):
    """GET (with its recent runs), PUT (replace) or DELETE (with its runs) one suite."""
    s = request.app.state.services
    ev = await _evals(s)
    suite_id = request.path_params["suiteId"]
    current = await ev.repo.get_suite(suite_id)
    if current is None:
        raise ApiError(404, f"eval suite '{suite_id}' not found")
    if request.method == "GET":
        current["runs"] = await ev.repo.list_runs(RECENT_RUNS, suite_id=suite_id)
        return json_response(current)
    if request.method == "DELETE":
        await ev.repo.delete_suite(suite_id)
        await audit(request, "eval.suite.delete", current["name"])
        return json_response({"deleted": True, "id": suite_id})
    data = await read_json(request)
    if set(data) == {"suite"} and isinstance(data["suite"], dict):
        data = data["suite"]
    if "id" in data and data["id"] != suite_id:
        raise ApiError(400, f"'id': {data['id']!r} is not the id of this suite ({suite_id})")
    suite = _validate(evals.Suite, {k: v for k, v in data.items() if k not in READ_ONLY})
    try:
        row = await ev.repo.replace_suite(suite_id, name=suite.name, description=suite.description,
                                          cases=suite.stored_cases())
    except IntegrityError:
        raise ApiError(409, f"'name': a suite named '{suite.name}' already exists") from None
    if row is None:
        raise ApiError(404, f"eval suite '{suite_id}' not found")
    await audit(request, "eval.suite.update", suite.name)
    return json_response(row)


@admin
async def eval_runs(request: Request):
    """GET ?suiteId=&limit= → {"runs": [summary]}, newest first."""
    ev = await _evals(request.app.state.services)
    limit = int_param(request, "limit", RECENT_RUNS, 1, 500)
    suite_id = request.query_params.get("suiteId") or None
    return json_response({"runs": await ev.repo.list_runs(limit, suite_id=suite_id)})


@admin
async def eval_run(request: Request):
    """GET one run with its per-case results."""
    ev = await _evals(request.app.state.services)
    run_id = request.path_params["runId"]
    run = await ev.repo.get_run(run_id)
    if run is None:
        raise ApiError(404, f"eval run '{run_id}' not found")
    return json_response(run)


routes = [
    Route("/api/evals", evals_root, methods=["GET", "POST"]),
    Route("/api/evals/runs", eval_runs, methods=["GET"]),
    Route("/api/evals/runs/{runId}", eval_run, methods=["GET"]),
    Route("/api/evals/{suiteId}", eval_suite, methods=["GET", "PUT", "DELETE"]),
]
