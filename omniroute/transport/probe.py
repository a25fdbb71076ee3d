"""Management-side upstream calls: list an account's models (also used to test it)."""

from __future__ import annotations

import time

import aiohttp
import orjson

from omniroute.errors import UpstreamConnectionError, UpstreamError, classify_upstream

PROBE_TIMEOUT = aiohttp.ClientTimeout(total=15)


async def list_models(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[list[dict], float]:
    """GET the upstream's model list; returns the models and the latency in ms."""
    started = time.perf_counter()
    try:
        async with session.get(url, headers=headers, timeout=PROBE_TIMEOUT) as resp:
            raw = await resp.read()
            status = resp.status
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise UpstreamConnectionError(f"upstream unreachable: {exc.__class__.__name__}: {exc}") from exc
    latency = (time.perf_counter() - started) * 1000
    if status >= 300:
        raise classify_upstream(status, raw)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError("upstream model list is not JSON", status=502) from None
    items = data.get("data") if isinstance(data, dict) else data
    if not isinstance(items, list):
        items = data.get("models", []) if isinstance(data, dict) else []
    models = [m if isinstance(m, dict) else {"id": str(m)} for m in items]
    for m in models:  # Ollama names models "name"/"model", Gemini "models/<id>"
        if "id" not in m:
            name = m.get("model") or m.get("name")
            if isinstance(name, str):
                m["id"] = name.removeprefix("models/")
    return [m for m in models if "id" in m], latency
