"""PolicySet: matching by key and model glob, first match wins, deny and route, stored rows that fail."""

from __future__ import annotations

import pytest

from omniroute.errors import PermissionDenied
from omniroute.routing.policies import Policy, PolicySet


def policies(*rows: dict) -> PolicySet:
    made = PolicySet()
    made.load([{"id": f"p{i}", "name": f"policy {i}", **row} for i, row in enumerate(rows)])
    return made


def test_empty_set_returns_the_model():
    assert PolicySet().apply("k1", "openai/gpt-4o") == "openai/gpt-4o"
    assert PolicySet().apply(None, "anything") == "anything"


def test_deny_by_model_glob_is_case_sensitive():
    rules = policies({"match": {"models": ["openai/gpt-4*", "*-preview"]}, "action": "deny"})
    with pytest.raises(PermissionDenied) as caught:
        rules.apply("k1", "openai/gpt-4o")
    assert caught.value.code == "policy_denied" and caught.value.status == 403
    assert "policy 0" in caught.value.message and "p0" in caught.value.message
    with pytest.raises(PermissionDenied):
        rules.apply(None, "anthropic/claude-preview")
    assert rules.apply("k1", "OpenAI/gpt-4o") == "OpenAI/gpt-4o"
    assert rules.apply("k1", "openai/gpt-3.5") == "openai/gpt-3.5"


def test_glob_matches_the_whole_name():
    rules = policies({"match": {"models": ["gpt-?"]}, "action": "deny"})
    assert rules.apply(None, "gpt-4o") == "gpt-4o"
    with pytest.raises(PermissionDenied):
        rules.apply(None, "gpt-4")


def test_deny_by_key_only_touches_that_key():
    rules = policies({"match": {"apiKeyIds": ["k1", "k2"]}, "action": "deny"})
    for key in ("k1", "k2"):
        with pytest.raises(PermissionDenied):
            rules.apply(key, "m")
    assert rules.apply("k3", "m") == "m"
    assert rules.apply(None, "m") == "m"


def test_key_and_model_must_both_match():
    rules = policies({"match": {"apiKeyIds": ["k1"], "models": ["cheap/*"]}, "action": "route",
                      "target": "openai/gpt-4o-mini"})
    assert rules.apply("k1", "cheap/x") == "openai/gpt-4o-mini"
    assert rules.apply("k2", "cheap/x") == "cheap/x"
    assert rules.apply("k1", "dear/x") == "dear/x"


def test_first_match_wins_and_empty_match_matches_all():
    rules = policies(
        {"match": {"models": ["a/*"]}, "action": "route", "target": "b/one"},
        {"match": {}, "action": "deny"},
        {"match": {"models": ["c/*"]}, "action": "route", "target": "b/two"},
    )
    assert rules.apply(None, "a/x") == "b/one"
    with pytest.raises(PermissionDenied, match="policy 1"):
        rules.apply(None, "c/x")


def test_route_target_is_not_routed_again():
    rules = policies({"match": {"models": ["x"]}, "action": "route", "target": "y"},
                     {"match": {"models": ["y"]}, "action": "route", "target": "z"})
    assert rules.apply(None, "x") == "y"


def test_rows_keep_order_and_invalid_stored_rows_are_skipped():
    rules = PolicySet()
    good = {"id": "a", "name": "a", "match": {}, "action": "deny", "target": None}
    rules.load([good, {"id": "b", "name": "b", "action": "route"}, "junk",
                {"id": "c", "name": "c", "match": {"models": [1]}, "action": "deny"},
                {"id": "d", "name": "d", "action": "explode"}])
    assert rules.rows == [good] and len(rules) == 1


def test_policy_from_json_errors():
    with pytest.raises(ValueError, match="target"):
        Policy.from_json({"id": "x", "name": "x", "action": "route"})
    with pytest.raises(ValueError, match="apiKeyIds"):
        Policy.from_json({"id": "x", "name": "x", "action": "deny", "match": {"apiKeyIds": "k1"}})
