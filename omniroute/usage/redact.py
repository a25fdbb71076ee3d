"""Secrets out of logged requests: header values, secret-named JSON fields and key-shaped strings.

Detailed request logging (the ``usage.detailedLogging`` setting) keeps the headers and bodies of each
request and its answer; everything it keeps goes through these two functions first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import orjson

from omniroute.auth.apikeys import KEY_PREFIX

REDACTED = "[REDACTED]"

# Headers whose value is always a credential, whatever the rules below say.
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "set-cookie",
})
# A header whose name contains one of these is a credential too. "token" does not match "tokens": the
# upstreams' rate-limit headers (x-ratelimit-remaining-tokens, anthropic-ratelimit-tokens-limit) are counts.
_SECRET_HEADER_PART = re.compile(r"key|secret|passw(?:or)?d|auth|token(?!s)", re.IGNORECASE)

# A JSON field (or key=value name) is secret when one of its words is one of these ...
_SECRET_WORDS = frozenset({
    "key", "apikey", "token", "secret", "password", "passwd", "pwd", "passphrase", "auth", "authorization",
    "cookie", "credential", "credentials", "bearer", "accesstoken", "refreshtoken", "idtoken", "authtoken",
    "sessiontoken", "clientsecret", "secretkey", "privatekey", "accesskey",
})
_COUNT_WORDS = frozenset({"count", "counts", "limit", "limits", "budget", "max", "min", "num", "total", "usage",
                          "remaining", "reset", "used", "length", "ids", "index", "logprob", "logprobs"})
# ... words of a name: "apiKey" → api, key; "x-api-key" → x, api, key; "max_tokens" → max, tokens (a count).
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

_PREFIX = re.escape(KEY_PREFIX)
# Strings shaped like credentials, wherever they appear (values, free text, other headers).
_KEY_PATTERNS = [
    re.compile(_PREFIX + r"[A-Za-z0-9_\-]{8,}"),  # this gateway's own client keys
    re.compile(r"(?<![\w-])sk-ant-[A-Za-z0-9_\-]{8,}"),  # Anthropic
    re.compile(r"(?<![\w-])AIza[0-9A-Za-z_\-]{20,}"),  # Google
    re.compile(r"(?<![\w-])(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{20,}"),  # GitHub
    re.compile(r"(?<![\w-])(?:gsk|hf|xai|pplx|glpat|sk_live|sk_test|rk_live)[_-][A-Za-z0-9_\-]{16,}"),
    re.compile(r"(?<![\w-])xox[abposr]-[A-Za-z0-9\-]{10,}"),  # Slack
    re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),  # AWS access key ids
    re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWTs
]
# OpenAI-style keys (sk-..., sk-proj-..., sk-or-v1-...): a digit is required so that words such as
# "sk-learn-based-pipeline" stay readable; random keys hold one with near certainty.
_SK = re.compile(r"(?<![\w-])sk-[A-Za-z0-9_\-]{16,}")
# "Bearer <credential>" / "Basic <base64>": the credential must look random (a digit, or long) so that
# prose such as "bearer authentication" stays readable.
_BEARER = re.compile(r"\b(Bearer|Basic)\s+([A-Za-z0-9._~+/\-]{8,}=*)", re.IGNORECASE)
# name=value pairs (query strings, form bodies, connection strings): the value goes when the name is secret.
_ASSIGNMENT = re.compile(r"(?<![\w.\-])([A-Za-z][\w.\-]{0,60})=([^&?\s\"'<>,;]+)")
# "Header-Name: value" lines inside text (a logged raw request, an error message quoting one).
_HEADER_LINE = re.compile(r"(?im)^([A-Za-z][\w\-]{0,60})[ \t]*:[ \t]*(\S[^\r\n]*)$")


def secret_name(name: str) -> bool:
    """Whether a JSON field or parameter of this name holds a credential (word-wise, case-insensitive)."""
    words = [w.lower() for w in _WORD.findall(name)]
    for word in words:
        if word in _SECRET_WORDS:
            # "token" beside a count is a token count (Gemini's promptTokenCount), not a credential.
            return word != "token" or not any(w in _COUNT_WORDS for w in words)
    joined = "".join(words)
    return joined in _SECRET_WORDS or joined.endswith(("apikey", "accesstoken", "secretkey", "privatekey"))


def secret_header(name: str) -> bool:
    name = name.lower()
    return name in SECRET_HEADERS or _SECRET_HEADER_PART.search(name) is not None


def _bearer(match: re.Match) -> str:
    credential = match.group(2)
    if len(credential) >= 24 or any(ch.isdigit() for ch in credential) or credential.endswith("="):
        return f"{match.group(1)} {REDACTED}"
    return match.group(0)


def _sk(match: re.Match) -> str:
    text = match.group(0)
    return REDACTED if any(ch.isdigit() for ch in text) else text


def _assignment(match: re.Match) -> str:
    return f"{match.group(1)}={REDACTED}" if secret_name(match.group(1)) else match.group(0)


def _header_line(match: re.Match) -> str:
    name = match.group(1)
    # Only header-like names ("X-Api-Key", "Authorization"), not a prose line such as "Key: C major".
    if secret_name(name) and ("-" in name or "_" in name or name.lower() in _LINE_NAMES):
        return f"{name}: {REDACTED}"
    return match.group(0)


_LINE_NAMES = frozenset({"authorization", "cookie", "password", "passwd", "secret", "token", "apikey", "bearer"})


def redact_text(text: str) -> str:
    """``text`` with every credential-shaped substring replaced by ``[REDACTED]``."""
    if len(text) < 6:
        return text
    text = _BEARER.sub(_bearer, text)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(REDACTED, text)
    text = _SK.sub(_sk, text)
    if "=" in text:
        text = _ASSIGNMENT.sub(_assignment, text)
    if ":" in text:
        text = _HEADER_LINE.sub(_header_line, text)
    return text


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def redact_headers(headers: Iterable[tuple[bytes | str, bytes | str]]) -> dict[str, str]:
    """Header pairs (ASGI's raw list, or any name/value pairs) as a dict of lower-case names; credentials
    are ``[REDACTED]`` and the other values are scrubbed of key-shaped strings. Repeated headers are
    joined with ", "."""
    if hasattr(headers, "items"):  # a mapping (dict, multidict) rather than pairs
        headers = headers.items()
    out: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = _text(raw_name).strip().lower()
        value = REDACTED if secret_header(name) else redact_text(_text(raw_value))
        if name in out and value != REDACTED:
            out[name] = f"{out[name]}, {value}"
        else:
            out[name] = value
    return out


def redact_json(value):
    """A copy of a decoded JSON value with secret-named fields' values and key-shaped strings replaced."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is not None and not isinstance(item, bool) and secret_name(str(key)):
                out[key] = REDACTED
            else:
                out[key] = redact_json(item)
        return out
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _redact_stream(text: str) -> str | None:
    """An SSE or NDJSON stream (an answer as streamed): each JSON event redacted field-wise, the other
    lines as text; None when ``text`` holds no JSON line."""
    lines = text.split("\n")
    found = False
    for i, line in enumerate(lines):
        head, payload = ("data: ", line[5:].strip()) if line.startswith("data:") else ("", line.strip())
        if payload[:1] in ("{", "["):
            try:
                decoded = orjson.loads(payload)
            except orjson.JSONDecodeError:
                pass
            else:
                lines[i] = head + orjson.dumps(redact_json(decoded)).decode()
                found = True
                continue
        lines[i] = redact_text(line)
    return "\n".join(lines) if found else None


def _truncate(text: str, max_bytes: int) -> tuple[str, bool]:
    data = text.encode()
    if len(data) <= max_bytes:
        return text, False
    # Cut at max_bytes and drop a character split by the cut.
    return data[:max(max_bytes, 0)].decode("utf-8", errors="ignore"), True


def redact_body(data: bytes | str | dict | list, max_bytes: int) -> tuple[str, bool]:
    """A request or answer body as text for the log: JSON with secret-named fields' values replaced
    (recursively), key-shaped strings replaced everywhere, then cut to ``max_bytes`` UTF-8 bytes.
    Returns the text and whether it was cut. A body that is not UTF-8 (an upload) is kept as a note of
    its size only."""
    if isinstance(data, dict | list):
        return _truncate(orjson.dumps(redact_json(data)).decode(), max_bytes)
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _truncate(f"[binary body: {len(raw)} bytes]", max_bytes)
    else:
        text = str(data)
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            decoded = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass
        else:
            return _truncate(orjson.dumps(redact_json(decoded)).decode(), max_bytes)
    streamed = _redact_stream(text) if ("data:" in text or "\n{" in text) else None
    return _truncate(streamed if streamed is not None else redact_text(text), max_bytes)
