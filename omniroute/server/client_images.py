"""POST /v1/images/generations (OpenAI shape, any image provider) and GET (the image models)."""

from __future__ import annotations

import orjson

from omniroute.capabilities import images
from omniroute.capabilities.models import IMAGES
from omniroute.pipeline import Answer, Exchange
from omniroute.schema import Usage
from omniroute.server.client_media import MediaRoute, failed, malformed, read_upstream


def _usage(usage: dict | None) -> Usage:
    """Token usage of GPT image models (``input_tokens``/``output_tokens``); none for the others."""
    if not usage:
        return Usage()
    count = [usage.get(k) if isinstance(usage.get(k), int) else 0 for k in ("input_tokens", "output_tokens")]
    return Usage(input=count[0], output=count[1])


class ImagesRoute(MediaRoute):
    kind = IMAGES

    async def run(self, ex: Exchange, forced: str | None) -> Answer:
        s, pipeline = self.s, self.s.pipeline
        images.validate(ex.body)
        target = self.target(ex, forced)
        spec, model = target.provider, target.model
        wanted = ex.body.get("response_format")
        sent: dict = {}

        async def send(account):
            call = images.build(spec, account.url, model, ex.body)
            headers = {**s.pool.headers(account), "Accept": call.accept} if call.accept else None
            sent.update(call=call, account=account, headers=headers)
            return await pipeline.post(call.url, account, call.payload, headers)

        async def one(resp) -> images.Images:
            if resp.status >= 300:
                raise await failed(resp)
            raw = await read_upstream(resp)
            kind = resp.headers.get("Content-Type", "")
            try:
                data = None if kind.startswith("image/") else orjson.loads(raw)
                return images.read(sent["call"].style, data, kind, raw)
            except orjson.JSONDecodeError:
                raise malformed(resp.status, raw, "image generation", "not JSON") from None
            except ValueError as exc:
                raise malformed(resp.status, raw, "image generation", str(exc)) from None

        async def accept(resp) -> Answer:
            status = resp.status
            got = await one(resp)
            call = sent["call"]
            for _ in range(call.calls - 1):  # upstreams that make one image per call
                more = await pipeline.post(call.url, sent["account"], call.payload, sent["headers"])
                got.items += (await one(more)).items
            try:
                body = images.answer(got, wanted)
            except ValueError as exc:
                raise malformed(status, b"", "image generation", str(exc)) from None
            ex.usage = _usage(got.usage)
            ex.images = len(got.items)
            return self.json_answer(ex, status, body)

        return await pipeline.attempt(ex, target, send, accept)
