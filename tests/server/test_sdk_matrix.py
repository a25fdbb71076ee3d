"""The SDK matrix: every official client against the gateway over every upstream dialect.

Five clients (the ``openai`` SDK's Chat and Responses APIs, ``anthropic``, ``google-genai``,
``ollama``) × five upstream dialects (fake OpenAI Chat, Anthropic, Gemini, Ollama and Responses
servers on loopback) × four scenarios: text, streamed text, a tool-call round trip, and a
streamed tool call whose result goes back. Each asserts the content arrived intact at both ends:
what the client sees, and what the upstream received.
"""

from __future__ import annotations

import json

import anthropic
import ollama
import openai
import pytest
from google import genai
from google.genai import types

QUESTION = "weather in Paris today"
RESULT = "sunny-21C"
SCHEMA = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}


# ---- upstreams -----------------------------------------------------------------------------------


def _fake(kind: str):
    if kind == "openai":
        from tests.fakes.openai_upstream import FakeOpenAI as Fake
    elif kind == "anthropic":
        from tests.fakes.anthropic_upstream import FakeAnthropic as Fake
    elif kind == "gemini":
        from tests.fakes.gemini_upstream import FakeGemini as Fake
    elif kind == "ollama":
        from tests.fakes.ollama_upstream import FakeOllama as Fake
    else:
        from tests.fakes.responses_upstream import FakeResponses as Fake
    return Fake()


# upstream dialect → (provider id, model as clients name it)
UPSTREAMS = {
    "openai": ("openai", "openai/gpt-4o-mini"),
    "anthropic": ("anthropic", "anthropic/claude-sonnet-4-5"),
    "gemini": ("gemini", "gemini/gemini-2.5-flash"),
    "ollama": ("ollama", "ollama/llama3.2"),
    "responses": ("openai-responses", "openai-responses/gpt-5"),
}


@pytest.fixture(scope="module")
def fakes(gateway):
    """One fake upstream per dialect, each with a connection on the session's gateway."""
    started = {kind: _fake(kind).start() for kind in UPSTREAMS}
    admin = gateway.admin()
    made = []
    for kind, fake in started.items():
        provider, _ = UPSTREAMS[kind]
        resp = admin.post("/api/providers", json={"provider": provider, "name": f"matrix-{kind}",
                                                  "apiKey": f"key-{kind}", "baseUrl": fake.base_url})
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])
    yield started
    for conn_id in made:
        admin.delete(f"/api/providers/{conn_id}")
    admin.close()
    for fake in started.values():
        fake.stop()


def _last_body(fake) -> dict:
    return [r for r in fake.requests if r.method == "POST"][-1].body


def _result_ids(kind: str, body: dict) -> list[str]:
    """The tool-call ids an upstream request answers with results, in the upstream's dialect."""
    if kind == "openai":
        return [m["tool_call_id"] for m in body["messages"] if m.get("role") == "tool"]
    if kind == "anthropic":
        return [b["tool_use_id"] for m in body["messages"] if isinstance(m.get("content"), list)
                for b in m["content"] if b.get("type") == "tool_result"]
    if kind == "responses":
        return [i["call_id"] for i in body["input"] if isinstance(i, dict) and i.get("type") == "function_call_output"]
    return []  # Gemini and Ollama name the function, not a call id


# ---- clients ---------------------------------------------------------------------------------------


class Client:
    """One official SDK: ``text``, and ``tool_turn`` returning (call id, name, arguments, final text)."""

    def text(self, model: str, stream: bool) -> str:
        raise NotImplementedError

    def tool_turn(self, model: str, stream: bool) -> tuple[str | None, str, dict, str]:
        raise NotImplementedError


class OpenAIChat(Client):
    TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look it up", "parameters": SCHEMA}}]

    def __init__(self, url: str):
        self.c = openai.OpenAI(base_url=url + "/v1", api_key="sk-local", max_retries=0)

    def _ask(self, model, messages, stream, **extra):
        if not stream:
            answer = self.c.chat.completions.create(model=model, messages=messages, **extra)
            return answer.choices[0].message.content or "", answer.choices[0].message.tool_calls or []
        text, calls = "", {}
        for chunk in self.c.chat.completions.create(model=model, messages=messages, stream=True, **extra):
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for call in choice.delta.tool_calls or []:
                    slot = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                    slot["id"] = slot["id"] or call.id
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
        return text, [_Call(c["id"], c["name"], c["arguments"]) for _, c in sorted(calls.items())]

    def text(self, model, stream):
        return self._ask(model, [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": QUESTION}], stream)[0]

    def tool_turn(self, model, stream):
        messages = [{"role": "user", "content": QUESTION}]
        _, calls = self._ask(model, messages, stream, tools=self.TOOLS)
        assert len(calls) == 1, calls
        call = calls[0]
        name, args, call_id = call.function.name, call.function.arguments, call.id
        messages += [{"role": "assistant", "content": None, "tool_calls": [
                          {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}]},
                     {"role": "tool", "tool_call_id": call_id, "content": RESULT}]
        text, _ = self._ask(model, messages, stream, tools=self.TOOLS)
        return call_id, name, json.loads(args), text


class _Call:
    """A streamed OpenAI tool call, reassembled, shaped like the SDK's object."""

    def __init__(self, call_id, name, arguments):
        self.id = call_id
        self.function = type("F", (), {"name": name, "arguments": arguments})()


class OpenAIResponses(Client):
    TOOLS = [{"type": "function", "name": "lookup", "description": "Look it up", "parameters": SCHEMA}]

    def __init__(self, url: str):
        self.c = openai.OpenAI(base_url=url + "/v1", api_key="sk-local", max_retries=0)

    def _ask(self, model, input_, stream, **extra):
        if not stream:
            return self.c.responses.create(model=model, input=input_, **extra)
        deltas: dict[str, str] = {}
        final = None
        for event in self.c.responses.create(model=model, input=input_, stream=True, **extra):
            if event.type == "response.function_call_arguments.delta":
                deltas[event.item_id] = deltas.get(event.item_id, "") + event.delta
            elif event.type == "response.completed":
                final = event.response
        assert final is not None, "stream ended without response.completed"
        for item in final.output:  # streamed argument fragments add up to the final arguments
            if item.type == "function_call" and item.id in deltas:
                assert deltas[item.id] == item.arguments
        return final

    def text(self, model, stream):
        return self._ask(model, QUESTION, stream, instructions="Be brief.").output_text

    def tool_turn(self, model, stream):
        first = self._ask(model, [{"role": "user", "content": QUESTION}], stream, tools=self.TOOLS)
        calls = [item for item in first.output if item.type == "function_call"]
        assert len(calls) == 1, first.output
        call = calls[0]
        second = self._ask(model, [{"role": "user", "content": QUESTION},
                                   {"type": "function_call", "call_id": call.call_id, "name": call.name,
                                    "arguments": call.arguments},
                                   {"type": "function_call_output", "call_id": call.call_id, "output": RESULT}],
                           stream, tools=self.TOOLS)
        return call.call_id, call.name, json.loads(call.arguments), second.output_text


class Anthropic(Client):
    TOOLS = [{"name": "lookup", "description": "Look it up", "input_schema": SCHEMA}]

    def __init__(self, url: str):
        self.c = anthropic.Anthropic(base_url=url, api_key="sk-local", max_retries=0)

    def _ask(self, model, messages, stream, **extra):
        if not stream:
            return self.c.messages.create(model=model, max_tokens=256, messages=messages, **extra)
        with self.c.messages.stream(model=model, max_tokens=256, messages=messages, **extra) as events:
            return events.get_final_message()

    def text(self, model, stream):
        answer = self._ask(model, [{"role": "user", "content": QUESTION}], stream, system="Be brief.")
        return "".join(b.text for b in answer.content if b.type == "text")

    def tool_turn(self, model, stream):
        messages = [{"role": "user", "content": QUESTION}]
        first = self._ask(model, messages, stream, tools=self.TOOLS)
        assert first.stop_reason == "tool_use"
        calls = [b for b in first.content if b.type == "tool_use"]
        assert len(calls) == 1, first.content
        call = calls[0]
        messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": RESULT}]}]
        second = self._ask(model, messages, stream, tools=self.TOOLS)
        return call.id, call.name, call.input, "".join(b.text for b in second.content if b.type == "text")


class GoogleGenAI(Client):
    TOOLS = [types.Tool(function_declarations=[types.FunctionDeclaration(
        name="lookup", description="Look it up",
        parameters=types.Schema(type="OBJECT", properties={"query": types.Schema(type="STRING")},
                                required=["query"]))])]

    def __init__(self, url: str):
        self.c = genai.Client(api_key="sk-local", http_options=types.HttpOptions(base_url=url))

    def _ask(self, model, contents, stream, config):
        if not stream:
            answer = self.c.models.generate_content(model=model, contents=contents, config=config)
            return answer.text or "", answer.function_calls or []
        text, calls = "", []
        for chunk in self.c.models.generate_content_stream(model=model, contents=contents, config=config):
            for part in (chunk.candidates[0].content.parts or []) if chunk.candidates else []:
                if part.text and not part.thought:
                    text += part.text
                if part.function_call:
                    calls.append(part.function_call)
        return text, calls

    def text(self, model, stream):
        config = types.GenerateContentConfig(system_instruction="Be brief.")
        return self._ask(model, QUESTION, stream, config)[0]

    def tool_turn(self, model, stream):
        config = types.GenerateContentConfig(tools=self.TOOLS)
        question = types.Content(role="user", parts=[types.Part(text=QUESTION)])
        _, calls = self._ask(model, [question], stream, config)
        assert len(calls) == 1, calls
        call = calls[0]
        contents = [question, types.Content(role="model", parts=[types.Part(function_call=call)]),
                    types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                        id=call.id, name=call.name, response={"result": RESULT}))])]
        text, _ = self._ask(model, contents, stream, config)
        return call.id, call.name, dict(call.args), text


class Ollama(Client):
    TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look it up", "parameters": SCHEMA}}]

    def __init__(self, url: str):
        self.c = ollama.Client(host=url)

    def _ask(self, model, messages, stream, **extra):
        if not stream:
            answer = self.c.chat(model=model, messages=messages, stream=False, **extra)
            return answer.message.content or "", list(answer.message.tool_calls or [])
        text, calls = "", []
        for chunk in self.c.chat(model=model, messages=messages, stream=True, **extra):
            text += chunk.message.content or ""
            calls += chunk.message.tool_calls or []
        return text, calls

    def text(self, model, stream):
        return self._ask(model, [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": QUESTION}], stream)[0]

    def tool_turn(self, model, stream):
        messages = [{"role": "user", "content": QUESTION}]
        _, calls = self._ask(model, messages, stream, tools=self.TOOLS)
        assert len(calls) == 1, calls
        call = calls[0]
        messages += [{"role": "assistant", "content": "", "tool_calls": [call.model_dump()]},
                     {"role": "tool", "content": RESULT, "tool_name": call.function.name}]
        text, _ = self._ask(model, messages, stream, tools=self.TOOLS)
        return None, call.function.name, dict(call.function.arguments), text


CLIENTS = {"openai-chat": OpenAIChat, "openai-responses": OpenAIResponses, "anthropic": Anthropic,
           "google-genai": GoogleGenAI, "ollama": Ollama}
CELLS = [(client, upstream) for client in CLIENTS for upstream in UPSTREAMS]


@pytest.fixture(scope="module")
def clients(gateway):
    return {name: make(gateway.url) for name, make in CLIENTS.items()}


def _cell(fakes, clients, client, upstream):
    fake = fakes[upstream]
    fake.clear()
    return clients[client], UPSTREAMS[upstream][1], fake


# ---- the matrix ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["text", "stream"])
@pytest.mark.parametrize(("client", "upstream"), CELLS)
def test_text(fakes, clients, client, upstream, stream):
    sdk, model, fake = _cell(fakes, clients, client, upstream)
    assert sdk.text(model, stream) == f"echo: {QUESTION}"
    sent = [r for r in fake.requests if r.method == "POST"]
    assert len(sent) == 1
    # The system prompt reached the upstream wherever that dialect keeps it.
    assert "Be brief." in json.dumps(sent[0].body)


@pytest.mark.parametrize("stream", [False, True], ids=["tools", "stream-tools"])
@pytest.mark.parametrize(("client", "upstream"), CELLS)
def test_tool_round_trip(fakes, clients, client, upstream, stream):
    sdk, model, fake = _cell(fakes, clients, client, upstream)
    call_id, name, args, text = sdk.tool_turn(model, stream)
    assert name == "lookup"
    assert args == {"query": QUESTION}  # streamed fragments reassembled exactly, nothing dropped
    assert RESULT in text  # the upstream saw the tool result and answered from it
    sent = [r for r in fake.requests if r.method == "POST"]
    assert len(sent) == 2
    ids = _result_ids(upstream, sent[1].body)
    if ids and call_id is not None:
        assert ids == [call_id]  # the id the client got is the one the upstream gets back


@pytest.mark.parametrize("stream", [False, True], ids=["completion", "stream-completion"])
@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_legacy_completion(fakes, clients, upstream, stream):
    """``/v1/completions`` (the openai SDK's legacy API) over every upstream dialect."""
    fake = fakes[upstream]
    fake.clear()
    sdk = clients["openai-chat"].c
    model = UPSTREAMS[upstream][1]
    if stream:
        text = "".join(c.choices[0].text for c in sdk.completions.create(model=model, prompt=QUESTION,
                                                                         max_tokens=200, stream=True) if c.choices)
    else:
        text = sdk.completions.create(model=model, prompt=QUESTION, max_tokens=200).choices[0].text
    assert text == f"echo: {QUESTION}"
    assert QUESTION in json.dumps(_last_body(fake))
