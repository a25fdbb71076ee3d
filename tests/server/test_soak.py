"""Soak: ~2000 requests through a private gateway whose two upstreams misbehave at random.

Two OpenAI-dialect connections, each on its own fake upstream (started here, so the chaos touches
no other test), serve a combo over two targets and direct model requests, from OpenAI and
Anthropic clients, streaming and not, 32 at a time. Both fakes deal seeded random faults (error
statuses, Retry-After, hangs, cut streams, TCP resets, in-band error events) to 30 % of requests.

Every request must end in one of:
- a 2xx whole answer: valid JSON with content, or a stream that ends with the dialect's terminator
  (``data: [DONE]`` / ``message_stop``) or with the dialect's in-band error event (never a silent cut);
- a clear error status with a JSON error body in the client's dialect naming the failure.
Nothing may hang (each request has a client deadline), and once the usage recorder has flushed,
the gateway has one usage row per request sent."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import orjson
import pytest

from tests.fakes.openai_upstream import FakeOpenAI

N_REQUESTS = 2000
CONCURRENCY = 32
CLIENT_DEADLINE_S = 20.0  # per request; a hang fails the test
MINI, FOUR_O = "openai/gpt-4o-mini", "openai/gpt-4o"
COMBO = "soak-combo"
HANG_S = 1.0  # a chaos hang: a combo target times out (targetTimeoutMs below), a direct request waits
TARGET_TIMEOUT_MS = 700
FIRST_BYTE_TIMEOUT_MS = 2000


@dataclass(frozen=True, slots=True)
class Shot:
    """One request of the soak: client dialect, streaming or not, model name."""

    dialect: str  # "openai" | "anthropic"
    stream: bool
    model: str


@dataclass
class Tally:
    ok: int = 0  # a 2xx whole answer
    in_band: int = 0  # a 2xx stream that ended with the dialect's error event
    errors: Counter = field(default_factory=Counter)  # clear error answers, by status
    fallbacks: int = 0  # answers that name failed attempts (X-OmniRoute-Fallback-Attempts)
    fallback_attempts: int = 0
    problems: list[str] = field(default_factory=list)  # anything not acceptable
    reasons: Counter = field(default_factory=Counter)  # error answers by status and message start


@pytest.fixture
def fakes():
    started = [FakeOpenAI().start(), FakeOpenAI().start()]
    yield started
    for fake in started:
        fake.stop()


def _plan(seed: int) -> list[Shot]:
    rng = random.Random(seed)
    return [Shot(rng.choice(("openai", "anthropic")), rng.random() < 0.5,
                 rng.choice((COMBO, COMBO, MINI, FOUR_O)))
            for _ in range(N_REQUESTS)]


def _request(shot: Shot, i: int) -> tuple[str, dict, dict]:
    text = f"soak request {i} says hello"
    if shot.dialect == "openai":
        body = {"model": shot.model, "messages": [{"role": "user", "content": text}], "stream": shot.stream}
        return "/v1/chat/completions", body, {}
    body = {"model": shot.model, "max_tokens": 64, "stream": shot.stream,
            "messages": [{"role": "user", "content": text}]}
    return "/v1/messages", body, {"anthropic-version": "2023-06-01"}


def _error_message(dialect: str, data) -> str | None:
    """The message of an error body in the client's dialect, or None when it is not one."""
    if not isinstance(data, dict):
        return None
    err = data.get("error")
    if dialect == "anthropic" and data.get("type") != "error":
        return None
    if not isinstance(err, dict) or not isinstance(err.get("type"), str):
        return None
    message = err.get("message")
    return message if isinstance(message, str) and message.strip() else None


def _sse(raw: bytes) -> list[tuple[str | None, bytes]]:
    """(event name, data) of each SSE event of a body."""
    events, name, data = [], None, []
    for line in raw.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            if data:
                events.append((name, b"\n".join(data)))
            name, data = None, []
        elif line.startswith(b"event:"):
            name = line[6:].strip().decode()
        elif line.startswith(b"data:"):
            data.append(line[5:].strip())
    if data:
        events.append((name, b"\n".join(data)))
    return events


def _judge_stream(shot: Shot, raw: bytes) -> str:
    """"ok", "in_band", or a description of what is wrong with a 2xx stream body."""
    events = _sse(raw)
    if not events:
        return "empty stream"
    name, last = events[-1]
    if shot.dialect == "openai":
        if last == b"[DONE]":
            text = ""
            for _, data in events[:-1]:
                obj = orjson.loads(data)
                if "error" in obj:
                    return f"error event before [DONE]: {data[:200]!r}"
                for choice in obj.get("choices") or []:
                    text += (choice.get("delta") or {}).get("content") or ""
            return "ok" if text.startswith("echo: soak request") else f"stream text {text!r}"
        try:
            obj = orjson.loads(last)
        except orjson.JSONDecodeError:
            return f"stream ends with a non-JSON event: {last[:200]!r}"
        if set(obj) == {"error"} and _error_message("openai", obj):
            return "in_band"
        return f"silent cut: last event {last[:200]!r}"
    try:
        obj = orjson.loads(last)
    except orjson.JSONDecodeError:
        return f"stream ends with a non-JSON event: {last[:200]!r}"
    if name == "message_stop" and obj.get("type") == "message_stop":
        text = ""
        for ev, data in events:
            if ev == "content_block_delta":
                text += orjson.loads(data).get("delta", {}).get("text") or ""
        return "ok" if text.startswith("echo: soak request") else f"stream text {text!r}"
    if name == "error" and _error_message("anthropic", obj):
        return "in_band"
    return f"silent cut: last event {name!r} {last[:200]!r}"


def _judge_json(shot: Shot, data) -> str:
    if not isinstance(data, dict):
        return "answer is not a JSON object"
    if shot.dialect == "openai":
        content = ((data.get("choices") or [{}])[0].get("message") or {}).get("content")
    else:
        blocks = data.get("content") if data.get("type") == "message" else None
        content = blocks[0].get("text") if blocks else None
    return "ok" if isinstance(content, str) and content.startswith("echo: soak request") else f"no content: {data}"


async def _one(client: httpx.AsyncClient, shot: Shot, i: int, tally: Tally) -> None:
    path, body, headers = _request(shot, i)
    what = f"#{i} {shot}"
    try:
        async with asyncio.timeout(CLIENT_DEADLINE_S):
            async with client.stream("POST", path, json=body, headers=headers) as resp:
                raw = await resp.aread()
    except TimeoutError:
        tally.problems.append(f"{what}: no answer within {CLIENT_DEADLINE_S} s")
        return
    except httpx.HTTPError as exc:
        tally.problems.append(f"{what}: transport failure {exc.__class__.__name__}: {exc}")
        return
    attempts = resp.headers.get("x-omniroute-fallback-attempts")
    if attempts:
        tally.fallbacks += 1
        tally.fallback_attempts += int(attempts)
    if 200 <= resp.status_code < 300:
        if shot.stream:
            verdict = _judge_stream(shot, raw)
        else:
            try:
                verdict = _judge_json(shot, orjson.loads(raw))
            except orjson.JSONDecodeError:
                verdict = f"2xx body is not JSON: {raw[:200]!r}"
        if verdict == "ok":
            tally.ok += 1
        elif verdict == "in_band":
            tally.in_band += 1
        else:
            tally.problems.append(f"{what}: {verdict}")
        return
    try:
        message = _error_message(shot.dialect, orjson.loads(raw))
    except orjson.JSONDecodeError:
        message = None
    if message is None or resp.status_code < 400:
        tally.problems.append(f"{what}: HTTP {resp.status_code} without a {shot.dialect} error body: {raw[:300]!r}")
        return
    tally.errors[resp.status_code] += 1
    tally.reasons[f"{resp.status_code} {message[:90]}"] += 1


async def _soak(url: str, shots: list[Shot]) -> Tally:
    tally = Tally()
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=CLIENT_DEADLINE_S) as client:

        async def guarded(i: int, shot: Shot) -> None:
            async with gate:
                await _one(client, shot, i, tally)

        await asyncio.gather(*(guarded(i, shot) for i, shot in enumerate(shots)))
    return tally


def _settled_usage_total(admin: httpx.Client, expected: int, bound_s: float = 10.0) -> int:
    """/api/usage/logs total once it has stopped changing (rows are written in batches)."""
    deadline = time.monotonic() + bound_s
    last, steady = -1, 0
    while time.monotonic() < deadline:
        total = admin.get("/api/usage/logs", params={"limit": 1}).json()["total"]
        steady = steady + 1 if total == last else 0
        last = total
        if steady >= 3 and total >= expected or steady >= 6:
            break
        time.sleep(0.25)
    return last


@pytest.mark.timeout(120)
def test_soak_under_chaos(make_gateway, fakes):
    started = time.monotonic()
    gw = make_gateway()
    admin = gw.admin()
    try:
        for i, fake in enumerate(fakes):
            resp = admin.post("/api/providers", json={"provider": "openai", "name": f"soak-{i}",
                                                      "apiKey": f"sk-soak-{i}", "baseUrl": fake.base_url})
            assert resp.status_code == 201, resp.text
        resp = admin.put("/api/resilience", json={"firstByteTimeoutMs": FIRST_BYTE_TIMEOUT_MS})
        assert resp.status_code == 200, resp.text
        resp = admin.post("/api/combos", json={"name": COMBO, "models": [MINI, FOUR_O],
                                               "config": {"targetTimeoutMs": TARGET_TIMEOUT_MS}})
        assert resp.status_code == 201, resp.text
        before = admin.get("/api/usage/logs", params={"limit": 1}).json()["total"]

        for seed, fake in zip((20240601, 777), fakes, strict=True):
            fake.chaos(seed=seed, rate=0.3, hang_s=HANG_S)
        shots = _plan(seed=42)
        t0 = time.monotonic()
        tally = asyncio.run(_soak(gw.url, shots))
        soak_s = time.monotonic() - t0
        chaos = Counter()
        for fake in fakes:
            chaos.update(fake.chaos_counts)
        upstream_requests = sum(len(fake.requests) for fake in fakes)
        for fake in fakes:
            fake.clear()  # chaos off
        rows = _settled_usage_total(admin, before + N_REQUESTS) - before
    finally:
        admin.close()

    kinds = Counter(shot.stream for shot in shots)
    print(f"\nsoak: {N_REQUESTS} requests in {soak_s:.1f} s ({kinds[True]} streaming): ok {tally.ok}, "
          f"in-band stream errors {tally.in_band}, errors by status {dict(sorted(tally.errors.items()))}, "
          f"answers after fallback {tally.fallbacks} ({tally.fallback_attempts} failed attempts), "
          f"problems {len(tally.problems)}, upstream requests {upstream_requests}, chaos {dict(chaos)}, "
          f"usage rows {rows}")

    assert not tally.problems, f"{len(tally.problems)} bad outcomes, e.g.:\n" + "\n".join(tally.problems[:15])
    assert tally.ok + tally.in_band + sum(tally.errors.values()) == N_REQUESTS
    # The chaos happened: about 30 % of upstream requests, every kind dealt.
    assert set(chaos) == {"500", "503", "429", "retry-after", "hang", "cut", "reset", "error-event"}, chaos
    assert sum(chaos.values()) >= 0.2 * upstream_requests, (chaos, upstream_requests)
    # ... and fallback absorbed most of it.
    top = "\n".join(f"  {n} x {reason}" for reason, n in tally.reasons.most_common(5))
    assert tally.ok > 0.8 * N_REQUESTS, f"only {tally.ok} of {N_REQUESTS} answered; most common errors:\n{top}"
    assert tally.fallbacks >= 0.1 * N_REQUESTS, tally.fallbacks
    assert upstream_requests > N_REQUESTS  # failed attempts were tried again elsewhere
    assert rows == N_REQUESTS, f"{rows} usage rows for {N_REQUESTS} requests"
    assert time.monotonic() - started < 60, time.monotonic() - started
