"""The operator's system prompt and thinking budget (/api/settings/system-prompt, /thinking-budget):
what each client dialect's request looks like when it reaches each upstream dialect."""

from __future__ import annotations

import copy
import uuid

import httpx
import pytest

from tests.fakes.gemini_upstream import FakeGemini

OPENAI, CLAUDE, GEMINI = "openai/gpt-4o", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"
PROMPT = "Answer as the ACME support desk."
DEFAULT_THINKING = {"mode": "passthrough", "budgetTokens": None}
DEFAULT_SYSTEM = {"enabled": False, "prompt": "", "position": "prefix"}


@pytest.fixture(scope="module")
def fake_gemini():
    fake = FakeGemini().start()
    yield fake
    fake.stop()


@pytest.fixture
def gemini(fake_gemini):
    fake_gemini.clear()
    yield fake_gemini
    fake_gemini.clear()


@pytest.fixture
def settings(admin):
    """PUT helpers for both settings; both are back at their defaults after the test."""

    def put(which: str, body: dict) -> dict:
        resp = admin.put(f"/api/settings/{which}", json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()

    yield put
    assert admin.put("/api/settings/thinking-budget", json=DEFAULT_THINKING).status_code == 200
    assert admin.put("/api/settings/system-prompt", json=DEFAULT_SYSTEM).status_code == 200


@pytest.fixture
def conns(connection, anthropic_upstream, gemini):
    connection()  # openai → the fake OpenAI upstream
    connection(provider="anthropic", apiKey="sk-ant-test", baseUrl=anthropic_upstream.base_url)
    connection(provider="gemini", apiKey="g-key", baseUrl=gemini.base_url)


@pytest.fixture
def client(gateway, conns, api_key):
    with gateway.client(api_key()["key"]) as c:
        yield c


def chat(client, model: str, messages: list, **fields) -> dict:
    resp = client.post("/v1/chat/completions", json={"model": model, "messages": messages, **fields})
    assert resp.status_code == 200, resp.text
    return resp.json()


def messages_api(client, model: str, messages: list, **fields) -> dict:
    resp = client.post("/v1/messages", json={"model": model, "max_tokens": 100, "messages": messages, **fields})
    assert resp.status_code == 200, resp.text
    return resp.json()


def generate(client, model: str, body: dict) -> dict:
    resp = client.post(f"/v1beta/models/{model}:generateContent", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def last(fake):
    return [r for r in fake.requests if r.method == "POST"][-1].body


def user(text: str = "hello there") -> list:
    return [{"role": "user", "content": text}]


# ---- the settings API ----------------------------------------------------------------------------


def test_defaults_and_get_returns_what_put_stored(admin, settings):
    assert admin.get("/api/settings/thinking-budget").json() == DEFAULT_THINKING
    assert admin.get("/api/settings/system-prompt").json() == DEFAULT_SYSTEM
    assert settings("thinking-budget", {"mode": "custom", "budgetTokens": 5000}) == \
        {"mode": "custom", "budgetTokens": 5000}
    assert admin.get("/api/settings/thinking-budget").json() == {"mode": "custom", "budgetTokens": 5000}
    stored = {"enabled": True, "prompt": PROMPT, "position": "suffix"}
    assert settings("system-prompt", stored) == stored
    assert admin.get("/api/settings/system-prompt").json() == stored
    # PUT merges the fields it names: switching it off keeps the text for later.
    assert settings("system-prompt", {"enabled": False}) == {**stored, "enabled": False}
    assert settings("thinking-budget", {"mode": "off"}) == {"mode": "off", "budgetTokens": 5000}


@pytest.mark.parametrize(("which", "body", "named"), [
    ("thinking-budget", {"mode": "sometimes"}, "mode"),
    ("thinking-budget", {"mode": 3}, "mode"),
    ("thinking-budget", {"mode": "custom"}, "budgetTokens"),
    ("thinking-budget", {"mode": "custom", "budgetTokens": "5000"}, "budgetTokens"),
    ("thinking-budget", {"mode": "custom", "budgetTokens": 0}, "budgetTokens"),
    ("thinking-budget", {"mode": "custom", "budgetTokens": 200_001}, "budgetTokens"),
    ("thinking-budget", {"mode": "off", "budget": 10}, "budget"),
    ("system-prompt", {"enabled": "yes", "prompt": "x"}, "enabled"),
    ("system-prompt", {"enabled": True, "prompt": 5}, "prompt"),
    ("system-prompt", {"enabled": True, "prompt": "  "}, "prompt"),
    ("system-prompt", {"enabled": True, "prompt": "x" * 100_001}, "prompt"),
    ("system-prompt", {"enabled": True, "prompt": "x", "position": "middle"}, "position"),
    ("system-prompt", {"enabled": True, "prompt": "x", "role": "system"}, "role"),
])
def test_bad_settings_are_400_naming_the_field(admin, settings, which, body, named):
    before = admin.get(f"/api/settings/{which}").json()
    resp = admin.put(f"/api/settings/{which}", json=body)
    assert resp.status_code == 400, resp.text
    assert named in resp.json()["error"]
    assert admin.get(f"/api/settings/{which}").json() == before  # nothing half-applied


def test_body_that_is_not_an_object_is_400(admin, settings):
    for raw in (b"[]", b"not json", b""):
        resp = admin.put("/api/settings/system-prompt", content=raw, headers={"content-type": "application/json"})
        assert resp.status_code == 400 and resp.json()["error"]


def test_settings_need_login(gateway):
    for which in ("thinking-budget", "system-prompt"):
        assert httpx.get(f"{gateway.url}/api/settings/{which}", timeout=10).status_code == 401
        assert httpx.put(f"{gateway.url}/api/settings/{which}", json={}, timeout=10).status_code == 401


# ---- system prompt -------------------------------------------------------------------------------


def test_openai_client_prefix_and_suffix(client, upstream, settings):
    asked = [{"role": "system", "content": "Be brief."}, *user()]
    settings("system-prompt", {"enabled": True, "prompt": PROMPT, "position": "prefix"})
    chat(client, OPENAI, asked)
    sent = last(upstream)["messages"]
    assert sent[0] == {"role": "system", "content": PROMPT}
    assert sent[1:] == asked  # the client's own messages untouched, after it
    settings("system-prompt", {"position": "suffix"})
    chat(client, OPENAI, asked)
    assert last(upstream)["messages"] == [asked[0], {"role": "system", "content": PROMPT}, asked[1]]
    chat(client, OPENAI, user())  # no system message: one is created
    assert last(upstream)["messages"] == [{"role": "system", "content": PROMPT}, *user()]


def test_openai_client_to_anthropic_upstream(client, anthropic_upstream, settings):
    settings("system-prompt", {"enabled": True, "prompt": PROMPT, "position": "prefix"})
    chat(client, CLAUDE, [{"role": "system", "content": "Be brief."}, *user()], max_tokens=50)
    assert last(anthropic_upstream)["system"] == f"{PROMPT}\n\nBe brief."
    settings("system-prompt", {"position": "suffix"})
    chat(client, CLAUDE, user(), max_tokens=50)
    assert last(anthropic_upstream)["system"] == PROMPT


def test_anthropic_client_same_dialect_keeps_its_blocks(client, anthropic_upstream, settings):
    settings("system-prompt", {"enabled": True, "prompt": PROMPT, "position": "prefix"})
    blocks = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    messages_api(client, CLAUDE, user(), system=copy.deepcopy(blocks))
    sent = last(anthropic_upstream)
    assert sent["system"] == [{"type": "text", "text": PROMPT}, *blocks]  # cache_control kept
    settings("system-prompt", {"position": "suffix"})
    messages_api(client, CLAUDE, user(), system="Be brief.")
    assert last(anthropic_upstream)["system"] == f"Be brief.\n\n{PROMPT}"
    messages_api(client, CLAUDE, user())
    assert last(anthropic_upstream)["system"] == PROMPT


def test_anthropic_client_to_openai_upstream(client, upstream, settings):
    settings("system-prompt", {"enabled": True, "prompt": PROMPT, "position": "suffix"})
    messages_api(client, OPENAI, user(), system="Be brief.")
    assert last(upstream)["messages"][0] == {"role": "system", "content": f"Be brief.\n\n{PROMPT}"}


def test_gemini_client_both_upstreams(client, gemini, upstream, settings):
    settings("system-prompt", {"enabled": True, "prompt": PROMPT, "position": "prefix"})
    body = {"contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
            "systemInstruction": {"parts": [{"text": "Be brief."}]}}
    generate(client, GEMINI, copy.deepcopy(body))
    assert last(gemini)["systemInstruction"]["parts"] == [{"text": PROMPT}, {"text": "Be brief."}]
    assert last(gemini)["contents"] == body["contents"]
    generate(client, OPENAI, copy.deepcopy(body))
    assert last(upstream)["messages"][0] == {"role": "system", "content": f"{PROMPT}\n\nBe brief."}
    settings("system-prompt", {"position": "suffix"})
    generate(client, GEMINI, {"contents": body["contents"]})
    assert last(gemini)["systemInstruction"]["parts"] == [{"text": PROMPT}]


def test_responses_and_ollama_clients(client, upstream, settings):
    settings("system-prompt", {"enabled": True, "prompt": PROMPT, "position": "prefix"})
    resp = client.post("/v1/responses", json={"model": OPENAI, "input": "hello there", "instructions": "Be brief."})
    assert resp.status_code == 200, resp.text
    assert last(upstream)["messages"][0] == {"role": "system", "content": f"{PROMPT}\n\nBe brief."}
    resp = client.post("/api/chat", json={"model": OPENAI, "messages": user(), "stream": False})
    assert resp.status_code == 200, resp.text
    assert last(upstream)["messages"][0] == {"role": "system", "content": PROMPT}


def test_not_applied_to_embeddings(client, upstream, settings):
    settings("system-prompt", {"enabled": True, "prompt": PROMPT})
    resp = client.post("/v1/embeddings", json={"model": "openai/text-embedding-3-small", "input": "hello"})
    assert resp.status_code == 200, resp.text
    assert last(upstream)["input"] == "hello" and PROMPT not in str(last(upstream))


def test_changed_prompt_is_not_answered_from_the_cache(client, upstream, settings):
    question = user(f"cache me {uuid.uuid4().hex}")
    settings("system-prompt", {"enabled": True, "prompt": "First rule."})
    chat(client, OPENAI, question, temperature=0)
    count = len(upstream.requests)
    chat(client, OPENAI, question, temperature=0)
    assert len(upstream.requests) == count  # the same request: answered from the cache
    settings("system-prompt", {"prompt": "Second rule."})
    chat(client, OPENAI, question, temperature=0)
    assert len(upstream.requests) == count + 1  # a new prompt: a new request
    assert last(upstream)["messages"][0] == {"role": "system", "content": "Second rule."}


def test_settings_survive_a_restart(make_gateway, upstream, tmp_path):
    gw = make_gateway(data_dir=tmp_path / "restart")
    admin = gw.admin()
    assert admin.put("/api/settings/system-prompt",
                     json={"enabled": True, "prompt": PROMPT, "position": "suffix"}).status_code == 200
    assert admin.put("/api/settings/thinking-budget", json={"mode": "off"}).status_code == 200
    assert admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-x",
                                              "baseUrl": upstream.base_url}).status_code == 201
    admin.close()
    gw.stop()
    gw.start()
    admin = gw.admin()
    assert admin.get("/api/settings/system-prompt").json() == {"enabled": True, "prompt": PROMPT, "position": "suffix"}
    assert admin.get("/api/settings/thinking-budget").json() == {"mode": "off", "budgetTokens": None}
    admin.close()
    with gw.client() as c:
        chat(c, OPENAI, user(), reasoning_effort="high")
    sent = last(upstream)
    assert sent["messages"][0] == {"role": "system", "content": PROMPT} and "reasoning_effort" not in sent


# ---- thinking budget -----------------------------------------------------------------------------


def test_passthrough_leaves_bodies_unchanged(client, upstream, anthropic_upstream, settings):
    asked = {"model": OPENAI, "messages": [{"role": "system", "content": "S"}, *user()],
             "reasoning_effort": "high", "max_tokens": 77}
    resp = client.post("/v1/chat/completions", json=asked)
    assert resp.status_code == 200, resp.text
    assert last(upstream) == {**asked, "model": "gpt-4o"}
    thinking = {"type": "enabled", "budget_tokens": 2048}
    messages_api(client, CLAUDE, user(), thinking=thinking, max_tokens=4000, system="S")
    assert last(anthropic_upstream) == {"model": "claude-sonnet-4-5", "max_tokens": 4000, "messages": user(),
                                        "thinking": thinking, "system": "S"}


def test_off_strips_reasoning_for_every_upstream(client, upstream, anthropic_upstream, gemini, settings):
    settings("thinking-budget", {"mode": "off"})
    chat(client, OPENAI, user(), reasoning_effort="high")
    assert "reasoning_effort" not in last(upstream)
    messages_api(client, CLAUDE, user(), thinking={"type": "enabled", "budget_tokens": 2048}, max_tokens=4000)
    sent = last(anthropic_upstream)
    assert "thinking" not in sent and sent["max_tokens"] == 4000
    messages_api(client, OPENAI, user(), thinking={"type": "enabled", "budget_tokens": 2048})
    assert "reasoning_effort" not in last(upstream)
    generate(client, GEMINI, {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                              "generationConfig": {"thinkingConfig": {"thinkingBudget": 4096}, "temperature": 0.5}})
    assert last(gemini)["generationConfig"] == {"temperature": 0.5}
    chat(client, CLAUDE, user(), reasoning_effort="medium", max_tokens=50)
    assert "thinking" not in last(anthropic_upstream)


def test_custom_forces_the_budget(client, upstream, anthropic_upstream, gemini, settings):
    settings("thinking-budget", {"mode": "custom", "budgetTokens": 5000})
    # Anthropic upstream, translated: the exact budget, max_tokens raised above it.
    chat(client, CLAUDE, user(), reasoning_effort="low", max_tokens=100)
    sent = last(anthropic_upstream)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 5000} and sent["max_tokens"] > 5000
    # Anthropic upstream, same dialect: also the exact budget; temperature refused while thinking goes.
    blocks = [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]
    messages_api(client, CLAUDE, user(), thinking={"type": "enabled", "budget_tokens": 2048}, max_tokens=3000,
                 temperature=0.7, system=copy.deepcopy(blocks))
    sent = last(anthropic_upstream)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 5000} and sent["max_tokens"] > 5000
    assert "temperature" not in sent and sent["system"] == blocks
    # Effort-based upstream: the level that covers the budget.
    chat(client, OPENAI, user(), reasoning_effort="high")
    assert last(upstream)["reasoning_effort"] == "medium"
    messages_api(client, OPENAI, user(), thinking={"type": "enabled", "budget_tokens": 50_000})
    assert last(upstream)["reasoning_effort"] == "medium"
    # Gemini: thinkingConfig.thinkingBudget.
    generate(client, GEMINI, {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                              "generationConfig": {"thinkingConfig": {"thinkingBudget": 100}}})
    assert last(gemini)["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 5000
    chat(client, GEMINI, user(), reasoning_effort="low")
    assert last(gemini)["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 5000
    # A request that asks for no reasoning is left as it is.
    chat(client, CLAUDE, user(), max_tokens=100)
    assert "thinking" not in last(anthropic_upstream) and last(anthropic_upstream)["max_tokens"] == 100
    chat(client, OPENAI, user())
    assert "reasoning_effort" not in last(upstream)


def test_adaptive_scales_with_the_prompt(client, anthropic_upstream, settings):
    settings("thinking-budget", {"mode": "adaptive"})
    thinking = {"type": "enabled", "budget_tokens": 60_000}

    def budget(text: str, max_tokens: int = 64_000) -> int:
        messages_api(client, CLAUDE, user(text), thinking=thinking, max_tokens=max_tokens)
        sent = last(anthropic_upstream)
        assert sent["max_tokens"] > sent["thinking"]["budget_tokens"]
        return sent["thinking"]["budget_tokens"]

    short = budget("hi")
    long = budget("word " * 40_000)  # ~50k tokens of prompt
    assert 1024 <= short < 1100
    assert 10_000 < long <= 32_768 and long > short
    assert budget("word " * 40_000, max_tokens=3000) == 3000  # bounded by the requested output
    settings("thinking-budget", {"budgetTokens": 2000})  # the operator's ceiling
    assert budget("word " * 40_000) == 2000
    messages_api(client, CLAUDE, user(), max_tokens=100)  # no reasoning asked: none added
    assert "thinking" not in last(anthropic_upstream)
