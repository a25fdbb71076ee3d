"""The compliance audit log: what is recorded, how it is read, and that the API cannot change it.

The gateway is shared by the session, so every test reads only the entries made after a timestamp it
takes at its start.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from omniroute.settings import normalize_database_url
from omniroute.store.engine import create_engine, migrate
from omniroute.store.repos import AuditRepo
from tests.support import PASSWORD

LOG = "/api/compliance/audit-log"
FIELDS = {"id", "timestamp", "actor", "action", "target", "status", "ip"}


def entries(admin: httpx.Client, since: float, **params) -> list[dict]:
    resp = admin.get(LOG, params={"since": since, "limit": 1000, **params})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"entries", "total"}
    assert all(set(e) == FIELDS for e in body["entries"]), body["entries"]
    return body["entries"]


def only(found: list[dict], **want) -> dict:
    """The one entry with every field of ``want``."""
    matching = [e for e in found if all(e[k] == v for k, v in want.items())]
    assert len(matching) == 1, (want, found)
    return matching[0]


def wait_for(admin: httpx.Client, since: float, timeout: float = 3.0, **params) -> list[dict]:
    """Entries written in the background (add_later) appear within about a second."""
    deadline = time.monotonic() + timeout
    while True:
        found = entries(admin, since, **params)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def t0() -> float:
    return time.time()


# ---- what is recorded -----------------------------------------------------------------------------


def test_failed_and_successful_logins_are_recorded_once_with_their_address(gateway, admin, t0):
    # Another loopback address: the entries are told apart from the other tests' logins by their ip.
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(base_url=gateway.url, transport=transport) as client:
        assert client.post("/api/auth/login", json={"password": "wrong"}).status_code == 401
        assert client.post("/api/auth/login", json={"password": PASSWORD}).status_code == 200
    mine = [e for e in entries(admin, t0) if e["ip"] == "127.0.0.3"]
    assert [(e["action"], e["status"], e["actor"]) for e in mine] == [("login", "ok", "admin"),
                                                                      ("login", "failed", None)], mine
    assert mine[0]["timestamp"] >= mine[1]["timestamp"] >= t0


def test_key_creation_and_revocation(admin, t0):
    created = admin.post("/api/keys", json={"name": "audited"})
    assert created.status_code == 201, created.text
    key_id = created.json()["id"]
    assert admin.delete(f"/api/keys/{key_id}").status_code == 200
    found = entries(admin, t0)
    only(found, action="key.create", target=key_id, actor="admin", status="ok", ip="127.0.0.1")
    only(found, action="key.revoke", target=key_id, actor="admin", status="ok", ip="127.0.0.1")
    assert not [e for e in found if e["action"] in ("POST /api/keys", "DELETE /api/keys/{id}")], \
        "a write its handler audited is not recorded a second time"


def test_settings_put(admin, t0):
    current = admin.get("/api/settings").json()
    assert admin.put("/api/settings", json={"idempotency": current["idempotency"]}).status_code == 200
    only(entries(admin, t0), action="settings.update", target="idempotency", actor="admin", status="ok",
         ip="127.0.0.1")


def test_provider_create_and_delete(admin, upstream, t0):
    resp = admin.post("/api/providers", json={"provider": "openai", "name": "audited", "apiKey": "sk-audit",
                                              "baseUrl": upstream.base_url})
    assert resp.status_code == 201, resp.text
    conn_id = resp.json()["id"]
    assert admin.delete(f"/api/providers/{conn_id}").status_code == 200
    found = entries(admin, t0)
    only(found, action="provider.create", target=conn_id, actor="admin", status="ok")
    only(found, action="provider.delete", target=conn_id, actor="admin", status="ok")


def test_failed_writes_are_recorded_with_the_route_template(admin, t0):
    assert admin.post("/api/keys", json={"name": ""}).status_code == 400
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    assert admin.patch(f"/api/keys/{missing}", json={"name": "x"}).status_code == 404
    assert admin.delete(f"/api/providers/{missing}").status_code == 404
    found = entries(admin, t0)
    only(found, action="POST /api/keys", target=None, actor="admin", status="failed:400", ip="127.0.0.1")
    only(found, action="PATCH /api/keys/{id}", target=missing, actor="admin", status="failed:404")
    only(found, action="DELETE /api/providers/{id}", target=missing, actor="admin", status="failed:404")


def test_writes_refused_for_missing_credentials_are_recorded(gateway, admin, t0):
    assert httpx.post(gateway.url + "/api/keys", json={"name": "n", "scopes": ["manage"]}).status_code == 401
    assert httpx.delete(gateway.url + "/api/keys/k-1").status_code == 401
    bad_key = httpx.put(gateway.url + "/api/settings", json={}, headers={"Authorization": "Bearer sk-nope"})
    assert bad_key.status_code == 401
    found = entries(admin, t0)
    only(found, action="POST /api/keys", actor=None, target=None, status="failed:401", ip="127.0.0.1")
    only(found, action="DELETE /api/keys/{id}", actor=None, target="k-1", status="failed:401")
    only(found, action="PUT /api/settings", actor=None, status="failed:401")


def test_a_manage_key_is_the_actor_of_its_writes(gateway, admin, api_key, t0):
    key = api_key(scopes=["manage"])
    with gateway.client(key["key"]) as client:
        assert client.post("/api/keys", json={"name": ""}).status_code == 400
        made = client.post("/api/keys", json={"name": "by-key"})
        assert made.status_code == 201
    found = entries(admin, t0, actor=f"key:{key['id']}")
    assert {(e["action"], e["status"], e["target"]) for e in found} == {
        ("POST /api/keys", "failed:400", None), ("key.create", "ok", made.json()["id"])}


def test_unaudited_write_endpoints_get_a_generic_entry(gateway, admin, t0):
    other = gateway.admin()  # (logging out clears the client's cookie)
    try:
        assert other.post("/api/auth/logout").status_code == 200
    finally:
        other.close()
    only(entries(admin, t0), action="POST /api/auth/logout", status="ok", ip="127.0.0.1")


def test_reads_are_not_recorded(admin, t0):
    for path in ("/api/keys", "/api/settings", LOG):
        assert admin.get(path).status_code == 200
    assert entries(admin, t0) == []


def test_budget_refusals_are_recorded(gateway, admin, connection, api_key, t0):
    connection()
    key = api_key()
    resp = admin.post("/api/usage/budget", json={"keyId": key["id"], "limit": 0, "period": "daily"})
    assert resp.status_code == 201, resp.text
    try:
        with gateway.client(key["key"]) as client:
            refused = client.post("/v1/chat/completions",
                                  json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        assert refused.status_code == 429, refused.text
        found = wait_for(admin, t0, action="budget.refused")
        assert [(e["actor"], e["status"]) for e in found] == [(f"key:{key['id']}", "refused")], found
    finally:
        admin.delete("/api/usage/budget", params={"keyId": key["id"]})
    only(entries(admin, t0), action="budget.set", actor="admin", status="ok", target=f"{key['id']} daily $0")
    only(entries(admin, t0), action="budget.delete", actor="admin", status="ok", target=f"{key['id']} all")


# ---- reading ---------------------------------------------------------------------------------------


def test_limit_offset_and_filters(admin, t0):
    ids = [f"missing-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    for key_id in ids:
        assert admin.patch(f"/api/keys/{key_id}", json={"name": "x"}).status_code == 404
    assert admin.post("/api/keys", json={"name": ""}).status_code == 400
    action = "PATCH /api/keys/{id}"
    every = entries(admin, t0, action=action)
    assert [e["target"] for e in every] == ids[::-1], "newest first"
    assert [e["timestamp"] for e in every] == sorted((e["timestamp"] for e in every), reverse=True)

    page = admin.get(LOG, params={"since": t0, "action": action, "limit": 2}).json()
    assert page["total"] == 3 and page["entries"] == every[:2]
    rest = admin.get(LOG, params={"since": t0, "action": action, "limit": 2, "offset": 2}).json()
    assert rest["total"] == 3 and rest["entries"] == every[2:]
    assert admin.get(LOG, params={"since": t0, "action": action, "offset": 3}).json() == {"entries": [], "total": 3}

    assert {e["action"] for e in entries(admin, t0)} == {action, "POST /api/keys"}
    assert entries(admin, t0, actor="admin", action="POST /api/keys")[0]["status"] == "failed:400"
    assert entries(admin, t0, actor="nobody") == []
    middle = every[1]["timestamp"]
    assert [e["target"] for e in entries(admin, t0, action=action, until=middle)] == [ids[1], ids[0]]
    assert [e["target"] for e in entries(admin, middle, action=action)] == [ids[2], ids[1]]
    earlier = entries(admin, t0 - 3600, until=t0 - 0.001, action=action)
    assert not [e for e in earlier if e["target"] in ids]

    default = admin.get(LOG).json()
    assert len(default["entries"]) == min(100, default["total"]) and default["total"] >= 4


@pytest.mark.parametrize("params, word", [
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"offset": "-1"}, "offset"), ({"offset": "1.5"}, "offset"),
    ({"since": "yesterday"}, "since"), ({"until": "nan"}, "until"), ({"since": "-5"}, "since"),
    ({"until": "inf"}, "until"), ({"since": "200", "until": "100"}, "since"),
    ({"action": "x" * 201}, "action"),
])
def test_bad_query_parameters_are_400(admin, params, word):
    resp = admin.get(LOG, params=params)
    assert resp.status_code == 400, resp.text
    assert word in resp.json()["error"]


def test_reading_needs_the_admin(gateway):
    resp = httpx.get(gateway.url + LOG)
    assert resp.status_code == 401 and "error" in resp.json()


# ---- append-only -------------------------------------------------------------------------------


def test_no_method_changes_or_deletes_entries(gateway, admin, t0):
    assert admin.post("/api/keys", json={"name": ""}).status_code == 400  # one entry to keep
    before = admin.get(LOG, params={"since": t0}).json()
    assert before["total"] == 1
    for method in ("DELETE", "PUT", "PATCH", "POST"):
        logged_in = admin.request(method, LOG, json={"entries": []})
        anonymous = httpx.request(method, gateway.url + LOG, json={"entries": []})
        for resp in (logged_in, anonymous):
            assert resp.status_code == 405, (method, resp.text)
            assert method in resp.json()["error"]
        resp = admin.request(method, LOG + "/1")
        assert resp.status_code in (404, 405), (method, resp.text)
    assert admin.get(LOG, params={"since": t0}).json() == before


# ---- the repository ----------------------------------------------------------------------------


@pytest.fixture
async def repo(tmp_path):
    engine = create_engine(normalize_database_url(f"sqlite:///{tmp_path / 'audit.sqlite'}"))
    await migrate(engine)
    yield AuditRepo(engine)
    await engine.dispose()


async def test_add_later_writes_in_the_background_within_a_second(repo):
    import asyncio

    started = time.monotonic()
    for i in range(3):
        repo.add_later(action="budget.refused", status="refused", actor=f"key:{i}", target=f"k{i}", ip="10.0.0.9")
    assert time.monotonic() - started < 0.05, "add_later never waits for the database"
    assert repo.pending == 3
    assert (await repo.list())[1] == 0, "nothing is written at once"
    await asyncio.sleep(1.0)
    found, total = await repo.list()
    assert total == 3 and repo.pending == 0
    assert [(e["actor"], e["target"], e["status"], e["ip"]) for e in found] == [
        (f"key:{i}", f"k{i}", "refused", "10.0.0.9") for i in (2, 1, 0)]


async def test_close_writes_what_is_queued(repo):
    for i in range(1200):  # more than one batch
        repo.add_later(action="budget.refused", status="refused", target=str(i))
    await repo.close()
    assert repo.pending == 0
    found, total = await repo.list(limit=5)
    assert total == 1200 and [e["target"] for e in found] == ["1199", "1198", "1197", "1196", "1195"]


async def test_list_filters_and_pages(repo):
    await repo.add(action="login", status="failed", ip="10.0.0.1")
    middle = time.time()
    await repo.add(action="login", status="ok", actor="admin", ip="10.0.0.1")
    await repo.add(action="key.create", status="ok", actor="admin", target="k1")
    assert (await repo.list(filters={"action": "login"}))[1] == 2
    assert (await repo.list(filters={"actor": "admin", "action": None}))[1] == 2
    assert [e["status"] for e in (await repo.list(filters={"action": "login", "since": middle}))[0]] == ["ok"]
    assert [e["status"] for e in (await repo.list(filters={"until": middle}))[0]] == ["failed"]
    page, total = await repo.list(limit=1, offset=1)
    assert total == 3 and [e["status"] for e in page] == ["ok"] and page[0]["action"] == "login"
    with pytest.raises(ValueError):
        await repo.list(filters={"status": "ok"})


# ---- the middleware on its own ------------------------------------------------------------------


async def test_middleware_records_crashes_and_skips_what_handlers_audited():
    from starlette.applications import Starlette
    from starlette.routing import Route

    from omniroute.server.api.common import audit, json_response
    from omniroute.server.management import AuditWrites

    class Recorded:
        def __init__(self):
            self.entries = []

        async def add(self, **entry):
            self.entries.append(entry)

    class Services:
        audit = Recorded()

    async def crash(request):
        raise RuntimeError("boom")

    async def audited(request):
        await audit(request, "thing.update", request.path_params["id"])
        return json_response({"ok": True})

    async def plain(request):
        return json_response({"ok": True})

    app = Starlette(routes=[Route("/api/things/{id}/crash", crash, methods=["POST"]),
                            Route("/api/things/{id}", audited, methods=["PUT"]),
                            Route("/api/things/{id}", plain, methods=["GET", "DELETE"])])
    app.state.services = Services()
    app.add_middleware(AuditWrites, services=app.state.services, routes=app.routes)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("10.1.2.3", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        assert (await client.post("/api/things/a/crash")).status_code == 500
        assert (await client.put("/api/things/b")).status_code == 200
        assert (await client.delete("/api/things/c")).status_code == 200  # a later route takes DELETE
        assert (await client.get("/api/things/d")).status_code == 200
        assert (await client.patch("/api/things/e")).status_code == 405
        assert (await client.post("/api/nothing")).status_code == 404
    assert Services.audit.entries == [
        {"action": "POST /api/things/{id}/crash", "status": "failed:500", "actor": None, "target": "a",
         "ip": "10.1.2.3"},
        {"action": "thing.update", "status": "ok", "actor": None, "target": "b", "ip": "10.1.2.3"},
        {"action": "DELETE /api/things/{id}", "status": "ok", "actor": None, "target": "c", "ip": "10.1.2.3"},
    ]
