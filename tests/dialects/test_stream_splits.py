"""Property test: every dialect's stream decoder gives the same events for every split of the bytes
(and for CRLF line endings), over each dialect's recorded stream fixtures."""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# dialect → the module holding its fixtures' names (STREAMS), ``raw(name)`` and ``decode(chunks)``
SUPPORT = {
    "anthropic": "tests.dialects.anthropic.test_stream",
    "gemini": "tests.dialects.gemini.test_stream",
    "ollama": "tests.dialects.ollama.test_stream",
    "responses": "tests.dialects.responses.support",
}


@pytest.mark.parametrize("dialect", list(SUPPORT))
@settings(max_examples=60, deadline=None)
@given(data=st.data(), cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=40), crlf=st.booleans())
def test_decoding_any_split(dialect, data, cuts, crlf):
    support = importlib.import_module(SUPPORT[dialect])
    name = data.draw(st.sampled_from(support.STREAMS))
    whole = support.raw(name)
    if crlf:
        whole = whole.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    points = sorted({c % (len(whole) + 1) for c in cuts})
    chunks = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    assert support.decode(chunks) == support.decode([support.raw(name)])
