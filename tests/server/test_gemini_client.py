"""The official google-genai client (Gemini CLI's dialect) over an OpenAI-dialect upstream."""

from __future__ import annotations

import httpx
import pytest
from google import genai
from google.genai import types


@pytest.fixture
def client(gateway, connection, api_key):
    connection()
    return genai.Client(api_key=api_key()["key"], http_options=types.HttpOptions(base_url=gateway.url))


def test_generate_content(client, upstream):
    answer = client.models.generate_content(
        model="openai/gpt-4o-mini", contents="hello there",
        config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=40))
    assert answer.text == "echo: hello there"
    assert answer.usage_metadata.candidates_token_count == 3
    sent = upstream.requests[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."} and sent["max_tokens"] == 40


def test_stream_generate_content(client):
    chunks = list(client.models.generate_content_stream(model="openai/gpt-4o-mini", contents="one two three"))
    assert "".join(c.text or "" for c in chunks) == "echo: one two three"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_function_call(client):
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="lookup", description="Look up",
        parameters=types.Schema(type="OBJECT", properties={"query": types.Schema(type="STRING")}))])
    answer = client.models.generate_content(model="openai/gpt-4o-mini", contents="find bats",
                                            config=types.GenerateContentConfig(tools=[tool]))
    call = answer.function_calls[0]
    assert call.name == "lookup" and call.args == {"query": "find bats"}


def test_model_list_and_errors(gateway, client):
    listed = httpx.get(gateway.url + "/v1beta/models").json()["models"]
    assert any(m["name"] == "models/openai/gpt-4o-mini" for m in listed)
    resp = httpx.post(gateway.url + "/v1beta/models/nope/x:generateContent", json={"contents": []})
    assert resp.status_code in (400, 404) and resp.json()["error"]["status"]


def test_stream_without_alt_sse_is_one_json_array(gateway, client, upstream):
    """Google's REST API streams a JSON array unless ``alt=sse`` is asked for; raw clients parse it whole."""
    resp = httpx.post(gateway.url + "/v1beta/models/openai/gpt-4o-mini:streamGenerateContent",
                      json={"contents": [{"role": "user", "parts": [{"text": "one two three"}]}]})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    chunks = resp.json()
    assert isinstance(chunks, list) and len(chunks) > 1
    text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == "echo: one two three"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert upstream.requests[-1].body["stream"] is True


def test_stream_without_alt_sse_cut_upstream_still_closes_the_array(gateway, client, upstream):
    upstream.cut_stream_after(2)
    resp = httpx.post(gateway.url + "/v1beta/models/openai/gpt-4o-mini:streamGenerateContent",
                      json={"contents": [{"role": "user", "parts": [{"text": "one two three four five"}]}]})
    chunks = resp.json()  # still a whole JSON document
    assert "error" in chunks[-1] and "finishReason" not in str(chunks[-1])


def test_genai_lists_and_gets_models(client):
    names = [m.name for m in client.models.list()]
    assert "models/openai/gpt-4o-mini" in names
    model = client.models.get(model="openai/gpt-4o-mini")
    assert model.name == "models/openai/gpt-4o-mini"
    assert "countTokens" in model.supported_actions
    with pytest.raises(genai.errors.ClientError) as info:
        client.models.get(model="nope/none")
    assert info.value.code == 404
