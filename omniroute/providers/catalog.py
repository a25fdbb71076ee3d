"""Provider definitions as data: one row per provider.

A provider that speaks an existing wire dialect is a row here and nothing else. ``base_url``
includes the API version; the dialect's paths (``chat_path``, ``models_path``, Gemini's
``/models/{m}:generateContent``) are appended to it. A ``{field}`` in ``base_url`` is filled from
the connection's ``providerData`` (Azure's resource and deployment, Cloudflare's account id); a
connection may instead give a whole ``baseUrl``.

Values come from each provider's public documentation; where a value is a best-known default
(an undocumented subscription endpoint, a region choice) the row says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from string import Formatter

# How the account's secret travels: ``bearer`` Authorization: Bearer <key>; ``x-api-key``,
# ``api-key`` and ``x-goog-api-key`` headers of those names; ``token`` Authorization: Token <key>;
# ``raw`` Authorization: <key>; ``oauth`` a subscription token handled by the provider's executor
# (sent as a bearer token when no executor takes over); ``none`` nothing (local servers).
AUTH_STYLES = frozenset({"bearer", "x-api-key", "api-key", "x-goog-api-key", "token", "raw", "oauth", "none"})
CAPABILITIES = frozenset({"chat", "embeddings", "images", "audio"})


@dataclass(frozen=True)
class ProviderSpec:
    """What the gateway knows about one provider before any account is added."""

    id: str
    name: str
    base_url: str
    dialect: str = "openai"
    aliases: tuple[str, ...] = ()  # the first one is the short prefix (`cc/claude-…`)
    auth: str = "bearer"  # one of AUTH_STYLES
    chat_path: str = "/chat/completions"
    models_path: str = "/models"
    capabilities: frozenset[str] = field(default_factory=lambda: frozenset({"chat"}))
    models: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # sent on every upstream call (API versions)
    query: tuple[tuple[str, str], ...] = ()  # added to every upstream URL (Azure's api-version)
    executor: str | None = None  # the subscription adapter that rewrites calls (OAuth providers)
    local: bool = False  # a server on the user's machine: plain http, key optional

    @property
    def prefix(self) -> str:
        """The short name clients put before the model (`cc/…`); the id when there is none."""
        return self.aliases[0] if self.aliases else self.id

    @property
    def url_fields(self) -> tuple[str, ...]:
        """Names of the ``{field}`` placeholders in ``base_url``, filled from the connection."""
        return tuple(name for _, name, _, _ in Formatter().parse(self.base_url) if name)


_CHAT_EMBED = frozenset({"chat", "embeddings"})
_CHAT_IMAGES = frozenset({"chat", "images"})
_CHAT_EMBED_IMAGES = frozenset({"chat", "embeddings", "images"})
_ALL = frozenset({"chat", "embeddings", "images", "audio"})
_AUDIO = frozenset({"audio"})
_ANTHROPIC_VERSION = (("anthropic-version", "2023-06-01"),)

CATALOG: tuple[ProviderSpec, ...] = (
    # --- API-key providers ---------------------------------------------------------------------------
    ProviderSpec("anthropic", "Anthropic", "https://api.anthropic.com/v1", dialect="anthropic",
                 aliases=("claude",), auth="x-api-key", chat_path="/messages", headers=_ANTHROPIC_VERSION,
                 models=("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "claude-3-5-haiku-latest")),
    ProviderSpec("gemini", "Google Gemini", "https://generativelanguage.googleapis.com/v1beta", dialect="gemini",
                 aliases=("google",), auth="x-goog-api-key", chat_path="", capabilities=_CHAT_EMBED,
                 models=("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash")),
    # Vertex AI express mode: the global host without project or location; the model path is
    # publishers/google/models/{m}:generateContent, so the publisher is part of the base URL.
    ProviderSpec("vertex-express", "Vertex AI (express mode)",
                 "https://aiplatform.googleapis.com/v1/publishers/google", dialect="gemini",
                 aliases=("vertex",), auth="x-goog-api-key", chat_path="",
                 models=("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")),
    ProviderSpec("openai", "OpenAI", "https://api.openai.com/v1", aliases=("oai",), capabilities=_ALL,
                 models=("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini")),
    ProviderSpec("openai-responses", "OpenAI (Responses API)", "https://api.openai.com/v1", dialect="responses",
                 chat_path="/responses", models=("gpt-5", "gpt-5-codex", "gpt-5-mini", "o3", "o4-mini")),
    # One connection per deployment: providerData {"resource", "deployment"} fill the URL. The
    # api-version is the latest GA data-plane version known here; a connection header cannot
    # change a query value, so a newer one needs a baseUrl override plus this default.
    ProviderSpec("azure-openai", "Azure OpenAI",
                 "https://{resource}.openai.azure.com/openai/deployments/{deployment}",
                 aliases=("azure",), auth="api-key", query=(("api-version", "2024-10-21"),), capabilities=_ALL,
                 models=("gpt-4o", "gpt-4o-mini", "gpt-4.1")),
    ProviderSpec("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", aliases=("or",),
                 capabilities=_CHAT_EMBED,
                 models=("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-flash",
                         "meta-llama/llama-3.3-70b-instruct:free")),
    ProviderSpec("groq", "Groq", "https://api.groq.com/openai/v1",
                 models=("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-120b")),
    ProviderSpec("together", "Together AI", "https://api.together.xyz/v1", aliases=("tg",),
                 capabilities=_CHAT_EMBED_IMAGES,
                 models=("meta-llama/Llama-3.3-70B-Instruct-Turbo", "deepseek-ai/DeepSeek-V3",
                         "Qwen/Qwen2.5-Coder-32B-Instruct")),
    ProviderSpec("fireworks", "Fireworks AI", "https://api.fireworks.ai/inference/v1", aliases=("fw",),
                 capabilities=frozenset({"chat", "embeddings", "images"}),
                 models=("accounts/fireworks/models/llama-v3p3-70b-instruct",
                         "accounts/fireworks/models/deepseek-v3")),
    ProviderSpec("deepseek", "DeepSeek", "https://api.deepseek.com/v1", aliases=("ds",),
                 models=("deepseek-chat", "deepseek-reasoner")),
    ProviderSpec("mistral", "Mistral AI", "https://api.mistral.ai/v1", capabilities=_CHAT_EMBED,
                 models=("mistral-large-latest", "mistral-small-latest", "codestral-latest", "mistral-embed")),
    ProviderSpec("xai", "xAI", "https://api.x.ai/v1", aliases=("grok",), capabilities=_CHAT_IMAGES,
                 models=("grok-4", "grok-3", "grok-3-mini")),
    ProviderSpec("nvidia", "NVIDIA NIM", "https://integrate.api.nvidia.com/v1", aliases=("nim",),
                 capabilities=_CHAT_EMBED,
                 models=("meta/llama-3.3-70b-instruct", "deepseek-ai/deepseek-r1", "qwen/qwen3-coder-480b-a35b-instruct")),
    ProviderSpec("nebius", "Nebius AI Studio", "https://api.studio.nebius.com/v1", capabilities=_CHAT_EMBED_IMAGES,
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
    ProviderSpec("cohere", "Cohere (OpenAI compatibility API)", "https://api.cohere.ai/compatibility/v1",
                 aliases=("co",), capabilities=_CHAT_EMBED,
                 models=("command-a-03-2025", "command-r-plus-08-2024", "command-r7b-12-2024")),
    # International endpoint; accounts from mainland China use https://api.moonshot.cn/v1.
    ProviderSpec("moonshot", "Moonshot AI (Kimi)", "https://api.moonshot.ai/v1", aliases=("kimi",),
                 models=("kimi-k2-0905-preview", "kimi-k2-turbo-preview", "kimi-latest", "moonshot-v1-32k")),
    # BigModel (mainland) endpoint; Z.ai accounts use https://api.z.ai/api/paas/v4.
    ProviderSpec("zhipu", "Zhipu AI (GLM)", "https://open.bigmodel.cn/api/paas/v4", aliases=("glm",),
                 capabilities=_CHAT_EMBED_IMAGES, models=("glm-4.6", "glm-4.5", "glm-4.5-air", "glm-4.5-flash")),
    # International endpoint; mainland accounts use https://api.minimaxi.com/v1.
    ProviderSpec("minimax", "MiniMax", "https://api.minimax.io/v1", aliases=("mmx",),
                 models=("MiniMax-M2", "MiniMax-M1", "MiniMax-Text-01")),
    # Model Studio compatible mode (Beijing); the international region is dashscope-intl.aliyuncs.com.
    ProviderSpec("dashscope", "Alibaba Cloud Model Studio (Qwen API)",
                 "https://dashscope.aliyuncs.com/compatible-mode/v1", aliases=("bailian",), capabilities=_CHAT_EMBED,
                 models=("qwen-plus", "qwen-max", "qwen-turbo", "qwen3-coder-plus")),
    # Qianfan inference API v2 (keys look like bce-v3/ALTAK-…); an optional `appid` header picks the app.
    ProviderSpec("baidu", "Baidu Qianfan", "https://qianfan.baidubce.com/v2", aliases=("qianfan",),
                 capabilities=_CHAT_EMBED, models=("ernie-4.5-turbo-128k", "ernie-x1-turbo-32k", "ernie-4.0-turbo-8k")),
    # Ark in cn-beijing, the region the documentation lists; a model may also be an endpoint id (ep-…).
    ProviderSpec("volcengine", "Volcengine Ark (Doubao)", "https://ark.cn-beijing.volces.com/api/v3",
                 aliases=("ark", "doubao"), capabilities=_CHAT_EMBED_IMAGES,
                 models=("doubao-seed-1-6-250615", "doubao-1-5-pro-32k-250115", "deepseek-v3-250324")),
    ProviderSpec("novita", "Novita AI", "https://api.novita.ai/openai/v1", aliases=("nov",),
                 capabilities=_CHAT_EMBED,
                 models=("deepseek/deepseek-v3-0324", "meta-llama/llama-3.3-70b-instruct",
                         "qwen/qwen3-coder-480b-a35b-instruct")),
    ProviderSpec("deepinfra", "DeepInfra", "https://api.deepinfra.com/v1/openai", aliases=("di",),
                 capabilities=_ALL,
                 models=("meta-llama/Llama-3.3-70B-Instruct-Turbo", "deepseek-ai/DeepSeek-V3",
                         "Qwen/Qwen3-235B-A22B")),
    # Lambda announced the end of its Inference API (September 2025); kept for existing keys and mirrors.
    ProviderSpec("lambda", "Lambda Inference", "https://api.lambda.ai/v1", aliases=("lam",),
                 models=("llama3.3-70b-instruct-fp8", "deepseek-v3-0324", "qwen3-32b-fp8")),
    ProviderSpec("sambanova", "SambaNova Cloud", "https://api.sambanova.ai/v1", aliases=("snova",),
                 capabilities=frozenset({"chat", "embeddings", "audio"}),
                 models=("Meta-Llama-3.3-70B-Instruct", "DeepSeek-V3-0324", "DeepSeek-R1")),
    ProviderSpec("upstage", "Upstage (Solar)", "https://api.upstage.ai/v1", aliases=("solar",),
                 capabilities=_CHAT_EMBED, models=("solar-pro2", "solar-pro", "solar-mini")),
    ProviderSpec("ai21", "AI21 Labs (Jamba)", "https://api.ai21.com/studio/v1", aliases=("jamba",),
                 models=("jamba-large", "jamba-mini")),
    ProviderSpec("featherless", "Featherless AI", "https://api.featherless.ai/v1", aliases=("fl",),
                 models=("deepseek-ai/DeepSeek-V3-0324", "Qwen/Qwen2.5-72B-Instruct",
                         "meta-llama/Meta-Llama-3.1-8B-Instruct")),
    ProviderSpec("chutes", "Chutes", "https://llm.chutes.ai/v1", aliases=("chu",),
                 models=("deepseek-ai/DeepSeek-V3-0324", "Qwen/Qwen3-235B-A22B", "zai-org/GLM-4.5-Air")),
    # Authenticated with a GitHub token (models: read). The model catalog lives outside the
    # inference path (https://models.github.ai/catalog/models), so a model probe needs a baseUrl of its own.
    ProviderSpec("github-models", "GitHub Models", "https://models.github.ai/inference", aliases=("ghm",),
                 capabilities=_CHAT_EMBED,
                 models=("openai/gpt-4.1", "openai/gpt-4o-mini", "deepseek/DeepSeek-V3-0324",
                         "meta/Llama-3.3-70B-Instruct")),
    # providerData {"accountId"} fills the URL (or the connection gives the whole baseUrl).
    ProviderSpec("cloudflare-workers-ai", "Cloudflare Workers AI",
                 "https://api.cloudflare.com/client/v4/accounts/{accountId}/ai/v1", aliases=("cf", "workers-ai"),
                 capabilities=_CHAT_EMBED,
                 models=("@cf/meta/llama-3.3-70b-instruct-fp8-fast", "@cf/meta/llama-3.1-8b-instruct",
                         "@cf/qwen/qwen2.5-coder-32b-instruct")),
    # --- audio-only (their own transcription APIs; no chat codec) -------------------------------------
    ProviderSpec("deepgram", "Deepgram", "https://api.deepgram.com/v1", dialect="deepgram", aliases=("dg",),
                 auth="token", chat_path="/listen", capabilities=_AUDIO, models=("nova-3", "nova-2", "base")),
    ProviderSpec("assemblyai", "AssemblyAI", "https://api.assemblyai.com/v2", dialect="assemblyai",
                 aliases=("aai",), auth="raw", chat_path="/transcript", models_path="",
                 capabilities=_AUDIO, models=("universal", "slam-1", "best", "nano")),
    # --- local servers (plain http, no key unless the server was started with one) --------------------
    ProviderSpec("ollama", "Ollama (local)", "http://localhost:11434", dialect="ollama", auth="none", local=True,
                 chat_path="/api/chat", models_path="/api/tags", capabilities=_CHAT_EMBED,
                 models=("llama3.2", "qwen2.5-coder", "gpt-oss:20b")),
    ProviderSpec("lm-studio", "LM Studio (local)", "http://localhost:1234/v1", aliases=("lms",), local=True,
                 capabilities=_CHAT_EMBED, models=("qwen/qwen3-4b", "openai/gpt-oss-20b")),
    ProviderSpec("vllm", "vLLM (local)", "http://localhost:8000/v1", local=True, capabilities=_CHAT_EMBED,
                 models=("Qwen/Qwen2.5-7B-Instruct",)),
    ProviderSpec("llama-cpp", "llama.cpp server (local)", "http://localhost:8080/v1", aliases=("llamacpp",),
                 local=True, capabilities=_CHAT_EMBED, models=("ggml-org/gpt-oss-20b-GGUF",)),
    # --- subscriptions (OAuth; the executor named here adapts each call) -----------------------------
    ProviderSpec("claude-code", "Claude Code (subscription)", "https://api.anthropic.com/v1", dialect="anthropic",
                 aliases=("cc",), auth="oauth", executor="claude-code", chat_path="/messages",
                 headers=_ANTHROPIC_VERSION, models=("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")),
    ProviderSpec("codex", "OpenAI Codex (ChatGPT subscription)", "https://chatgpt.com/backend-api/codex",
                 dialect="responses", aliases=("cx",), auth="oauth", executor="codex", chat_path="/responses",
                 models=("gpt-5-codex", "gpt-5", "codex-mini-latest")),
    ProviderSpec("github-copilot", "GitHub Copilot (subscription)", "https://api.githubcopilot.com",
                 aliases=("gh", "copilot"), auth="oauth", executor="github-copilot",
                 models=("gpt-4.1", "gpt-5-mini", "claude-sonnet-4", "gemini-2.5-pro")),
    # Code Assist: the model travels in the body and the method follows the version
    # ({base}:generateContent, :streamGenerateContent?alt=sse).
    ProviderSpec("gemini-cli", "Gemini CLI (Google account)", "https://cloudcode-pa.googleapis.com/v1internal",
                 dialect="gemini", aliases=("gc",), auth="oauth", executor="gemini-cli",
                 chat_path=":generateContent", models_path="",
                 models=("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")),
    # Best-known default: the daily sandbox host of the Code Assist family that the Antigravity IDE
    # calls first (autopush-cloudcode-pa.sandbox… and cloudcode-pa.googleapis.com are its fallbacks).
    ProviderSpec("antigravity", "Antigravity (Google account)",
                 "https://daily-cloudcode-pa.sandbox.googleapis.com/v1internal", dialect="gemini", aliases=("ag",),
                 auth="oauth", executor="antigravity", chat_path=":generateContent", models_path="",
                 models=("gemini-3-pro-high", "gemini-2.5-flash", "claude-sonnet-4-5")),
    # Best-known default; the token answer may name another resource URL, which the executor prefers.
    ProviderSpec("qwen", "Qwen Code (qwen.ai account)", "https://portal.qwen.ai/v1", aliases=("qw",),
                 auth="oauth", executor="qwen", models=("qwen3-coder-plus", "qwen3-coder-flash")),
    ProviderSpec("iflow", "iFlow (subscription)", "https://apis.iflow.cn/v1", aliases=("if",),
                 auth="oauth", executor="iflow", models=("qwen3-coder-plus", "kimi-k2", "glm-4.6", "deepseek-v3.2")),
    # Kiro speaks AWS CodeWhisperer's generateAssistantResponse (a conversationState body, an AWS
    # event-stream answer), which no client dialect matches; its models are Claude, so the pipeline
    # encodes Anthropic Messages and the executor converts both ways. Host: us-east-1, best-known default.
    ProviderSpec("kiro", "Kiro (AWS)", "https://codewhisperer.us-east-1.amazonaws.com", dialect="anthropic",
                 aliases=("kr",), auth="oauth", executor="kiro", chat_path="/generateAssistantResponse",
                 models_path="", models=("claude-sonnet-4-5", "claude-sonnet-4", "claude-haiku-4-5")),
)
