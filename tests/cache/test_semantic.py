"""The semantic cache index and its embedders."""

from __future__ import annotations

import math
import os
import re
import sys
import time
import zlib

import pytest

from omniroute.cache.embedders import INSTALL_HINT, Embedder, GatewayEmbedder, LocalMiniLM, normalise
from omniroute.cache.semantic import SemanticIndex, key_scope_prefix, scope_of

DIMS = 256


class BagOfWords:
    """A deterministic embedder: hashed word counts, unit length; counts its calls."""

    name = "bag-of-words"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self.vector(t) for t in texts]

    @staticmethod
    def vector(text: str) -> list[float]:
        counts = [0.0] * DIMS
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            counts[zlib.crc32(word.encode()) % DIMS] += 1.0
        return normalise(counts)


def cosine(a: str, b: str) -> float:
    return sum(x * y for x, y in zip(BagOfWords.vector(a), BagOfWords.vector(b), strict=True))


A = scope_of("key-a", "gpt-4o", "rest1")
B = scope_of("key-b", "gpt-4o", "rest1")


@pytest.fixture
def embedder() -> BagOfWords:
    return BagOfWords()


def test_the_fake_is_an_embedder(embedder):
    assert isinstance(embedder, Embedder)


async def test_identical_text_matches(embedder):
    index = SemanticIndex(embedder)
    await index.add(A, "How do I reverse a list in Python?", "k1")
    assert await index.match(A, "how do I reverse a list in python") == "k1"


async def test_threshold_is_inclusive_and_decides(embedder):
    stored, asked = "reverse a list in python", "please reverse a list in python"
    score = cosine(stored, asked)
    assert 0.5 < score < 0.99
    below = SemanticIndex(embedder, threshold=score - 1e-4)
    above = SemanticIndex(embedder, threshold=min(1.0, score + 1e-4))
    for index in (below, above):
        await index.add(A, stored, "k1")
    assert await below.match(A, asked) == "k1"
    assert await above.match(A, asked) is None


async def test_default_threshold_rejects_a_different_question(embedder):
    index = SemanticIndex(embedder)
    assert index.threshold == 0.95
    await index.add(A, "reverse a list in python", "k1")
    assert await index.match(A, "sort a dictionary by value in python") is None


async def test_the_best_entry_wins(embedder):
    index = SemanticIndex(embedder, threshold=0.5)
    await index.add(A, "reverse a list in python quickly", "far")
    await index.add(A, "reverse a list in python", "near")
    await index.add(A, "bake a cake", "unrelated")
    assert await index.match(A, "reverse a list in python") == "near"


async def test_scopes_never_share_entries(embedder):
    index = SemanticIndex(embedder)
    await index.add(A, "reverse a list in python", "tenant-a")
    assert await index.match(B, "reverse a list in python") is None
    assert await index.match(scope_of("key-a", "gpt-4o-mini", "rest1"), "reverse a list in python") is None
    assert await index.match(scope_of("key-a", "gpt-4o", "rest2"), "reverse a list in python") is None
    await index.add(B, "reverse a list in python", "tenant-b")
    assert await index.match(A, "reverse a list in python") == "tenant-a"
    assert await index.match(B, "reverse a list in python") == "tenant-b"


def test_scope_parts_cannot_run_into_each_other():
    assert scope_of("a|b", "m", "h") != scope_of("a", "b|m", "h")
    assert scope_of('a","b', "m", "h") != scope_of("a", 'b","m', "h")
    assert scope_of(None, "m", "h") != scope_of("", "m", "h")
    assert scope_of("k1", "m", "h").startswith(key_scope_prefix("k1"))
    assert not scope_of("k10", "m", "h").startswith(key_scope_prefix("k1"))


async def test_lru_bound_evicts_the_least_recently_used(embedder):
    index = SemanticIndex(embedder, max_entries=3)
    await index.add(A, "one apple", "k1")
    await index.add(B, "two bananas", "k2")
    await index.add(A, "three cherries", "k3")
    assert await index.match(A, "one apple") == "k1"  # k1 is now the most recent
    await index.add(B, "four dates", "k4")
    assert len(index) == 3
    assert await index.match(B, "two bananas") is None
    assert await index.match(A, "one apple") == "k1"
    assert await index.match(A, "three cherries") == "k3"
    assert await index.match(B, "four dates") == "k4"


async def test_memory_stays_bounded_across_many_scopes(embedder):
    index = SemanticIndex(embedder, max_entries=10)
    for i in range(50):
        await index.add(scope_of(f"key-{i}", "m", "h"), f"question {i}", f"k{i}")
    assert len(index) == 10
    assert len(index._scopes) == 10  # emptied scopes are dropped too


async def test_adding_a_key_again_replaces_it(embedder):
    index = SemanticIndex(embedder)
    await index.add(A, "reverse a list", "k1")
    await index.add(B, "bake a cake", "k1")
    assert len(index) == 1
    assert await index.match(A, "reverse a list") is None
    assert await index.match(B, "bake a cake") == "k1"


async def test_remove_forgets_one_entry(embedder):
    index = SemanticIndex(embedder)
    await index.add(A, "reverse a list", "k1")
    await index.add(A, "bake a cake", "k2")
    index.remove("k1")
    index.remove("never-added")
    assert len(index) == 1
    assert await index.match(A, "reverse a list") is None
    assert await index.match(A, "bake a cake") == "k2"


async def test_clear_by_prefix_and_all(embedder):
    index = SemanticIndex(embedder)
    await index.add(scope_of("k1", "m", "h"), "reverse a list", "e1")
    await index.add(scope_of("k1", "other", "h"), "reverse a list", "e2")
    await index.add(scope_of("k10", "m", "h"), "reverse a list", "e3")
    index.clear(key_scope_prefix("k1"))
    assert len(index) == 1
    assert await index.match(scope_of("k1", "m", "h"), "reverse a list") is None
    assert await index.match(scope_of("k10", "m", "h"), "reverse a list") == "e3"
    index.clear()
    assert len(index) == 0
    assert await index.match(scope_of("k10", "m", "h"), "reverse a list") is None


async def test_a_miss_then_a_store_embeds_once(embedder):
    index = SemanticIndex(embedder)
    await index.add(A, "bake a cake", "k1")
    embedder.calls.clear()
    vector = await index.embed_once("reverse a list")
    assert await index.match(A, "reverse a list", vector=vector) is None
    await index.add(A, "reverse a list", "k2", vector=vector)
    assert embedder.calls == [["reverse a list"]]
    assert await index.match(A, "reverse a list", vector=vector) == "k2"
    assert len(embedder.calls) == 1


async def test_an_empty_scope_is_not_embedded_for(embedder):
    index = SemanticIndex(embedder)
    assert await index.match(A, "reverse a list") is None
    assert embedder.calls == []
    await index.add(A, "reverse a list", "k1")
    assert len(embedder.calls) == 1


async def test_blank_text_is_neither_indexed_nor_matched(embedder):
    index = SemanticIndex(embedder)
    await index.add(A, "   ", "k1")
    assert len(index) == 0
    await index.add(A, "reverse a list", "k2")
    assert await index.match(A, "") is None
    assert embedder.calls == [["reverse a list"]]


async def test_vectors_of_another_size_are_ignored(embedder):
    index = SemanticIndex(embedder, threshold=0.5)
    await index.add(A, "x", "short", vector=[1.0, 0.0])
    await index.add(A, "reverse a list", "k1")
    assert await index.match(A, "reverse a list") == "k1"


def test_bad_settings_are_refused(embedder):
    with pytest.raises(ValueError):
        SemanticIndex(embedder, threshold=0)
    with pytest.raises(ValueError):
        SemanticIndex(embedder, threshold=1.5)
    with pytest.raises(ValueError):
        SemanticIndex(embedder, max_entries=0)


async def test_gateway_embedder_normalises():
    async def call(texts):
        return [[3.0, 4.0], [0.0, 0.0]][: len(texts)]

    gateway = GatewayEmbedder(call, name="gw:text-embedding-3-small")
    assert isinstance(gateway, Embedder)
    assert gateway.name == "gw:text-embedding-3-small"
    vectors = await gateway.embed(["a", "b"])
    assert vectors[0] == pytest.approx([0.6, 0.8])
    assert vectors[1] == [0.0, 0.0]
    assert await gateway.embed([]) == []


async def test_gateway_embedder_refuses_a_short_answer():
    async def call(texts):
        return [[1.0]]

    with pytest.raises(ValueError, match="1 vectors for 2 texts"):
        await GatewayEmbedder(call).embed(["a", "b"])


async def test_index_works_on_a_gateway_embedder_without_numpy():
    async def call(texts):
        return [BagOfWords.vector(t) for t in texts]

    index = SemanticIndex(GatewayEmbedder(call))
    await index.add(A, "reverse a list", "k1")
    assert await index.match(A, "Reverse a list!") == "k1"
    import omniroute.cache.semantic as semantic

    assert "numpy" not in vars(semantic)  # plain dot products over array('f')


async def test_local_model_without_its_packages_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(RuntimeError, match=re.escape(INSTALL_HINT)):
        await LocalMiniLM().embed(["hello"])


# --- the real model ----------------------------------------------------------------------

MISSING = LocalMiniLM.missing()


@pytest.fixture(scope="module")
def minilm() -> LocalMiniLM:
    if MISSING:
        reason = f"local MiniLM not installed ({', '.join(MISSING)}); {INSTALL_HINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: `make install` installs the semantic extra in CI")
        pytest.skip(reason)
    return LocalMiniLM()


async def _score(model: LocalMiniLM, a: str, b: str) -> float:
    va, vb = await model.embed([a, b])
    return sum(x * y for x, y in zip(va, vb, strict=True))


async def test_minilm_vectors_are_unit_length(minilm):
    (vector,) = await minilm.embed(["How do I reverse a list in Python?"])
    assert len(vector) == LocalMiniLM.dimension
    assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-4)


async def test_minilm_scores_paraphrases_high(minilm):
    score = await _score(minilm, "How do I reverse a list in Python?", "How can I reverse a Python list?")
    assert score >= 0.8


async def test_minilm_scores_unrelated_sentences_low(minilm):
    score = await _score(minilm, "How do I reverse a list in Python?", "The weather in Paris is sunny today.")
    assert score < 0.5


async def test_minilm_batch_padding_does_not_change_a_vector(minilm):
    short, long = (
        "Reverse a list.",
        "Explain, step by step and with examples, how list reversal works in Python.",
    )
    (alone,) = await minilm.embed([short])
    batched = (await minilm.embed([short, long]))[0]
    assert sum(x * y for x, y in zip(alone, batched, strict=True)) > 0.999


async def test_minilm_truncates_to_256_tokens(minilm):
    head = " ".join(["word"] * 300)
    a, b = await minilm.embed([head, head + " and then something entirely different about cooking"])
    assert sum(x * y for x, y in zip(a, b, strict=True)) > 0.9999


async def test_minilm_in_the_index(minilm):
    index = SemanticIndex(minilm, threshold=0.8)
    await index.add(A, "How do I reverse a list in Python?", "k1")
    assert await index.match(A, "How can I reverse a Python list?") == "k1"
    assert await index.match(A, "What is the capital of France?") is None
    assert await index.match(B, "How can I reverse a Python list?") is None


async def test_minilm_time_per_sentence(minilm, capsys):
    sentences = [
        f"Question number {i}: how do I sort a list of {i} dictionaries by a key?" for i in range(32)
    ]
    await minilm.embed(sentences[:1])  # loaded already; warm the session
    start = time.perf_counter()
    for sentence in sentences:
        await minilm.embed([sentence])
    single_ms = (time.perf_counter() - start) * 1000 / len(sentences)
    start = time.perf_counter()
    await minilm.embed(sentences)
    batch_ms = (time.perf_counter() - start) * 1000 / len(sentences)
    with capsys.disabled():
        print(
            f"\nLocalMiniLM: {single_ms:.2f} ms per sentence one at a time, {batch_ms:.2f} ms in a batch of 32"
        )
    assert single_ms < 1000
