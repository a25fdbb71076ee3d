"""Property test: Responses SSE decoding gives the same events for every split of the bytes."""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.dialects.responses.support import STREAMS, decode, raw  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(STREAMS), cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=40),
       crlf=st.booleans())
def test_decoding_any_split(name, cuts, crlf):
    data = raw(name)
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert decode(chunks) == decode([raw(name)])
