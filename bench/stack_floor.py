"""The stack's floor: a bare uvicorn + aiohttp pass-through with none of the gateway's logic.

`make bench` runs it beside the gateway so the gateway's own cost can be told apart from what
the server and client libraries cost on this machine. Run: python bench/stack_floor.py PORT UPSTREAM_URL
"""

from __future__ import annotations

import sys

import aiohttp
import orjson
import uvicorn


def make_app(upstream: str):
    """An ASGI app that forwards each POST body to `upstream` and returns its answer."""
    state: dict = {}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await state["session"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["method"] != "POST":  # readiness probe
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        message = await receive()
        body = orjson.loads(message["body"])
        body["model"] = "gpt-4o-mini"
        headers = {"Authorization": "Bearer sk-floor", "Content-Type": "application/json"}
        async with state["session"].post(upstream, data=orjson.dumps(body), headers=headers) as resp:
            status, content_type = resp.status, resp.headers.get("content-type", "application/json")
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", content_type.encode())]})
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


if __name__ == "__main__":
    port, upstream = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(make_app(upstream), host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", proxy_headers=False)
