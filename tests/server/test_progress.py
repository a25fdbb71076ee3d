"""Progress events (``X-OmniRoute-Progress: true``, API reference §1.3-§1.4) through the running gateway.

A stream asked for progress gets ``X-OmniRoute-Progress: enabled`` and, at most every 2 s and once at the
end, an event with ``tokens_generated`` and ``elapsed_ms`` in the client's own framing: an SSE
``event: progress`` for OpenAI Chat (a chunk with no choices, so the OpenAI SDK accepts it), Anthropic
and Responses (``"type": "progress"``); an extra NDJSON line for Ollama; none for Gemini. The fake
upstream paces its chunks (``chunk_delay_ms``) so the streams last long enough for mid-stream events.
"""

from __future__ import annotations

import uuid

import anthropic
import httpx
import ollama
import openai
import orjson
import pytest
from google import genai
from google.genai import types

MODEL = "openai/gpt-4o-mini"
PROGRESS = {"X-OmniRoute-Progress": "true", "X-OmniRoute-No-Cache": "true"}
DELAY_MS = 200  # between upstream chunks


def prompt(words: int) -> str:
    """A prompt the fake echoes one word per chunk: the stream has ``words + 1`` content chunks."""
    return " ".join(f"w{i}" for i in range(words))


def stream_seconds(words: int) -> float:
    """How long the fake's stream of ``prompt(words)`` lasts (role, content, finish, usage, [DONE])."""
    return (words + 4) * DELAY_MS / 1000


def reported_tokens(words: int) -> int:
    """The fake's completion_tokens for ``prompt(words)``: the words of "echo: w0 w1 ..."."""
    return words + 1


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name or None, data) of each SSE event, in order."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        out.append((name, "\n".join(data)))
    return out


def progress_of(events: list[tuple[str | None, str]]) -> list[dict]:
    return [orjson.loads(data) for name, data in events if name == "progress"]


def check_progress(events: list[dict], *, total_s: float, final_tokens: int | None = None) -> None:
    """Shared rules: ints, non-decreasing, mid-stream events ≥ ~2 s apart, exactly one final ``done``."""
    assert events, "no progress event at all"
    *middle, last = events
    assert last.get("done") is True, last
    assert all("done" not in e or e["done"] is False for e in middle), middle
    for e in events:
        assert isinstance(e["tokens_generated"], int) and e["tokens_generated"] >= 0, e
        assert isinstance(e["elapsed_ms"], int) and e["elapsed_ms"] >= 0, e
    elapsed = [e["elapsed_ms"] for e in events]
    assert elapsed == sorted(elapsed), f"elapsed_ms goes backwards: {elapsed}"
    tokens = [e["tokens_generated"] for e in middle]
    assert tokens == sorted(tokens), f"tokens_generated goes backwards: {tokens}"
    assert all(t > 0 for t in tokens), tokens
    # At most one event every 2 s: the mid-stream ones are ≥ 2 s apart (the first ≥ 2 s after the start).
    marks = [0, *(e["elapsed_ms"] for e in middle)]
    gaps = [b - a for a, b in zip(marks, marks[1:], strict=False)]
    assert all(g >= 1900 for g in gaps), f"progress events closer than 2 s: {elapsed}"
    # ...and there are some when the stream lasts long enough (tolerant of scheduling jitter).
    expected = int(total_s // 2)
    assert max(1, expected - 1) <= len(middle) <= expected, (len(middle), elapsed, total_s)
    assert last["elapsed_ms"] >= total_s * 1000 * 0.8, (last, total_s)
    if final_tokens is not None:
        assert last["tokens_generated"] == final_tokens, (last, final_tokens)


@pytest.fixture
def paced(upstream, connection):
    connection()
    upstream.chunk_delay_ms = DELAY_MS
    return upstream


# ---- OpenAI Chat ---------------------------------------------------------------------------------


def test_openai_sdk_iterates_a_stream_with_progress_events(gateway, paced):
    words = 11  # ~3 s: one mid-stream event, one final
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": prompt(words)}], stream=True,
        stream_options={"include_usage": True}, extra_headers=PROGRESS)
    assert raw.headers["x-omniroute-progress"] == "enabled"
    text, progress, usage = "", [], None
    for chunk in raw.parse():
        extra = chunk.model_extra or {}
        if "tokens_generated" in extra:
            assert chunk.choices == [] and chunk.object == "chat.completion.chunk"
            progress.append({k: extra[k] for k in ("tokens_generated", "elapsed_ms", "done") if k in extra})
            continue
        for choice in chunk.choices:
            text += choice.delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == "echo: " + prompt(words)
    assert usage is not None and usage.completion_tokens == reported_tokens(words)
    assert progress, "the SDK saw no progress chunk"
    assert progress[-1].get("done") is True, (
        f"the OpenAI SDK never saw the final progress event (it stops reading at [DONE]): {progress}")
    check_progress(progress, total_s=stream_seconds(words), final_tokens=usage.completion_tokens)


def test_openai_sse_framing_and_cadence(gateway, paced):
    words = 22  # ~5 s: two mid-stream events, one final
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt(words)}], "stream": True}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, headers=PROGRESS,
                      timeout=30) as resp:
        assert resp.status_code == 200
        assert resp.headers["x-omniroute-progress"] == "enabled"
        text = resp.read().decode()
    events = sse_events(text)
    blocks = [b for b in text.split("\n\n") if b.strip()]
    for block in blocks:
        if block.startswith("event: progress"):
            head, data = block.split("\n")  # exactly two lines: the event name and one data line
            assert head == "event: progress" and data.startswith("data: {")
    progress = progress_of(events)
    for e in progress:
        assert e["object"] == "chat.completion.chunk" and e["choices"] == []
        assert isinstance(e["id"], str) and isinstance(e["created"], int) and isinstance(e["model"], str)
    check_progress(progress, total_s=stream_seconds(words))
    # The client did not ask for usage: the gateway still knows the upstream's count (it asks for it).
    sent = paced.requests[-1].body
    if (sent.get("stream_options") or {}).get("include_usage"):
        assert progress[-1]["tokens_generated"] == reported_tokens(words)
    else:
        assert progress[-1]["tokens_generated"] > 0
    content = "".join(orjson.loads(d)["choices"][0]["delta"].get("content") or ""
                      for n, d in events if n is None and d != "[DONE]" and orjson.loads(d).get("choices"))
    assert content == "echo: " + prompt(words)


def test_openai_final_progress_event_precedes_done(gateway, paced):
    """An OpenAI stream ends with ``data: [DONE]``; SDKs stop reading there, so the final event comes first."""
    paced.chunk_delay_ms = 0
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt(3)}], "stream": True}
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=PROGRESS, timeout=30)
    events = sse_events(resp.text)
    assert events[-1] == (None, "[DONE]"), f"the stream must end with [DONE]; it ends with {events[-2:]}"
    progress = progress_of(events)
    assert len(progress) == 1 and progress[0]["done"] is True, progress


def test_without_the_header_no_progress(gateway, paced):
    words = 8  # > 2 s
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt(words)}], "stream": True}
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=body,
                      headers={"X-OmniRoute-No-Cache": "true"}, timeout=30)
    assert resp.status_code == 200
    assert "x-omniroute-progress" not in resp.headers
    assert "progress" not in resp.text and "tokens_generated" not in resp.text
    assert sse_events(resp.text)[-1] == (None, "[DONE]")


def test_header_on_a_non_streaming_request_changes_nothing(gateway, upstream, connection):
    connection()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "plain"}]}
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=PROGRESS, timeout=30)
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "echo: plain"
    assert "tokens_generated" not in resp.text


# ---- Anthropic and Responses framing -------------------------------------------------------------


def test_anthropic_sdk_stream_with_progress_events(gateway, paced):
    words = 11
    client = anthropic.Anthropic(base_url=gateway.url, api_key="sk-local", max_retries=0)
    lines = []
    with client.messages.with_streaming_response.create(
            model=MODEL, max_tokens=256, messages=[{"role": "user", "content": prompt(words)}], stream=True,
            extra_headers=PROGRESS) as resp:
        assert resp.headers["x-omniroute-progress"] == "enabled"
        lines = list(resp.iter_lines())
    events = sse_events("\n".join(lines) + "\n\n")
    progress = progress_of(events)
    for name, data in events:
        payload = orjson.loads(data)  # every event, progress included, is well-formed JSON
        assert payload["type"] == name, (name, payload)
    check_progress(progress, total_s=stream_seconds(words), final_tokens=reported_tokens(words))
    names = [n for n, _ in events]
    assert "message_stop" in names and names.index("message_start") < names.index("message_stop")

    # The SDK's own stream helper is unaffected by the progress events.
    paced.chunk_delay_ms = 0
    with client.messages.stream(model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "short one"}],
                                extra_headers=PROGRESS) as stream:
        final = stream.get_final_message()
    assert "".join(b.text for b in final.content if b.type == "text") == "echo: short one"


def test_responses_framing(gateway, paced):
    paced.chunk_delay_ms = 0
    body = {"model": MODEL, "input": "responses progress", "stream": True}
    resp = httpx.post(gateway.url + "/v1/responses", json=body, headers=PROGRESS, timeout=30)
    assert resp.status_code == 200 and resp.headers["x-omniroute-progress"] == "enabled"
    events = sse_events(resp.text)
    progress = progress_of(events)
    assert len(progress) == 1, progress
    final = progress[0]
    assert final["type"] == "progress" and final["done"] is True
    assert final["tokens_generated"] == reported_tokens(2)
    assert "response.completed" in [n for n, _ in events]

    # ...and the OpenAI SDK's Responses stream still ends with its completed response.
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
    completed = None
    for event in client.responses.create(model=MODEL, input="sdk responses", stream=True, extra_headers=PROGRESS):
        if event.type == "response.completed":
            completed = event.response
    assert completed is not None and completed.output_text == "echo: sdk responses"


# ---- Ollama and Gemini ---------------------------------------------------------------------------


def test_ollama_ndjson_progress_line(gateway, paced):
    words = 11
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt(words)}]}
    resp = httpx.post(gateway.url + "/api/chat", json=body, headers=PROGRESS, timeout=30)
    assert resp.status_code == 200 and resp.headers["x-omniroute-progress"] == "enabled"
    lines = [orjson.loads(line) for line in resp.text.splitlines() if line.strip()]
    progress_lines = [line for line in lines if "progress" in line]
    for line in progress_lines:
        assert line["model"] == MODEL and isinstance(line["created_at"], str)
        assert line["message"] == {"role": "assistant", "content": ""}
        assert line["done"] is False
    check_progress([line["progress"] for line in progress_lines], total_s=stream_seconds(words),
                   final_tokens=reported_tokens(words))
    chunks = [line for line in lines if "progress" not in line]
    assert "".join(c["message"]["content"] for c in chunks) == "echo: " + prompt(words)
    assert chunks[-1]["done"] is True

    # The ollama SDK reads the progress lines as empty messages.
    paced.chunk_delay_ms = 0
    client = ollama.Client(host=gateway.url, headers=PROGRESS)
    parts = list(client.chat(model=MODEL, messages=[{"role": "user", "content": "ollama sdk"}], stream=True))
    assert "".join(p.message.content or "" for p in parts) == "echo: ollama sdk"
    assert any(p.done for p in parts)


def test_ollama_stream_still_ends_with_its_done_line(gateway, paced):
    """An Ollama stream ends with the ``"done": true`` line (ollama-js stops reading there): the final
    progress line goes before it, not after."""
    paced.chunk_delay_ms = 0
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt(3)}]}
    resp = httpx.post(gateway.url + "/api/chat", json=body, headers=PROGRESS, timeout=30)
    lines = [orjson.loads(line) for line in resp.text.splitlines() if line.strip()]
    finals = [line for line in lines if "progress" in line]
    assert len(finals) == 1 and finals[0]["progress"]["done"] is True, finals
    assert lines[-1]["done"] is True and "progress" not in lines[-1], (
        f"the stream ends with a line after its done:true line: {lines[-2:]}")


def test_gemini_stream_gets_no_progress(gateway, paced):
    words = 8  # > 2 s: a mid-stream event would have been due
    url = f"{gateway.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    body = {"contents": [{"role": "user", "parts": [{"text": prompt(words)}]}]}
    resp = httpx.post(url, json=body, headers=PROGRESS, timeout=30)
    assert resp.status_code == 200
    assert "x-omniroute-progress" not in resp.headers
    events = sse_events(resp.text)
    assert events and all(name is None for name, _ in events), events
    assert "tokens_generated" not in resp.text
    text = ""
    for _, data in events:
        chunk = types.GenerateContentResponse.model_validate(orjson.loads(data))
        assert chunk.candidates, data
        text += "".join(p.text or "" for p in chunk.candidates[0].content.parts or [])
    assert text == "echo: " + prompt(words)

    # google-genai itself parses it (a short stream, the header still on).
    paced.chunk_delay_ms = 0
    client = genai.Client(api_key="sk-local", http_options=types.HttpOptions(base_url=gateway.url,
                                                                              headers=PROGRESS))
    got = "".join(chunk.text or "" for chunk in client.models.generate_content_stream(model=MODEL,
                                                                                       contents="genai ok"))
    assert got == "echo: genai ok"


# ---- cache hits ----------------------------------------------------------------------------------


def test_cache_hit_stream_carries_a_final_progress_event(gateway, upstream, connection):
    connection()
    content = f"cached {uuid.uuid4().hex[:8]}"
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": True, "temperature": 0}
    headers = {"X-OmniRoute-Progress": "true"}
    first = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert first.status_code == 200 and first.headers.get("x-omniroute-cache") == "MISS"
    second = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert second.status_code == 200 and second.headers.get("x-omniroute-cache") == "HIT"
    assert len(upstream.requests) == 1
    assert second.headers.get("x-omniroute-progress") == "enabled"
    events = sse_events(second.text)
    progress = progress_of(events)
    assert len(progress) == 1 and progress[0]["done"] is True, progress
    assert progress[0]["tokens_generated"] == len(f"echo: {content}".split())
    assert progress[0]["object"] == "chat.completion.chunk" and progress[0]["choices"] == []
    content_out = "".join(orjson.loads(d)["choices"][0]["delta"].get("content") or ""
                          for n, d in events if n is None and d != "[DONE]" and orjson.loads(d).get("choices"))
    assert content_out == f"echo: {content}"
