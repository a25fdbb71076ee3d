"""Inline ``<think>`` reasoning is split out of OpenAI-compatible and Ollama answers."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from omniroute.dialects.ollama.response import decode_response as ollama_response
from omniroute.dialects.ollama.stream import OllamaStreamDecoder
from omniroute.dialects.openai_chat.response import decode_response as openai_response
from omniroute.dialects.openai_chat.stream_decode import OpenAIStreamDecoder
from omniroute.dialects.think import ThinkSplitter, split_think
from omniroute.schema import Reasoning, ReasoningDelta, Text, TextDelta


def _run(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    out = [p for piece in pieces for p in splitter.feed(piece)] + splitter.flush()
    return "".join(t for r, t in out if r), "".join(t for r, t in out if not r)


def test_whole_text_cases():
    assert split_think("<think>plan it</think>\n\nThe answer.") == ("plan it", "The answer.")
    assert split_think("  \n<think>a</think>b") == ("a", "b")
    assert split_think("No tags here.") == ("", "No tags here.")
    # A tag later in the answer is the model talking about it, not reasoning.
    assert split_think("Use <think> tags like <think>x</think>") == ("", "Use <think> tags like <think>x</think>")
    assert split_think("<think>never closed") == ("never closed", "")
    assert split_think("<thin") == ("", "<thin")
    assert split_think("<thinking>x</thinking>") == ("", "<thinking>x</thinking>")


@given(st.text(alphabet="ab <>/thinkx\n", max_size=40), st.text(alphabet="ab <>/x\n", max_size=30),
       st.lists(st.integers(min_value=0, max_value=80), max_size=8))
def test_any_split_gives_the_same_result(reasoning, text, cuts):
    if "</think>" in reasoning:
        return
    whole = f"<think>{reasoning}</think>{text}"
    cuts = sorted({c for c in cuts if c < len(whole)})
    pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    assert _run(pieces) == split_think(whole)
    assert split_think(whole) == (reasoning, text.lstrip("\n"))


def test_reasoning_is_emitted_before_the_block_closes():
    splitter = ThinkSplitter()
    assert splitter.feed("<think>first ") == [(True, "first ")]
    assert splitter.feed("second </th") == [(True, "second ")]  # the partial closing tag is held
    assert splitter.feed("ink>done") == [(False, "done")]


def _sse(*chunks: dict) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def test_openai_stream_and_answer():
    deltas = ["<thi", "nk>weigh ", "options</think>", "Pick B."]
    raw = _sse(*({"id": "c1", "model": "r1", "choices": [{"index": 0, "delta": {"content": d}}]} for d in deltas),
               {"id": "c1", "model": "r1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    decoder = OpenAIStreamDecoder()
    events = [e for i in range(0, len(raw), 7) for e in decoder.feed(raw[i:i + 7])] + decoder.finish()
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "weigh options"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Pick B."
    answer = openai_response({"id": "c1", "model": "r1", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "<think>hm</think>Yes."}, "finish_reason": "stop"}]})
    assert answer.parts == [Reasoning(text="hm"), Text("Yes.")]


def test_ollama_stream_and_answer():
    lines = [{"model": "qwq", "message": {"role": "assistant", "content": c}, "done": False}
             for c in ["<think>", "count", "</think>", "42"]]
    lines.append({"model": "qwq", "message": {"role": "assistant", "content": ""}, "done": True,
                  "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 4})
    decoder = OllamaStreamDecoder()
    events = decoder.feed(b"".join(orjson.dumps(x) + b"\n" for x in lines)) + decoder.finish()
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "count"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "42"
    answer = ollama_response({"model": "qwq", "message": {"role": "assistant", "content": "<think>c</think>42"},
                              "done": True})
    assert answer.parts[:2] == [Reasoning(text="c"), Text("42")]
