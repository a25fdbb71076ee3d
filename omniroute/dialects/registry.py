"""The codec of each wire dialect, by name (loaded on first use)."""

from __future__ import annotations

from functools import cache

from omniroute.dialects.base import Codec

DIALECTS = ("openai", "anthropic", "gemini", "ollama", "responses", "completions")


@cache
def codec(name: str) -> Codec:
    """The codec for dialect ``name``."""
    if name == "openai":
        from omniroute.dialects.openai_chat import CODEC
    elif name == "anthropic":
        from omniroute.dialects.anthropic import CODEC
    elif name == "gemini":
        from omniroute.dialects.gemini import CODEC
    elif name == "ollama":
        from omniroute.dialects.ollama import CODEC
    elif name == "responses":
        from omniroute.dialects.responses import CODEC
    elif name == "completions":
        from omniroute.dialects.completions import CODEC
    else:
        raise KeyError(f"no codec for dialect {name!r}")
    return CODEC
