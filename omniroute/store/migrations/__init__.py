"""Numbered Alembic migrations; the head is known without importing Alembic."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

_VERSIONS = Path(__file__).parent / "versions"
_REV = re.compile(r'^revision\s*=\s*["\']([^"\']+)["\']', re.M)
_DOWN = re.compile(r'^down_revision\s*=\s*["\']([^"\']+)["\']', re.M)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The one revision no other migration builds on."""
    revisions, parents = set(), set()
    for path in _VERSIONS.glob("*.py"):
        text = path.read_text()
        rev = _REV.search(text)
        if rev:
            revisions.add(rev.group(1))
        down = _DOWN.search(text)
        if down:
            parents.add(down.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations must form one line; heads found: {sorted(heads)}")
    return heads.pop()
