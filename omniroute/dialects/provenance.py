"""Where an opaque reasoning payload came from, so it only ever goes back to its issuer.

Reasoning signatures (Anthropic thinking signatures, Gemini ``thoughtSignature``) and encrypted
reasoning (Anthropic ``redacted_thinking``, Responses ``encrypted_content``) can be verified only by
the vendor that issued them: an Anthropic signature sent to Gemini, or a Responses blob sent to
Anthropic, is refused. Yet a client must hand them back unchanged on its next turn, in its own
dialect, and the next turn may be routed to another upstream (a combo, a fallback).

So, on a translated exchange:

- payloads decoded from an upstream's answer are tagged with that upstream's dialect;
- when written to a client of another dialect they are wrapped (``omr1.<origin>.<kind>.<payload>``,
  base64-encoded for Gemini, whose signatures are bytes) in whichever field that dialect gives
  opaque reasoning, so the client stores and returns them verbatim;
- when a client sends them back they are unwrapped to their origin;
- an upstream is only ever sent payloads it issued; others are left out (a thinking block without
  its signature is then dropped by the Anthropic encoder, as Anthropic requires).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace

from omniroute.schema import ChatRequest, Reasoning, ReasoningDelta

PREFIX = "omr1."
_BYTES_PREFIX = PREFIX.encode()
ISSUERS = frozenset({"anthropic", "gemini", "responses"})  # dialects with opaque reasoning


def wrap(origin: str, kind: str, payload: str) -> str:
    """``kind`` is ``s`` (a signature) or ``r`` (encrypted/redacted reasoning)."""
    return f"{PREFIX}{origin}.{kind}.{payload}"


def unwrap(value: str) -> tuple[str, str, str] | None:
    """(origin, kind, payload) of a wrapped value, or None for a native one."""
    if not value.startswith(PREFIX):
        return None
    origin, _, rest = value[len(PREFIX):].partition(".")
    kind, _, payload = rest.partition(".")
    if origin not in ISSUERS or kind not in ("s", "r") or not payload:
        return None
    return origin, kind, payload


def _unwrap_any(value: str) -> tuple[str, str, str] | None:
    found = unwrap(value)
    if found is not None or len(value) < 8:
        return found
    try:  # the Gemini form: the wrapped text, base64-encoded
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return unwrap(raw.decode("utf-8", "replace")) if raw.startswith(_BYTES_PREFIX) else None


# ---- requests from clients and to upstreams ---------------------------------------------------


def from_client(request: ChatRequest, dialect: str) -> bool:
    """Restore the origin of every payload a client sent back (unwrapped ones are the client's own).

    True when some payload came from another issuer: the body can then not pass through to an
    upstream of the client's own dialect untouched (a model switched mid-conversation)."""
    foreign = False
    for message in request.messages:
        for i, part in enumerate(message.parts):
            if isinstance(part, Reasoning) and (part.signature or part.redacted):
                restored = message.parts[i] = _restored(part, dialect)
                foreign = foreign or (restored.origin is not None and restored.origin != dialect)
    return foreign


def _restored(part: Reasoning, dialect: str) -> Reasoning:
    for value in (part.signature, part.redacted):
        found = _unwrap_any(value) if value else None
        if found is not None:
            origin, kind, payload = found
            if kind == "s":
                return Reasoning(text=part.text, signature=payload, origin=origin)
            return Reasoning(text=part.text, redacted=payload, origin=origin)
    return replace(part, origin=dialect if dialect in ISSUERS else None)


def for_upstream(request: ChatRequest, dialect: str) -> None:
    """Leave out payloads the upstream did not issue."""
    for message in request.messages:
        for i, part in enumerate(message.parts):
            if isinstance(part, Reasoning) and part.origin not in (None, dialect):
                message.parts[i] = Reasoning(text=part.text)


# ---- answers from upstreams to clients ----------------------------------------------------------


def for_client(parts: list, origin: str, client: str) -> None:
    """Tag payloads of an upstream answer with ``origin``; wrap them when the client speaks another dialect."""
    if origin not in ISSUERS:
        return
    for i, part in enumerate(parts):
        if isinstance(part, Reasoning) and (part.signature or part.redacted):
            parts[i] = _carried(part, origin, client)


def _carried(part, origin: str, client: str):
    """A Reasoning or ReasoningDelta as the client's dialect can carry it back."""
    if client == origin:
        return replace(part, origin=origin)
    kind, payload = ("s", part.signature) if part.signature else ("r", part.redacted)
    wrapped = wrap(origin, kind, payload)
    if client == "gemini":  # one field, bytes: the signature carries either kind
        return replace(part, signature=base64.b64encode(wrapped.encode()).decode(), redacted=None, origin=client)
    if client == "responses":  # one field: encrypted_content
        return replace(part, signature=None, redacted=wrapped, origin=client)
    if client == "anthropic":
        if kind == "s":
            return replace(part, signature=wrapped, origin=client)
        return replace(part, redacted=wrapped, origin=client)
    return replace(part, signature=None, redacted=None, origin=None)  # no field for it


def stream_event(event, origin: str, client: str):
    """The same for one stream event (only reasoning deltas with a payload change)."""
    if isinstance(event, ReasoningDelta) and (event.signature or event.redacted) and origin in ISSUERS:
        return _carried(event, origin, client)
    return event
