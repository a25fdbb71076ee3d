"""Client API keys: generation, hashing, the key ring, and per-key rules."""

from __future__ import annotations

import time

import pytest

from omniroute.auth.apikeys import KEY_PREFIX, ApiKey, KeyRing, generate_key, hash_key, key_hint


def make_key(**changes) -> ApiKey:
    values = dict(id="k1", name="ci", scopes=frozenset(), allowed_models=None, expires_at=None, revoked_at=None)
    values.update(changes)
    return ApiKey(**values)


def row(raw: str, **changes) -> dict:
    values = {
        "id": "id-" + raw[-6:], "name": "key", "keyHash": hash_key(raw), "scopes": ["chat"],
        "allowedModels": None, "expiresAt": None, "revokedAt": None,
    }
    values.update(changes)
    return values


def test_generate_key_prefix_and_uniqueness():
    keys = {generate_key() for _ in range(500)}
    assert len(keys) == 500
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert key.startswith("sk-omni-")
        assert len(key) >= len(KEY_PREFIX) + 40


def test_hash_key_is_stable_and_not_the_key():
    key = generate_key()
    assert hash_key(key) == hash_key(key)
    assert len(hash_key(key)) == 64
    assert key not in hash_key(key)
    assert hash_key(key) != hash_key(key + "x")


def test_key_hint_hides_the_secret():
    key = generate_key()
    hint = key_hint(key)
    assert hint.startswith(key[: len(KEY_PREFIX) + 4])
    assert hint.endswith(key[-4:])
    assert len(hint) <= 40
    assert key[len(KEY_PREFIX) + 4:-4] not in hint


def test_keyring_lookup():
    a, b, unknown = generate_key(), generate_key(), generate_key()
    ring = KeyRing()
    assert ring.lookup(a) is None
    ring.load([row(a, id="A", name="alpha", scopes=["chat", "models"]), row(b, id="B", allowedModels=["gpt-*"])])
    assert len(ring) == 2
    found = ring.lookup(a)
    assert found is not None
    assert found.id == "A"
    assert found.name == "alpha"
    assert found.scopes == frozenset({"chat", "models"})
    assert found.allowed_models is None
    assert ring.lookup(b).allowed_models == ("gpt-*",)
    assert ring.lookup(unknown) is None
    assert ring.lookup("") is None
    assert ring.lookup(None) is None
    assert ring.lookup(hash_key(a)) is None  # the hash itself is not a credential


def test_keyring_load_replaces_previous_keys():
    a, b = generate_key(), generate_key()
    ring = KeyRing()
    ring.load([row(a)])
    ring.load([row(b)])
    assert ring.lookup(a) is None
    assert ring.lookup(b) is not None
    assert len(ring) == 1


def test_keyring_handles_null_scopes():
    a = generate_key()
    ring = KeyRing()
    ring.load([row(a, scopes=None, allowedModels=[])])
    found = ring.lookup(a)
    assert found.scopes == frozenset()
    assert found.allows_model("anything")


def test_usable():
    now = time.time()
    assert make_key().usable()
    assert make_key(expires_at=now + 3600).usable()
    assert not make_key(expires_at=now - 1).usable()
    assert not make_key(revoked_at=now - 10).usable()
    assert not make_key(revoked_at=now - 10, expires_at=now + 3600).usable()


def test_usable_at_a_given_time():
    key = make_key(expires_at=1000.0)
    assert key.usable(now=999.0)
    assert not key.usable(now=1000.0)
    assert not key.usable(now=1001.0)


@pytest.mark.parametrize(
    ("patterns", "model", "allowed"),
    [
        (None, "gpt-4o", True),
        ((), "gpt-4o", True),
        (("gpt-4o",), "gpt-4o", True),
        (("gpt-4o",), "gpt-4o-mini", False),
        (("gpt-4*",), "gpt-4o-mini", True),
        (("gpt-4*",), "gpt-3.5-turbo", False),
        (("openai/*",), "openai/gpt-4o", True),
        (("openai/*",), "anthropic/claude-3", False),
        (("openai/*", "anthropic/*"), "anthropic/claude-3", True),
        (("*-mini",), "gpt-4o-mini", True),
        (("gpt-?o",), "gpt-4o", True),
        (("GPT-4o",), "gpt-4o", False),
    ],
)
def test_allows_model(patterns, model, allowed):
    assert make_key(allowed_models=patterns).allows_model(model) is allowed
