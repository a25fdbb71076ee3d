"""Routing policies: operator rules that deny a request or send it to another model.

A policy matches on the client's API key and on the requested model (fnmatch-style globs,
case-sensitive). Policies are tried in list order and the first that matches decides;
one without match fields matches every request. Everything is compiled when the list is
loaded, so the per-request cost is a few set lookups and one regex match per policy, and
nothing at all when no policy exists.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from dataclasses import dataclass

from omniroute.errors import PermissionDenied

log = logging.getLogger("omniroute")

DENY, ROUTE = "deny", "route"
ACTIONS = (DENY, ROUTE)


@dataclass(frozen=True, slots=True)
class Policy:
    """One compiled policy; ``key_ids`` / ``pattern`` are None when that field does not restrict."""

    id: str
    name: str
    action: str
    target: str | None
    key_ids: frozenset[str] | None
    pattern: re.Pattern[str] | None
    row: dict

    @classmethod
    def from_json(cls, row: dict) -> Policy:
        """Compile a stored policy; ValueError when the row is not a valid policy."""
        if not isinstance(row, dict):
            raise ValueError("a policy must be an object")
        pid, name, action, target = row.get("id"), row.get("name"), row.get("action"), row.get("target")
        if not isinstance(pid, str) or not pid:
            raise ValueError("'id' must be a non-empty string")
        if not isinstance(name, str):
            raise ValueError("'name' must be a string")
        if action not in ACTIONS:
            raise ValueError(f"'action' must be one of {', '.join(ACTIONS)}")
        if action == ROUTE and (not isinstance(target, str) or not target):
            raise ValueError("action 'route' needs a 'target' model")
        match = row.get("match") or {}
        if not isinstance(match, dict):
            raise ValueError("'match' must be an object")
        key_ids = match.get("apiKeyIds")
        models = match.get("models")
        for field, values in (("apiKeyIds", key_ids), ("models", models)):
            if values is not None and (not isinstance(values, list) or not all(isinstance(v, str) for v in values)):
                raise ValueError(f"'match.{field}' must be a list of strings")
        return cls(id=pid, name=name, action=action, target=target if action == ROUTE else None,
                   key_ids=frozenset(key_ids) if key_ids else None,
                   pattern=compile_globs(models) if models else None, row=row)

    def matches(self, api_key_id: str | None, model: str) -> bool:
        if self.key_ids is not None and api_key_id not in self.key_ids:
            return False
        return self.pattern is None or self.pattern.match(model) is not None


def compile_globs(globs: list[str]) -> re.Pattern[str]:
    """One regex matching any of ``globs`` (fnmatch syntax, case-sensitive, whole name)."""
    return re.compile("|".join(fnmatch.translate(g) for g in globs))


class PolicySet:
    """The live, ordered policy list."""

    def __init__(self) -> None:
        self._policies: tuple[Policy, ...] = ()

    def load(self, rows: list[dict]) -> None:
        """Compile ``rows`` (stored order); a stored row that no longer validates is skipped."""
        policies = []
        for row in rows if isinstance(rows, list) else ():
            try:
                policies.append(Policy.from_json(row))
            except ValueError as exc:
                log.warning("stored policy %r is ignored: %s", row.get("id") if isinstance(row, dict) else row, exc)
        self._policies = tuple(policies)

    @property
    def rows(self) -> list[dict]:
        """The policies as the API shows them, in order."""
        return [p.row for p in self._policies]

    def __len__(self) -> int:
        return len(self._policies)

    def apply(self, api_key_id: str | None, model: str) -> str:
        """The model to serve: a matching route policy's target, else ``model``; a matching deny
        policy raises PermissionDenied (code ``policy_denied``)."""
        policies = self._policies
        if not policies:
            return model
        for policy in policies:
            if policy.matches(api_key_id, model):
                if policy.action == DENY:
                    raise PermissionDenied(
                        f"the model '{model}' is denied by routing policy '{policy.name}' ({policy.id})",
                        code="policy_denied")
                return policy.target  # type: ignore[return-value]
        return model
