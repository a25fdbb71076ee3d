"""Token counting: Anthropic ``/v1/messages/count_tokens`` and Gemini ``:countTokens``.

The upstream's own counter answers when the routed provider has one (Anthropic, Gemini);
otherwise, or when it cannot be reached, the gateway counts locally with tiktoken. The
``X-OmniRoute-Token-Count`` header says which (``upstream`` or ``local``).
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import orjson

from omniroute.dialects.registry import codec
from omniroute.errors import OmniRouteError, PermissionDenied
from omniroute.routing.accounts import Account
from omniroute.routing.resolve import resolve
from omniroute.schema import ChatRequest
from omniroute.server.asgi import JSON_HEADERS, send_bytes
from omniroute.server.client_chat import ChatRoute

log = logging.getLogger("omniroute")

# Counting is cheap upstream; a slow counter must not hold the client for long.
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=10)


class CountTokensRoute(ChatRoute):
    """POST /v1/messages/count_tokens (Anthropic) and /v1beta/models/{m}:countTokens (Gemini)."""

    async def __call__(self, scope, receive, send) -> None:
        ex = await self.accept(scope, receive)
        try:
            if ex.refused is not None:
                raise ex.refused
            request = self._decode(ex.body, ex.path_model)
            ex.requested_model = request.model
            target = resolve(request.model, self.s.registry, self.s.pool)
            if ex.api_key is not None and not ex.api_key.allows_model(request.model):
                raise PermissionDenied(f"this API key may not use the model '{request.model}'",
                                       code="model_not_allowed")
            request.model = target.model
            ex.target = target
            count, source = await self._upstream_count(target.provider.id, request), b"upstream"
            if count is None:
                from omniroute.tokens import count_tokens

                # The first count loads the encoding (about a quarter of a second): off the loop.
                count, source = await asyncio.to_thread(count_tokens, request), b"local"
        except OmniRouteError as err:
            return await self.refuse(ex, err, send)
        body = {"totalTokens": count} if self.dialect == "gemini" else {"input_tokens": count}
        await send_bytes(send, 200, orjson.dumps(body), [*JSON_HEADERS, (b"x-omniroute-token-count", source)])
        self.s.pipeline.record(ex)  # a row like every request's; counting costs nothing

    def _decode(self, body: dict, path_model: str | None) -> ChatRequest:
        if self.dialect == "gemini":
            inner = body.get("generateContentRequest")
            if isinstance(inner, dict):  # the request form carries tools and instructions too
                body = inner
            request = codec("gemini").decode_request(body)
            request.model = path_model or request.model
            return request
        # A count request is a Messages request without max_tokens.
        return codec("anthropic").decode_request({**body, "max_tokens": 1})

    async def _upstream_count(self, provider_id: str, request: ChatRequest) -> int | None:
        accounts = self.s.pool.accounts(provider_id)  # counting is no pick: selection state stays as it is
        if not accounts:
            return None
        account = accounts[0]
        dialect = account.provider.dialect
        try:
            if dialect == "anthropic":
                body = codec("anthropic").encode_request(request)
                for field in ("max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences"):
                    body.pop(field, None)
                data = await self._post(account, account.chat_url + "/count_tokens", body)
                value = data.get("input_tokens")
            elif dialect == "gemini":
                body = codec("gemini").encode_request(request)
                body["model"] = f"models/{request.model}"
                url = f"{account.base_url}/models/{request.model}:countTokens"
                data = await self._post(account, url, {"generateContentRequest": body})
                value = data.get("totalTokens")
            else:
                return None
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            log.info("upstream token count unavailable (%s); counting locally", exc.__class__.__name__)
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    async def _post(self, account: Account, url: str, body: dict) -> dict:
        session = self.s.proxies.session_for(url, account)
        async with session.post(url, data=orjson.dumps(body), headers=self.s.pool.headers(account),
                                timeout=UPSTREAM_TIMEOUT) as resp:
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status}")
            data = orjson.loads(await resp.read())
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
