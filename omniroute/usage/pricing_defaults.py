"""Built-in model prices: USD per 1M tokens, keyed ``provider/model`` (catalog provider ids).

Table checked 2026-12 against the providers' published price pages. Only prices found in a
provider's own documentation (or a faithful copy of it) are listed; a model missing here costs
nothing until an operator adds it through ``/api/pricing``. Tiered prices are given at the
standard tier for ordinary prompt sizes (Gemini 2.5 Pro: prompts up to 200k tokens).

The first provider that lists a model also prices it for every other provider serving the same
bare model name (Azure OpenAI and OpenRouter bill OpenAI's, Anthropic's and Google's list prices).

Fields: ``input`` ``output`` (required), ``cache_read`` ``cache_write`` (default: input),
``reasoning`` (default: output, thinking tokens are billed as output), ``per_image`` (USD per
image), ``per_audio_minute`` (USD per minute of audio).
"""

from __future__ import annotations


def _claude(inp: float, out: float, read: float | None = None, write: float | None = None) -> dict:
    """Anthropic: 5-minute cache writes at 1.25x input, cache hits at 0.1x input."""
    return {"input": inp, "output": out,
            "cache_read": round(inp * 0.1, 6) if read is None else read,
            "cache_write": round(inp * 1.25, 6) if write is None else write}


def _tok(inp: float, out: float, read: float | None = None) -> dict:
    price = {"input": inp, "output": out}
    if read is not None:
        price["cache_read"] = read
    return price


DEFAULT_PRICES: dict[str, dict] = {
    # --- OpenAI (platform.openai.com / developers.openai.com pricing and model pages) -----------
    # Cached input: 50% off for GPT-4o and o1, 75% off for GPT-4.1, o3 and o4-mini, 90% for GPT-5.
    "openai/gpt-4o": _tok(2.50, 10.00, 1.25),
    "openai/gpt-4o-mini": _tok(0.15, 0.60, 0.075),
    "openai/gpt-4.1": _tok(2.00, 8.00, 0.50),
    "openai/gpt-4.1-mini": _tok(0.40, 1.60, 0.10),
    "openai/gpt-4.1-nano": _tok(0.10, 0.40, 0.025),
    "openai/o1": _tok(15.00, 60.00, 7.50),
    "openai/o3": _tok(2.00, 8.00, 0.50),
    "openai/o3-mini": _tok(1.10, 4.40, 0.55),
    "openai/o4-mini": _tok(1.10, 4.40, 0.275),
    "openai/gpt-5": _tok(1.25, 10.00, 0.125),
    "openai/gpt-5-mini": _tok(0.25, 2.00, 0.025),
    "openai/gpt-5-nano": _tok(0.05, 0.40, 0.005),
    "openai/gpt-5-codex": _tok(1.25, 10.00, 0.125),
    "openai/codex-mini-latest": _tok(1.50, 6.00, 0.375),
    "openai/text-embedding-3-small": _tok(0.02, 0.0),
    "openai/text-embedding-3-large": _tok(0.13, 0.0),
    # DALL-E 3 bills per image: standard quality, 1024x1024.
    "openai/dall-e-3": {"input": 0.0, "output": 0.0, "per_image": 0.04},
    # GPT Image 1 bills tokens (text input 5, cached 1.25, image output 40); the images route
    # records those token counts, so no per-image price is added on top.
    "openai/gpt-image-1": _tok(5.00, 40.00, 1.25),
    "openai/whisper-1": {"input": 0.0, "output": 0.0, "per_audio_minute": 0.006},
    # --- Anthropic (platform.claude.com/docs/en/about-claude/pricing) -----------------------------
    "anthropic/claude-opus-4-5": _claude(5.00, 25.00),
    "anthropic/claude-opus-4-1": _claude(15.00, 75.00),
    "anthropic/claude-opus-4-0": _claude(15.00, 75.00),
    "anthropic/claude-opus-4": _claude(15.00, 75.00),
    "anthropic/claude-sonnet-4-5": _claude(3.00, 15.00),
    "anthropic/claude-sonnet-4-0": _claude(3.00, 15.00),
    "anthropic/claude-sonnet-4": _claude(3.00, 15.00),
    "anthropic/claude-3-7-sonnet": _claude(3.00, 15.00),
    "anthropic/claude-3-7-sonnet-latest": _claude(3.00, 15.00),
    "anthropic/claude-3-5-sonnet": _claude(3.00, 15.00),
    "anthropic/claude-3-5-sonnet-latest": _claude(3.00, 15.00),
    "anthropic/claude-haiku-4-5": _claude(1.00, 5.00),
    "anthropic/claude-3-5-haiku": _claude(0.80, 4.00),
    "anthropic/claude-3-5-haiku-latest": _claude(0.80, 4.00),
    "anthropic/claude-3-haiku": _claude(0.25, 1.25, read=0.03, write=0.30),
    # --- Google Gemini API (ai.google.dev/gemini-api/docs/pricing, paid tier) ---------------------
    # Cached tokens: 90% off on Gemini 2.5, 75% off on Gemini 2.0. Thinking tokens bill as output.
    "gemini/gemini-2.5-pro": _tok(1.25, 10.00, 0.125),
    "gemini/gemini-2.5-flash": _tok(0.30, 2.50, 0.03),
    "gemini/gemini-2.5-flash-lite": _tok(0.10, 0.40, 0.01),
    "gemini/gemini-2.0-flash": _tok(0.10, 0.40, 0.025),
    # --- DeepSeek (api-docs.deepseek.com/quick_start/pricing: both endpoints serve V3.2) ---------
    "deepseek/deepseek-chat": _tok(0.28, 0.42, 0.028),
    "deepseek/deepseek-reasoner": _tok(0.28, 0.42, 0.028),
    # --- xAI (docs.x.ai models page) ------------------------------------------------------------
    "xai/grok-4": _tok(3.00, 15.00, 0.75),
    "xai/grok-3": _tok(3.00, 15.00, 0.75),
    "xai/grok-3-mini": _tok(0.30, 0.50, 0.075),
    # --- Groq (console.groq.com/docs/models, groq.com/pricing) ------------------------------------
    "groq/llama-3.3-70b-versatile": _tok(0.59, 0.79),
    "groq/llama-3.1-8b-instant": _tok(0.05, 0.08),
    "groq/openai/gpt-oss-120b": _tok(0.15, 0.60),
    # --- Mistral (the *-latest aliases move between model generations, so only fixed ids) --------
    "mistral/mistral-embed": _tok(0.10, 0.0),
}
