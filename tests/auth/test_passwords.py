"""Dashboard password hashing."""

from __future__ import annotations

import pytest

from omniroute.auth.passwords import hash_password, verify_password


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password("correct horse battery staple")


def test_hash_format(stored):
    parts = stored.split("$")
    assert parts[0] == "scrypt"
    assert len(parts) == 6
    assert "correct horse" not in stored


def test_verify_right_password(stored):
    assert verify_password("correct horse battery staple", stored) is True


@pytest.mark.parametrize("attempt", ["wrong", "", "correct horse battery stapl", "Correct horse battery staple"])
def test_verify_wrong_password(stored, attempt):
    assert verify_password(attempt, stored) is False


def test_same_password_hashes_differently():
    a, b = hash_password("pw"), hash_password("pw")
    assert a != b
    assert verify_password("pw", a) and verify_password("pw", b)


def test_unicode_password():
    stored = hash_password("p\u00e4ss\u6f22")
    assert verify_password("p\u00e4ss\u6f22", stored) is True
    assert verify_password("pass", stored) is False


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "plaintext-password",
        "scrypt$1$2",
        "bcrypt$32768$8$1$c2FsdA==$ZGlnZXN0",
        "scrypt$32768$8$1$c2FsdA==$ZGlnZXN0$extra",
        "scrypt$x$8$1$c2FsdA==$ZGlnZXN0",
        "scrypt$32768$8$1$!!!$!!!",
    ],
)
def test_malformed_stored_value_is_false(malformed):
    assert verify_password("pw", malformed) is False
