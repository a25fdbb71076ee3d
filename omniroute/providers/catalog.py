"""Provider definitions as data: one row per provider.

A provider that speaks an existing wire dialect is a row here and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProviderSpec:
    """What the gateway knows about one provider before any account is added."""

    id: str
    name: str
    base_url: str
    dialect: str = "openai"
    aliases: tuple[str, ...] = ()
    auth: str = "bearer"  # bearer | x-api-key | api-key | none
    chat_path: str = "/chat/completions"
    models_path: str = "/models"
    capabilities: frozenset[str] = field(default_factory=lambda: frozenset({"chat"}))
    models: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # sent on every upstream call (API versions)


_CHAT_EMBED = frozenset({"chat", "embeddings"})

CATALOG: tuple[ProviderSpec, ...] = (
    ProviderSpec("anthropic", "Anthropic", "https://api.anthropic.com/v1", dialect="anthropic",
                 aliases=("claude",), auth="x-api-key", chat_path="/messages",
                 headers=(("anthropic-version", "2023-06-01"),),
                 models=("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "claude-3-5-haiku-latest")),
    ProviderSpec("gemini", "Google Gemini", "https://generativelanguage.googleapis.com/v1beta", dialect="gemini",
                 aliases=("google",), auth="x-goog-api-key", chat_path="", capabilities=_CHAT_EMBED,
                 models=("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash")),
    ProviderSpec("ollama", "Ollama (local)", "http://localhost:11434", dialect="ollama", auth="none",
                 chat_path="/api/chat", models_path="/api/tags", capabilities=_CHAT_EMBED,
                 models=("llama3.2", "qwen2.5-coder", "gpt-oss:20b")),
    ProviderSpec("openai", "OpenAI", "https://api.openai.com/v1", aliases=("oai",),
                 capabilities=frozenset({"chat", "embeddings", "images", "audio"}),
                 models=("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini")),
    ProviderSpec("openai-responses", "OpenAI (Responses API)", "https://api.openai.com/v1", dialect="responses",
                 chat_path="/responses", models=("gpt-5", "gpt-5-codex", "gpt-5-mini", "o3", "o4-mini")),
    ProviderSpec("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", aliases=("or",),
                 capabilities=_CHAT_EMBED,
                 models=("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-flash",
                         "meta-llama/llama-3.3-70b-instruct:free")),
    ProviderSpec("groq", "Groq", "https://api.groq.com/openai/v1",
                 models=("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-120b")),
    ProviderSpec("together", "Together AI", "https://api.together.xyz/v1", aliases=("tg",),
                 capabilities=_CHAT_EMBED,
                 models=("meta-llama/Llama-3.3-70B-Instruct-Turbo", "deepseek-ai/DeepSeek-V3",
                         "Qwen/Qwen2.5-Coder-32B-Instruct")),
    ProviderSpec("fireworks", "Fireworks AI", "https://api.fireworks.ai/inference/v1", aliases=("fw",),
                 capabilities=_CHAT_EMBED,
                 models=("accounts/fireworks/models/llama-v3p3-70b-instruct",
                         "accounts/fireworks/models/deepseek-v3")),
    ProviderSpec("deepseek", "DeepSeek", "https://api.deepseek.com/v1", aliases=("ds",),
                 models=("deepseek-chat", "deepseek-reasoner")),
    ProviderSpec("mistral", "Mistral AI", "https://api.mistral.ai/v1", capabilities=_CHAT_EMBED,
                 models=("mistral-large-latest", "mistral-small-latest", "codestral-latest", "mistral-embed")),
    ProviderSpec("xai", "xAI", "https://api.x.ai/v1", aliases=("grok",),
                 models=("grok-4", "grok-3", "grok-3-mini")),
    ProviderSpec("nvidia", "NVIDIA NIM", "https://integrate.api.nvidia.com/v1", aliases=("nim",),
                 capabilities=_CHAT_EMBED,
                 models=("meta/llama-3.3-70b-instruct", "deepseek-ai/deepseek-r1", "qwen/qwen3-coder-480b-a35b-instruct")),
    ProviderSpec("nebius", "Nebius AI Studio", "https://api.studio.nebius.com/v1", capabilities=_CHAT_EMBED,
                 models=("meta-llama/Llama-3.3-70B-Instruct", "deepseek-ai/DeepSeek-V3")),
    ProviderSpec("cerebras", "Cerebras", "https://api.cerebras.ai/v1",
                 models=("llama-3.3-70b", "llama3.1-8b", "qwen-3-32b")),
    ProviderSpec("perplexity", "Perplexity", "https://api.perplexity.ai", aliases=("pplx",),
                 models=("sonar", "sonar-pro", "sonar-reasoning")),
    ProviderSpec("siliconflow", "SiliconFlow", "https://api.siliconflow.com/v1", aliases=("sf",),
                 capabilities=_CHAT_EMBED,
                 models=("deepseek-ai/DeepSeek-V3", "Qwen/Qwen2.5-72B-Instruct")),
    ProviderSpec("hyperbolic", "Hyperbolic", "https://api.hyperbolic.xyz/v1", aliases=("hyp",),
                 models=("meta-llama/Llama-3.3-70B-Instruct", "deepseek-ai/DeepSeek-V3")),
)
