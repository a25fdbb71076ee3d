"""POST /v1/embeddings (OpenAI shape, any embedding provider) and GET /v1/embeddings (the models)."""

from __future__ import annotations

import orjson

from omniroute.capabilities import embeddings
from omniroute.capabilities.models import EMBEDDINGS
from omniroute.pipeline import Answer, Exchange
from omniroute.schema import Usage
from omniroute.server.client_media import MediaRoute, failed, malformed, read_upstream


class EmbeddingsRoute(MediaRoute):
    kind = EMBEDDINGS

    async def run(self, ex: Exchange, forced: str | None) -> Answer:
        pipeline = self.s.pipeline
        inputs = embeddings.validate(ex.body)
        target = self.target(ex, forced)
        spec, model = target.provider, target.model
        # Built once before any account is tried: inputs a provider cannot carry are refused here.
        style = embeddings.build(spec, str, model, ex.body, inputs).style
        fmt = ex.body.get("encoding_format") or "float"

        async def send(account):
            call = embeddings.build(spec, account.url, model, ex.body, inputs)
            return await pipeline.post(call.url, account, call.payload)

        async def accept(resp) -> Answer:
            if resp.status >= 300:
                raise await failed(resp)
            raw = await read_upstream(resp)
            try:
                vectors = embeddings.read(style, orjson.loads(raw), len(inputs))
            except orjson.JSONDecodeError:
                raise malformed(resp.status, raw, "embeddings", "not JSON") from None
            except ValueError as exc:
                raise malformed(resp.status, raw, "embeddings", str(exc)) from None
            reported = vectors.prompt_tokens
            tokens = reported if reported is not None else embeddings.estimate_tokens(inputs)
            ex.usage = Usage(input=tokens, estimated=reported is None)
            return self.json_answer(ex, resp.status, embeddings.answer(vectors, fmt, model, tokens))

        return await pipeline.attempt(ex, target, send, accept)
