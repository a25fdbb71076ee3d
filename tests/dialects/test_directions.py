"""The golden translation table: every client → upstream direction, checked against reviewed expectations.

Per direction three kinds of case, each driven by a fixture in the source dialect:

* request:  client body → ``codec(client).decode_request`` → ``codec(upstream).encode_request``
* response: upstream body → ``codec(upstream).decode_response`` → ``codec(client).encode_response``
* stream:   upstream bytes → TranslatingRelay(upstream decoder, client encoder) → client events

Expected values live in ``tests/fixtures/directions/<client>_to_<upstream>/``. Values the gateway
invents (ids a dialect lacks, timestamps) are replaced by placeholders on both sides; a placeholder
names one value, so an invented call id must still match between a call and its result.

``OMNIROUTE_WRITE_GOLDEN=1`` writes the current output of every case whose expected file is missing
(``=all`` rewrites them all, the reviewed expectations of known-wrong cases included); a written
file is a proposal to review, not a verdict.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from omniroute.dialects import translate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN = FIXTURES / "directions"
INPUTS = "directions/inputs"

DIALECTS = ("openai", "anthropic", "gemini", "ollama", "responses")

UPSTREAM_MODEL = "upstream-model"  # what the route puts in ``request.model`` before encoding
CLIENT_MODEL = "client-model"  # the model name a client stream is written for

REQUEST_CASES = ("text", "tools", "images", "reasoning", "json", "system_only")
RESPONSE_CASES = ("text", "tool_calls", "reasoning", "length")
STREAM_CASES = ("text_stream", "tool_stream", "reasoning_stream")

# Input fixtures, relative to tests/fixtures. A case a dialect cannot express is simply absent
# (``system_only``: Anthropic, Gemini and Responses bodies always hold a conversation turn).
REQUEST_INPUTS: dict[str, dict[str, str | None]] = {
    "openai": {
        "text": f"{INPUTS}/openai/request_text.json",
        "tools": f"{INPUTS}/openai/request_tools.json",
        "images": "openai_chat/request_images.json",
        "reasoning": f"{INPUTS}/openai/request_reasoning.json",
        "json": "openai_chat/request_response_format.json",
        "system_only": f"{INPUTS}/openai/request_system_only.json",
    },
    "anthropic": {
        "text": "anthropic/request_text.json",
        "tools": "anthropic/request_tools.json",
        "images": "anthropic/request_images.json",
        "reasoning": "anthropic/request_thinking.json",
        "json": f"{INPUTS}/anthropic/request_json.json",
    },
    "gemini": {
        "text": f"{INPUTS}/gemini/request_text.json",
        "tools": "gemini/request_tools.json",
        "images": f"{INPUTS}/gemini/request_images.json",
        "reasoning": f"{INPUTS}/gemini/request_reasoning.json",
        "json": f"{INPUTS}/gemini/request_json.json",
    },
    "ollama": {
        "text": f"{INPUTS}/ollama/request_text.json",
        "tools": f"{INPUTS}/ollama/request_tools.json",
        "images": f"{INPUTS}/ollama/request_images.json",
        "reasoning": f"{INPUTS}/ollama/request_reasoning.json",
        "json": f"{INPUTS}/ollama/request_json.json",
        "system_only": f"{INPUTS}/ollama/request_system_only.json",
    },
    "responses": {
        "text": "responses/request_text.json",
        "tools": "responses/request_tools.json",
        "images": "responses/request_images.json",
        "reasoning": "responses/request_reasoning.json",
        "json": f"{INPUTS}/responses/request_json.json",
    },
}

RESPONSE_INPUTS: dict[str, dict[str, str]] = {
    "openai": {
        "text": f"{INPUTS}/openai/response_text.json",
        "tool_calls": "openai_chat/response_tool_calls.json",
        "reasoning": "openai_chat/response_reasoning.json",
        "length": "openai_chat/response_cached_usage.json",
    },
    "anthropic": {
        "text": "anthropic/response_text.json",
        "tool_calls": f"{INPUTS}/anthropic/response_tool_calls.json",
        "reasoning": "anthropic/response_thinking.json",
        "length": f"{INPUTS}/anthropic/response_length.json",
    },
    "gemini": {
        "text": f"{INPUTS}/gemini/response_text.json",
        "tool_calls": f"{INPUTS}/gemini/response_tool_calls.json",
        "reasoning": f"{INPUTS}/gemini/response_reasoning.json",
        "length": "gemini/response_text.json",
    },
    "ollama": {
        "text": "ollama/response_text.json",
        "tool_calls": "ollama/response_tool_calls.json",
        "reasoning": f"{INPUTS}/ollama/response_reasoning.json",
        "length": f"{INPUTS}/ollama/response_length.json",
    },
    "responses": {
        "text": "responses/response_text.json",
        "tool_calls": "responses/response_tool_call.json",
        "reasoning": "responses/response_reasoning.json",
        "length": f"{INPUTS}/responses/response_length.json",
    },
}

STREAM_INPUTS: dict[str, dict[str, str]] = {
    "openai": {
        "text_stream": f"{INPUTS}/openai/stream_text.sse",
        "tool_stream": "openai_chat/stream_parallel_tools.sse",
        "reasoning_stream": "openai_chat/stream_reasoning_text.sse",
    },
    "anthropic": {
        "text_stream": "anthropic/stream_text.sse",
        "tool_stream": "anthropic/stream_tool_use.sse",
        "reasoning_stream": "anthropic/stream_thinking.sse",
    },
    "gemini": {
        "text_stream": "gemini/stream_text.sse",
        "tool_stream": "gemini/stream_tool_call.sse",
        "reasoning_stream": f"{INPUTS}/gemini/stream_reasoning.sse",
    },
    "ollama": {
        "text_stream": "ollama/stream_text.ndjson",
        "tool_stream": "ollama/stream_tool_calls.ndjson",
        "reasoning_stream": "ollama/stream_thinking.ndjson",
    },
    "responses": {
        "text_stream": "responses/stream_text.sse",
        "tool_stream": "responses/stream_tool_call.sse",
        "reasoning_stream": "responses/stream_reasoning.sse",
    },
}

# ---------------------------------------------------------------- normalising generated values

_TIME_KEYS = frozenset({"created", "created_at", "completed_at"})
_ID_KEYS = frozenset({"id", "tool_call_id", "tool_use_id", "call_id", "responseId", "item_id"})
# An invented id: a dialect prefix or two (``msg_``, ``resp_``, ``call_``…) around fresh hex digits.
_GENERATED_ID = re.compile(
    r"^(?:(?:msg|resp)_)?(?:call_|chatcmpl-|toolu_|resp_|fc_|rs_|msg_)?([0-9a-f]{24,48})$"
)


def normalise(value, source: str):
    """``value`` with invented ids and timestamps as placeholders; anything taken from ``source`` stays.

    Each distinct invented id gets its own numbered placeholder, in order of first appearance, so
    the pairing of a call and its result survives normalisation.
    """
    names: dict[str, str] = {}

    def walk(item, key=None):
        if isinstance(item, dict):
            return {k: walk(v, k) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        if key in _TIME_KEYS and isinstance(item, int | str) and str(item) not in source:
            return "<time>"
        if key in _ID_KEYS and isinstance(item, str) and (found := _GENERATED_ID.match(item)):
            # An upstream id under a new prefix is carried, not invented: it stays.
            if found.group(1) not in source:
                return names.setdefault(item, f"<id{len(names) + 1}>")
        return item

    return walk(value)


# ---------------------------------------------------------------- running one case


def _read(path: str) -> str:
    return (FIXTURES / path).read_text(encoding="utf-8")


def run_request(client: str, upstream: str, source: str):
    request = translate.decode_client(client, json.loads(source))
    request.model = UPSTREAM_MODEL
    return translate.encode_upstream(request, upstream)


def run_response(client: str, upstream: str, source: str):
    return translate.encode_answer(translate.decode_answer(upstream, json.loads(source)), upstream, client)


def run_stream(client: str, upstream: str, source: str):
    relay = translate.stream_relay(upstream, client, CLIENT_MODEL)
    if client == "openai":
        relay.encoder.include_usage = True  # as when the client sends stream_options.include_usage
    out = b"".join(relay.feed(line) for line in source.encode().splitlines(keepends=True))
    out += relay.finish()
    return parse_stream(client, out)


def parse_stream(client: str, raw: bytes) -> list:
    """Client stream bytes as a list of events: NDJSON lines, or SSE events ({event, data} when named)."""
    text = raw.decode("utf-8")
    if client == "ollama":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    events = []
    for block in re.split(r"\r?\n\r?\n", text):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        payload = "\n".join(data)
        body = payload if payload == "[DONE]" else json.loads(payload)
        events.append({"event": name, "data": body} if name else body)
    return events


RUNNERS = {"request": run_request, "response": run_response, "stream": run_stream}


# Known gaps: the expected file holds the correct translation; the codec does not produce it yet.
# strict=True: a case that starts passing fails the suite until it is taken off this list.
KNOWN_GAPS: dict[str, str] = {}


def _cases():
    for client in DIALECTS:
        for upstream in DIALECTS:
            if client == upstream:
                continue
            kinds = (
                ("request", REQUEST_CASES, REQUEST_INPUTS[client]),
                ("response", RESPONSE_CASES, RESPONSE_INPUTS[upstream]),
                ("stream", STREAM_CASES, STREAM_INPUTS[upstream]),
            )
            for kind, names, inputs in kinds:
                for name in names:
                    source = inputs.get(name)
                    if source is None:
                        continue
                    case_id = f"{client}->{upstream}/{kind}_{name.removesuffix('_stream')}"
                    gap = KNOWN_GAPS.get(case_id)
                    marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap else []
                    yield pytest.param(client, upstream, kind, name, source, id=case_id, marks=marks)


def golden_path(client: str, upstream: str, kind: str, name: str) -> Path:
    return GOLDEN / f"{client}_to_{upstream}" / f"{kind}_{name.removesuffix('_stream')}.json"


@pytest.mark.parametrize(("client", "upstream", "kind", "name", "source"), list(_cases()))
def test_direction(client: str, upstream: str, kind: str, name: str, source: str) -> None:
    text = _read(source)
    actual = normalise(RUNNERS[kind](client, upstream, text), text)
    path = golden_path(client, upstream, kind, name)
    mode = os.environ.get("OMNIROUTE_WRITE_GOLDEN", "")
    if mode == "all" or (mode and not path.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"no expected file {path.relative_to(FIXTURES)}"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual == expected
