"""Encryption of secrets at rest and masking for display."""

from __future__ import annotations

import base64

import pytest

from omniroute.auth.secrets import SecretBox, mask

PLAINTEXT = "sk-proj-1234567890abcdefghijklmnop"


def test_round_trip():
    box = SecretBox("storage-key")
    sealed = box.encrypt(PLAINTEXT)
    assert sealed is not None and sealed.startswith("enc:v1:")
    assert box.decrypt(sealed) == PLAINTEXT


def test_round_trip_unicode_and_long_values():
    box = SecretBox("k")
    for value in ("\u00e9\u6f22\U0001f511", "x" * 10_000, " "):
        assert box.decrypt(box.encrypt(value)) == value


def test_a_second_box_with_the_same_key_decrypts():
    assert SecretBox("same").decrypt(SecretBox("same").encrypt(PLAINTEXT)) == PLAINTEXT


def test_ciphertext_differs_each_time_and_hides_plaintext():
    box = SecretBox("storage-key")
    sealed = {box.encrypt(PLAINTEXT) for _ in range(20)}
    assert len(sealed) == 20
    for s in sealed:
        assert PLAINTEXT not in s
        raw = base64.urlsafe_b64decode(s[len("enc:v1:"):])
        assert PLAINTEXT.encode() not in raw
        assert "1234567890" not in s


def test_empty_values():
    box = SecretBox("k")
    assert box.encrypt(None) is None
    assert box.encrypt("") is None
    assert box.decrypt(None) is None
    assert box.decrypt("") is None


def test_wrong_key_fails():
    sealed = SecretBox("right").encrypt(PLAINTEXT)
    with pytest.raises(Exception) as info:
        SecretBox("wrong").decrypt(sealed)
    assert PLAINTEXT not in str(info.value)


def test_tampered_ciphertext_fails():
    box = SecretBox("k")
    sealed = box.encrypt(PLAINTEXT)
    raw = bytearray(base64.urlsafe_b64decode(sealed[len("enc:v1:"):]))
    for index in (0, 12, len(raw) // 2, len(raw) - 1):  # nonce, ciphertext, tag
        changed = bytearray(raw)
        changed[index] ^= 0x01
        forged = "enc:v1:" + base64.urlsafe_b64encode(bytes(changed)).decode()
        with pytest.raises(Exception):  # noqa: B017 - any failure is acceptable, a result is not
            box.decrypt(forged)


def test_truncated_ciphertext_fails():
    box = SecretBox("k")
    sealed = box.encrypt(PLAINTEXT)
    with pytest.raises(Exception):  # noqa: B017
        box.decrypt(sealed[:-8])


def test_unencrypted_value_is_refused():
    with pytest.raises(ValueError, match="encrypted format"):
        SecretBox("k").decrypt(PLAINTEXT)


def test_mask():
    assert mask(None) is None
    assert mask("") is None
    assert mask("short") == "****"
    assert mask("12345678") == "****"
    assert mask("123456789") == "1234****6789"
    masked = mask(PLAINTEXT)
    assert masked == "sk-p****mnop"
    assert "1234567890" not in masked
