"""Fake OpenAI Responses API upstream (``POST /v1/responses``, ``GET /v1/models``): a real aiohttp
server for tests and benchmarks."""

from __future__ import annotations

import argparse
import secrets
import time
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import ErrorEvent, FakeUpstream, json_response
from tests.fakes.openai_answers import error_body as openai_error_body
from tests.fakes.openai_answers import models_list, split_fragments

DEFAULT_MODELS = ["gpt-5-mini", "gpt-4.1", "o4-mini", "fake-model"]
_SSE = "text/event-stream"
_JSON_FORMATS = ("json_object", "json_schema")


def error_body(
    status: int, message: str | None = None, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI-shaped error body {"error": {"message", "type", "param", "code"}} for an HTTP status."""
    body = openai_error_body(status)
    if message is not None:
        body["error"].update(message=message, param=param, code=code)
    return body


# ResponseError.code values a stream error maps to (any other kind becomes "server_error").
_FAILED_CODES = {"rate_limit_error": "rate_limit_exceeded", "rate_limit_exceeded": "rate_limit_exceeded",
                 "invalid_prompt": "invalid_prompt", "server_error": "server_error"}


def _type_name(value: Any) -> str:
    """How the real API names the JSON type of a bad value in its error messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "null" if value is None else "an object"


def _validate(body: Any) -> tuple[str, str | None, str | None] | None:
    """(message, param, code) of a 400 for an invalid create-response body, or None."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request.", None, None
    for field in ("model", "input"):
        if body.get(field) is None or (field == "model" and body[field] == ""):
            return f"Missing required parameter: '{field}'.", field, "missing_required_parameter"
    if not isinstance(body["model"], str):
        return f"Invalid type for 'model': expected a string, but got {_type_name(body['model'])} instead.", \
            "model", "invalid_type"
    if not isinstance(body["input"], str | list):
        return ("Invalid type for 'input': expected one of a string or array of input items, but got "
                f"{_type_name(body['input'])} instead."), "input", "invalid_type"
    if isinstance(body["input"], list):
        for i, item in enumerate(body["input"]):
            if not isinstance(item, dict):
                return f"Invalid type for 'input[{i}]': expected an input item, but got {_type_name(item)} " \
                    "instead.", f"input[{i}]", "invalid_type"
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return f"Invalid type for 'tools': expected an array, but got {_type_name(tools)} instead.", \
                "tools", "invalid_type"
        for i, tool in enumerate(tools):
            if isinstance(tool, dict) and tool.get("type") == "function" and not tool.get("name"):
                return f"Missing required parameter: 'tools[{i}].name'.", f"tools[{i}].name", \
                    "missing_required_parameter"
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        return f"Invalid type for 'max_output_tokens': expected an integer, but got {_type_name(limit)} " \
            "instead.", "max_output_tokens", "invalid_type"
    if isinstance(limit, int) and limit < 1:
        return ("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 1, but got "
                f"{limit} instead."), "max_output_tokens", "integer_below_min_value"
    if "stream" in body and body["stream"] is not None and not isinstance(body["stream"], bool):
        return f"Invalid type for 'stream': expected a boolean, but got {_type_name(body['stream'])} instead.", \
            "stream", "invalid_type"
    return None


def content_text(content: Any) -> str:
    """Flatten a content value (string or list of parts) to the text of its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's input as a list of items (a string input is one user message)."""
    raw = body.get("input")
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    return [item for item in raw or [] if isinstance(item, dict)]


def item_kind(item: dict[str, Any]) -> str | None:
    """An input item's type ("message" for the short `{"role", "content"}` form)."""
    return item.get("type") or ("message" if "role" in item else None)


def _item_text(item: dict[str, Any]) -> str:
    kind = item_kind(item)
    if kind == "message":
        return content_text(item.get("content"))
    if kind == "function_call_output":
        return content_text(item.get("output"))
    return ""


def _words(text: str) -> list[str]:
    """Split text into word deltas that concatenate back to it (leading space on all but the first)."""
    return [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]


def _count(text: str) -> int:
    return len(text.split())


def _truncate(text: str, words: int) -> str:
    """The first `words` words of text."""
    return " ".join(text.split()[:words])


def _sse(event: dict[str, Any]) -> bytes:
    """Encode one SSE event named after its `type`."""
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class Answer:
    """What the fake answers to one create-response request: an optional reasoning item, then a text
    message or one function_call, trimmed to max_output_tokens."""

    def __init__(self, body: dict[str, Any], cached_tokens: int = 0):
        self.body = body
        self.model: str = body["model"]
        self.id = "resp_" + secrets.token_hex(24)
        self.created_at = int(time.time())
        items = input_items(body)
        last = items[-1] if items else {}
        user = next((i for i in reversed(items) if item_kind(i) == "message" and i.get("role") == "user"), {})
        user_text = content_text(user.get("content"))
        outputs: list[str] = []  # the trailing run of function_call_output items
        for item in reversed(items):
            if item_kind(item) != "function_call_output":
                break
            outputs.insert(0, content_text(item.get("output")))
        instructions = body.get("instructions") if isinstance(body.get("instructions"), str) else ""
        words = _count(instructions) + sum(_count(_item_text(i)) for i in items)
        self.cached_tokens = max(cached_tokens, 0)
        self.input_tokens = max(words, 1) + self.cached_tokens

        reasoning = body.get("reasoning")
        self.reasoning = isinstance(reasoning, dict) and reasoning.get("effort") != "none"
        self.summary = f"Thinking about: {user_text}" if self.reasoning else ""
        self.encrypted = "enc_" + secrets.token_urlsafe(48) if self.reasoning else ""

        tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
        choice = body.get("tool_choice")
        self.call: dict[str, str] | None = None
        self.text = ""
        last_is_user = item_kind(last) == "message" and last.get("role") == "user"
        if tools and choice != "none" and last_is_user:
            tool = tools[0]
            if isinstance(choice, dict) and choice.get("type") == "function":  # forced, when declared
                tool = next((t for t in tools if t.get("name") == choice.get("name")), tool)
            self.call = {
                "id": "fc_" + secrets.token_hex(24), "call_id": "call_" + secrets.token_hex(12),
                "name": tool["name"], "arguments": orjson.dumps({"query": user_text}).decode(),
            }
            generated = self.call["arguments"]
        else:
            self.text = f"echo: result {' '.join(outputs)}" if outputs else f"echo: {user_text}"
            fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
            if isinstance(fmt, dict) and fmt.get("type") in _JSON_FORMATS:
                self.text = orjson.dumps({"text": self.text}).decode()
            generated = self.text
        self.message_id = "msg_" + secrets.token_hex(24)
        self.reasoning_id = "rs_" + secrets.token_hex(24)

        # Token budget: reasoning words first, then the answer; anything past the limit is cut off.
        self.reasoning_tokens = _count(self.summary)
        answer_tokens = max(_count(generated), 1)
        limit = body.get("max_output_tokens")
        self.incomplete = isinstance(limit, int) and limit < self.reasoning_tokens + answer_tokens
        self.has_answer = True  # False when the budget ran out while reasoning
        if self.incomplete and limit <= self.reasoning_tokens:
            self.summary = _truncate(self.summary, limit)
            self.reasoning_tokens, answer_tokens = limit, 0
            self.call, self.text, self.has_answer = None, "", False
        elif self.incomplete:
            answer_tokens = limit - self.reasoning_tokens
            if self.call is not None:
                self.call["arguments"] = _truncate(self.call["arguments"], answer_tokens)
            else:
                self.text = _truncate(self.text, answer_tokens)
        self.output_tokens = self.reasoning_tokens + answer_tokens

    # ---- objects ---------------------------------------------------------------------------

    @property
    def status(self) -> str:
        return "incomplete" if self.incomplete else "completed"

    def usage(self) -> dict[str, Any]:
        """The ResponseUsage object."""
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    def reasoning_item(self, done: bool) -> dict[str, Any]:
        summary = [{"type": "summary_text", "text": self.summary}] if done else []
        return {"id": self.reasoning_id, "type": "reasoning", "summary": summary,
                "encrypted_content": self.encrypted if done else None}

    def text_part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def message_item(self, done: bool) -> dict[str, Any]:
        status = self.status if done else "in_progress"
        content = [self.text_part(self.text)] if done else []
        return {"id": self.message_id, "type": "message", "status": status, "role": "assistant",
                "content": content}

    def call_item(self, done: bool) -> dict[str, Any]:
        assert self.call is not None
        status = self.status if done else "in_progress"
        return {"id": self.call["id"], "type": "function_call", "status": status,
                "call_id": self.call["call_id"], "name": self.call["name"],
                "arguments": self.call["arguments"] if done else ""}

    def output(self) -> list[dict[str, Any]]:
        """The finished output items."""
        out = [self.reasoning_item(True)] if self.reasoning else []
        if self.call is not None:
            out.append(self.call_item(True))
        elif self.has_answer:
            out.append(self.message_item(True))
        return out

    def response(self, status: str | None = None) -> dict[str, Any]:
        """The Response object: finished when `status` is None, else an empty in-progress snapshot."""
        body = self.body
        finished = status is None
        tools = []
        for tool in body.get("tools") or []:
            if isinstance(tool, dict) and tool.get("type") == "function":
                tool = {"description": None, "parameters": None, "strict": True, **tool}
            tools.append(tool)
        text = body.get("text") if isinstance(body.get("text"), dict) else {}
        reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
        return {
            "id": self.id, "object": "response", "created_at": self.created_at,
            "status": self.status if finished else status,
            "background": False, "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if finished and self.incomplete else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"), "max_tool_calls": body.get("max_tool_calls"),
            "model": self.model,
            "output": self.output() if finished else [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": body.get("service_tier") or "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": "medium", **text},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": tools,
            "top_logprobs": body.get("top_logprobs", 0),
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation") or "disabled",
            "usage": self.usage() if finished else None,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
            "completed_at": int(time.time()) if finished and not self.incomplete else None,
        }

    # ---- stream ----------------------------------------------------------------------------

    def stream_events(self) -> tuple[list[tuple[bool, dict[str, Any]]], list[dict[str, Any]]]:
        """([(is_content_delta, event)] up to the last output_item.done, [the terminal event]),
        without sequence numbers."""
        events: list[tuple[bool, dict[str, Any]]] = [
            (False, {"type": "response.created", "response": self.response("in_progress")}),
            (False, {"type": "response.in_progress", "response": self.response("in_progress")}),
        ]

        def add(kind: str, is_delta: bool = False, **fields: Any) -> None:
            events.append((is_delta, {"type": kind, **fields}))

        index = 0
        if self.reasoning:
            rid = self.reasoning_id
            at = {"item_id": rid, "output_index": index, "summary_index": 0}
            add("response.output_item.added", output_index=index, item=self.reasoning_item(False))
            add("response.reasoning_summary_part.added", **at, part={"type": "summary_text", "text": ""})
            for piece in _words(self.summary):
                add("response.reasoning_summary_text.delta", True, **at, delta=piece)
            add("response.reasoning_summary_text.done", **at, text=self.summary)
            add("response.reasoning_summary_part.done", **at, part={"type": "summary_text", "text": self.summary})
            add("response.output_item.done", output_index=index, item=self.reasoning_item(True))
            index += 1
        if self.call is not None:
            at = {"item_id": self.call["id"], "output_index": index}
            add("response.output_item.added", output_index=index, item=self.call_item(False))
            for piece in split_fragments(self.call["arguments"], 3):
                add("response.function_call_arguments.delta", True, **at, delta=piece)
            add("response.function_call_arguments.done", **at, name=self.call["name"],
                arguments=self.call["arguments"])
            add("response.output_item.done", output_index=index, item=self.call_item(True))
        elif self.has_answer:
            at = {"item_id": self.message_id, "output_index": index, "content_index": 0}
            add("response.output_item.added", output_index=index, item=self.message_item(False))
            add("response.content_part.added", **at, part=self.text_part(""))
            for piece in _words(self.text):
                add("response.output_text.delta", True, **at, delta=piece, logprobs=[])
            add("response.output_text.done", **at, text=self.text, logprobs=[])
            add("response.content_part.done", **at, part=self.text_part(self.text))
            add("response.output_item.done", output_index=index, item=self.message_item(True))
        terminal = "response.incomplete" if self.incomplete else "response.completed"
        return events, [{"type": terminal, "response": self.response()}]


class FakeResponses(FakeUpstream):
    """A fake OpenAI Responses API upstream with recording, latency and fault injection.

    `base_url` is what the openai SDK takes; keys come from `Authorization: Bearer`.
    cached_tokens: a cached prompt prefix of that many tokens, counted into input_tokens and reported
    as input_tokens_details.cached_tokens. strict_models=True makes models not in `models` a 404.
    send_done=False leaves out the terminal response.completed/.incomplete event; cut_stream_after(n)
    drops the connection after `n` content deltas (text, reasoning summary or function arguments)."""

    name = "fake-responses"
    description = "Fake OpenAI Responses API upstream"
    default_port = 18083
    default_models = tuple(DEFAULT_MODELS)

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        super().__init__(latency_ms, port, record=record, host=host)
        self.cached_tokens = 0
        self.strict_models = False

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/responses", self.handle_generate)
        router.add_get("/v1/models", self.handle_models)

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return error_body(status, message)

    def models_page(self) -> dict[str, Any]:
        return models_list(self.models)

    def invalid(self, message: str, param: str | None, code: str | None, status: int = 400) -> web.Response:
        """An error response with an explicit message, param and code."""
        return json_response(error_body(status, message, param, code), status)

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        problem = _validate(body)
        if problem is not None:
            return self.invalid(*problem)
        if self.strict_models and body["model"] not in self.models:
            message = f"The model `{body['model']}` does not exist or you do not have access to it."
            return self.invalid(message, None, "model_not_found", 404)
        return None

    def is_streaming(self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def stream_error(
        self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any], event: ErrorEvent
    ) -> tuple[str, list[bytes]]:
        # response.created, then an `error` event (ResponseErrorEvent: code/message/param at the top
        # level), then the terminal response.failed whose response carries the ResponseError.
        answer = Answer(body, self.cached_tokens)
        code = _FAILED_CODES.get(event.kind, "server_error")
        failed = {**answer.response("failed"),
                  "error": {"code": code, "message": event.message, "param": None, "type": event.kind}}
        events = [
            {"type": "response.created", "response": answer.response("in_progress")},
            {"type": "error", "code": code, "message": event.message, "param": None},
            {"type": "response.failed", "response": failed},
        ]
        return _SSE, [_sse({**e, "sequence_number": n}) for n, e in enumerate(events)]

    async def answer(
        self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
        ctx: dict[str, Any],
    ) -> web.StreamResponse:
        answer = Answer(body, self.cached_tokens)
        if not streaming:
            return json_response(answer.response())
        events, tail = answer.stream_events()
        if cut is None:
            chosen = [event for _, event in events] + (tail if self.send_done else [])
        else:  # up to the cut-th content delta (before the first one for 0); never the terminal event
            chosen, seen = [], 0
            for is_delta, event in events:
                if seen >= cut and (is_delta or cut > 0):
                    break
                chosen.append(event)
                seen += is_delta
        chunks = [_sse({**event, "sequence_number": n}) for n, event in enumerate(chosen)]
        return await self.write_stream(request, _SSE, chunks, cut=cut is not None)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--cached-tokens", type=int, default=0, help="cached prompt tokens to report")
        parser.add_argument("--strict-models", action="store_true", help="404 for models not in the list")

    def configure(self, args: argparse.Namespace) -> None:
        self.cached_tokens = args.cached_tokens
        self.strict_models = args.strict_models


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    FakeResponses.main(argv)


if __name__ == "__main__":
    main()
