"""The playground page: a chat sent from the browser in each client dialect streams back the fake
upstream's echo, shows what served it, keeps the conversation, stops on request, explains errors,
and lands in the usage log like any client request."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import open_page, shot
from tests.support import PASSWORD, Gateway

MODEL = "openai/gpt-4o-mini"


def _send(page, text: str, *, model: str = MODEL, dialect: str = "openai", stream: bool = True) -> None:
    page.get_by_label("Model or combo").fill(model)
    page.get_by_label("Dialect").select_option(dialect)
    box = page.get_by_label("Stream the answer")
    if box.is_checked() != stream:
        box.click()
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()


def _usage_row(admin, since: float, dialect: str, words: int, timeout: float = 8.0) -> dict:
    """The usage row of the playground's request: this dialect, this model, after ``since``; the fake
    counts prompt tokens as words, so ``words`` tells this request from others of the same minute."""
    deadline = time.monotonic() + timeout
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = admin.get("/api/usage/logs", params={"since": int(since), "limit": 200}).json()["logs"]
        for row in rows:
            if (row["clientFormat"] == dialect and row["requestedModel"] == MODEL and row["status"] == 200
                    and row["promptTokens"] == words):
                return row
        time.sleep(0.2)
    raise AssertionError(f"no usage row for the {dialect} request; rows: {rows}")


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "ollama", "responses", "gemini"])
def test_streams_in_each_dialect(page, dash, dialect):
    since = time.time() - 1
    text = f"hello playground {uuid.uuid4().hex}"
    open_page(page, "playground")
    if dialect == "openai":
        shot(page, "playground")
    _send(page, text, dialect=dialect)
    transcript = page.locator("#pg-transcript")
    expect(transcript).to_contain_text(f"echo: {text}")
    expect(page.locator("#pg-status")).to_contain_text("Done in")
    info = page.locator("#pg-info")
    expect(info.locator("[data-info='x-omniroute-provider'] dd")).to_have_text("openai")
    expect(info.locator("[data-info='x-omniroute-model'] dd")).to_have_text("gpt-4o-mini")
    expect(info.locator("[data-info='usage'] dd")).to_have_text("3 / 4")  # the fake counts words
    assert page.locator("#pg-error").inner_text() == ""
    assert page.get_by_role("button", name="Send").is_enabled()
    assert page.get_by_role("button", name="Stop").is_disabled()
    if dialect == "openai":
        shot(page, "playground-streamed")
    row = _usage_row(dash.admin_client, since, dialect, words=3)
    assert row["provider"] == "openai" and row["model"] == "gpt-4o-mini"


def test_conversation_is_sent_again_then_cleared(page, dash, fake_upstream):
    first, second = f"first turn {uuid.uuid4().hex}", f"second turn {uuid.uuid4().hex}"
    open_page(page, "playground")
    page.get_by_label("System prompt").fill("be brief")
    _send(page, first, dialect="anthropic")
    expect(page.locator("#pg-transcript")).to_contain_text(f"echo: {first}")
    expect(page.get_by_label("Message")).to_have_value("")  # cleared for the next turn
    _send(page, second, dialect="anthropic")
    expect(page.locator("#pg-transcript")).to_contain_text(f"echo: {second}")
    expect(page.locator("#pg-transcript .pg-turn")).to_have_count(4)
    sent = next(r.body for r in reversed(fake_upstream.requests)
                if isinstance(r.body, dict) and second in str(r.body.get("messages")))
    contents = [(m["role"], m["content"] if isinstance(m["content"], str) else m["content"][0]["text"])
                for m in sent["messages"]]
    assert contents == [("system", "be brief"), ("user", first), ("assistant", f"echo: {first}"),
                        ("user", second)]
    page.get_by_role("button", name="Clear conversation").click()
    expect(page.locator("#pg-transcript .pg-turn")).to_have_count(0)
    expect(page.locator("#pg-status")).to_have_text("Conversation cleared.")


def test_whole_answer_with_ctrl_enter_shows_the_cost(page):
    text = f"no stream {uuid.uuid4().hex}"
    open_page(page, "playground")
    page.get_by_label("Model or combo").fill(MODEL)
    page.get_by_label("Dialect").select_option("responses")
    page.get_by_label("Stream the answer").uncheck()
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Control+Enter")
    expect(page.locator("#pg-transcript")).to_contain_text(f"echo: {text}")
    info = page.locator("#pg-info")
    expect(info.locator("[data-info='x-omniroute-response-cost'] dd")).not_to_be_empty()
    expect(info.locator("[data-info='x-omniroute-latency-ms'] dd")).to_have_text(re.compile(r"^\d+$"))
    body = page.locator("#pg-request").text_content()
    assert body.startswith("POST /v1/responses") and '"stream": false' in body


def test_unknown_model_shows_the_error(page):
    page.console.allow("status of 404")  # the browser logs the failed fetch itself
    model = f"nope/zzz-{uuid.uuid4().hex[:8]}"
    open_page(page, "playground")
    _send(page, "hello", model=model, dialect="ollama")
    error = page.locator("#pg-error")
    expect(error).to_contain_text(f"The model '{model}' does not exist")
    expect(error).to_contain_text("404")
    expect(page.locator("#pg-transcript .pg-turn")).to_have_count(0)  # the failed turn is not kept
    expect(page.get_by_label("Message")).to_have_value("hello")  # ready to send again


def test_validation_before_sending(page):
    open_page(page, "playground")
    page.get_by_label("Model or combo").fill(MODEL)
    page.get_by_label("Message").fill("hi")
    page.get_by_label("Temperature").fill("7")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#pg-error")).to_have_text("Temperature: a number from 0 to 2")
    page.get_by_label("Temperature").fill("")
    page.get_by_label("Message").fill("   ")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#pg-error")).to_have_text("Message: write something to send")
    expect(page.locator("#pg-transcript .pg-turn")).to_have_count(0)


def test_stop_aborts_a_slow_stream(page, fake_upstream):
    words = [f"w{i}" for i in range(40)]
    fake_upstream.chunk_delay_ms = 250  # ~10 s for the whole answer
    try:
        open_page(page, "playground")
        _send(page, "slow " + " ".join(words))
        live = page.locator("#pg-transcript .pg-assistant .pg-text")
        expect(live).to_contain_text("echo: slow w0")
        expect(page.get_by_role("button", name="Stop")).to_be_enabled()
        page.get_by_role("button", name="Stop").click()
        expect(page.locator("#pg-status")).to_contain_text("Stopped after")
        expect(page.get_by_role("button", name="Send")).to_be_enabled()
        partial = live.inner_text()
        assert words[-1] not in partial.split(), partial
        time.sleep(0.6)  # nothing more arrives after Stop
        assert live.inner_text() == partial
        assert page.locator("#pg-error").inner_text() == ""
    finally:
        fake_upstream.chunk_delay_ms = 0


def test_playground_on_a_phone(phone_page):
    text = f"phone {uuid.uuid4().hex[:8]}"
    open_page(phone_page, "playground")
    _send(phone_page, text)
    expect(phone_page.locator("#pg-transcript")).to_contain_text(f"echo: {text}")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"the playground scrolls sideways on a phone ({width}px)"
    shot(phone_page, "playground-phone")


@pytest.fixture(scope="module")
def keyed_gateway(tmp_path_factory, fake_upstream):
    """A gateway started with REQUIRE_API_KEY=true, with an account on the fake upstream and one key."""
    gw = Gateway(tmp_path_factory.mktemp("keyed"), env={"REQUIRE_API_KEY": "true"}).start()
    admin = gw.admin()
    try:
        resp = admin.post("/api/providers", json={"provider": "openai", "name": "fake-openai",
                                                  "apiKey": "sk-fake-upstream-1", "baseUrl": fake_upstream.base_url})
        assert resp.status_code == 201, resp.text
        resp = admin.post("/api/keys", json={"name": f"playground-{uuid.uuid4().hex[:6]}"})
        assert resp.status_code == 201, resp.text
        gw.key = resp.json()["key"]
        yield gw
    finally:
        admin.close()
        gw.stop()


def test_required_key_is_asked_for_then_used(browser, keyed_gateway):
    context = browser.new_context(base_url=keyed_gateway.url, viewport={"width": 1366, "height": 860})
    context.set_default_timeout(10_000)
    try:
        assert context.request.post("/api/auth/login", data={"password": PASSWORD}).ok
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.on("console", lambda msg: msg.type == "error" and "status of 401" not in msg.text
              and errors.append(msg.text))
        open_page(pg, "playground")
        text = f"keyed {uuid.uuid4().hex[:8]}"
        _send(pg, text)
        error = pg.locator("#pg-error")
        expect(error).to_contain_text("Missing API key")
        expect(error).to_contain_text("paste one in the \"API key\" field")
        assert pg.url.endswith("/dashboard/playground")  # a client 401 does not log the operator out
        pg.get_by_label("API key").fill(keyed_gateway.key)
        pg.get_by_role("button", name="Send").click()
        expect(pg.locator("#pg-transcript")).to_contain_text(f"echo: {text}")
        expect(error).to_have_text("")
        assert pg.evaluate("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie"
                           ).find(keyed_gateway.key) == -1  # the key is kept nowhere but the page
        assert keyed_gateway.key not in pg.locator("#pg-request").text_content()
        assert not errors, errors
    finally:
        context.close()


def test_stream_readers_in_the_browser(page):
    """The parsers the page uses, run in the browser: reasoning deltas of every dialect, usage merged across
    events, in-stream errors, and SSE split anywhere (CRLF, chunk edges inside a line)."""
    open_page(page, "playground")
    got = page.evaluate("""async () => {
      const m = await import('/dashboard/static/js/playground/stream.js');
      const p = (d, e, x) => m.streamPiece(d, e, JSON.stringify(x));
      const out = {
        openai: p('openai', '', {choices: [{delta: {reasoning_content: 'hmm'}}]}).reasoning,
        anthropic: p('anthropic', 'content_block_delta',
                     {type: 'content_block_delta', delta: {type: 'thinking_delta', thinking: 'ponder'}}).reasoning,
        responses: p('responses', 'response.reasoning_summary_text.delta',
                     {type: 'response.reasoning_summary_text.delta', delta: 'plan'}).reasoning,
        gemini: p('gemini', '', {candidates: [{content: {parts: [{text: 'idea', thought: true}, {text: 'ans'}]}}]}),
        ollama: p('ollama', '', {message: {content: '', thinking: 'muse'}, done: false}).reasoning,
        anthropicError: p('anthropic', 'error', {type: 'error', error: {type: 'api_error', message: 'boom'}}).error,
        responsesError: p('responses', 'error', {type: 'error', message: 'bust'}).error,
        usage: m.mergeUsage(m.mergeUsage(null, {input: 5, output: 0}), {input: undefined, output: 7}),
        whole: m.wholeAnswer('anthropic', {content: [{type: 'thinking', thinking: 't'}, {type: 'text', text: 'x'}],
                                          usage: {input_tokens: 1, output_tokens: 2}}),
        err: [m.errorMessage('{"error":"plain"}', 404), m.errorMessage('{"error":{"message":"nested"}}', 400),
              m.errorMessage('[{"error":{"code":400,"message":"gem"}}]', 400), m.errorMessage('', 502)],
      };
      const enc = new TextEncoder();
      const parts = ['event: a\\r', '\\ndata: {"x"', ':1}\\r\\n\\r\\ndata: [DO', 'NE]\\n\\n'];
      const body = new ReadableStream({start(c) { parts.forEach((s) => c.enqueue(enc.encode(s))); c.close(); }});
      const seen = [];
      await m.readMessages(new Response(body), false, (e, d) => seen.push([e, d]));
      out.sse = seen;
      const nd = new ReadableStream({start(c) { c.enqueue(enc.encode('{"a":1}\\n{"b"')); c.enqueue(enc.encode(':2}')); c.close(); }});
      const lines = [];
      await m.readMessages(new Response(nd), true, (e, d) => lines.push(d));
      out.ndjson = lines;
      return out;
    }""")
    assert (got["openai"], got["anthropic"], got["responses"], got["ollama"]) == ("hmm", "ponder", "plan", "muse")
    assert got["gemini"] == {"reasoning": "idea", "text": "ans"}
    assert (got["anthropicError"], got["responsesError"]) == ("boom", "bust")
    assert got["usage"] == {"input": 5, "output": 7}
    assert got["whole"]["text"] == "x" and got["whole"]["reasoning"] == "t"
    assert got["err"] == ["plain", "nested", "gem", "HTTP 502"]
    assert got["sse"] == [["a", '{"x":1}'], ["", "[DONE]"]]
    assert got["ndjson"] == ['{"a":1}', '{"b":2}']
