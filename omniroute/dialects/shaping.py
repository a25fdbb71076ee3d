"""The operator's request shaping: a system prompt for every chat request, and a thinking budget.

Both settings act on the canonical request, so they hold for every client dialect and every
upstream dialect alike: the upstream encoders turn the canonical system text and reasoning config
into each vendor's own fields (an Anthropic ``thinking`` budget with ``max_tokens`` raised above
it, a Gemini ``thinkingConfig.thinkingBudget``, an OpenAI ``reasoning_effort`` level, …).

An exchange whose upstream speaks the client's dialect is sent as the client's own body (so fields
the canonical form does not model, such as Anthropic ``cache_control``, survive); that body gets
the same change, written in the client's dialect, at the same time.

Shaping runs before the response cache computes its key, so a changed system prompt or budget
never serves an answer produced under the old one. While both settings are at their defaults the
pipeline holds no ``Shaping`` at all: the chat path pays one ``is None`` check.

Legacy completions (``/v1/completions``) are text completion, not chat: they are left alone.
"""

from __future__ import annotations

from typing import NamedTuple

from omniroute.dialects import translate
from omniroute.schema import ChatRequest, ReasoningConfig, Text
from omniroute.schema.request import budget_to_effort
from omniroute.usage.estimate import request_tokens

MAX_BUDGET = 200_000
MAX_PROMPT_CHARS = 100_000
THINKING_KEY, SYSTEM_KEY = "thinkingBudget", "systemPrompt"

# Adaptive budgets: never below the smallest budget Anthropic accepts, by default never above the
# largest any Gemini model accepts (the operator's ``budgetTokens`` replaces that ceiling).
ADAPTIVE_FLOOR = 1024
ADAPTIVE_CEILING = 32_768


class Thinking(NamedTuple):
    """The live thinking-budget setting (validated by shaping_models.ThinkingBudget, whose docstring
    says what each mode does)."""

    mode: str = "passthrough"
    budgetTokens: int | None = None

    def model_dump(self) -> dict:
        return self._asdict()


class System(NamedTuple):
    """The live system-prompt setting (validated by shaping_models.SystemPrompt)."""

    enabled: bool = False
    prompt: str = ""
    position: str = "prefix"

    def model_dump(self) -> dict:
        return self._asdict()


def adaptive_budget(request: ChatRequest, ceiling: int | None = None) -> int:
    """The thinking budget ``adaptive`` gives a request that asked for reasoning.

    Rule: ``1024 + prompt_tokens // 2`` (prompt tokens estimated from the system text, messages
    and tools), so a long context gets room to think over it; bounded by the client's
    ``max_tokens`` when it set one (a client asking for a short answer gets a short think); then
    clamped to ``[1024, ceiling]``, the ceiling being the setting's ``budgetTokens`` or 32768
    (a ceiling below 1024 is the budget itself).
    """
    top = ceiling or ADAPTIVE_CEILING
    budget = ADAPTIVE_FLOOR + request_tokens(request) // 2
    if request.max_tokens:
        budget = min(budget, max(ADAPTIVE_FLOOR, request.max_tokens))
    return max(min(budget, top), min(ADAPTIVE_FLOOR, top))


class Shaping:
    """The live settings, and the one call the pipeline makes while either is set."""

    def __init__(self) -> None:
        self.thinking = Thinking()
        self.system = System()
        self._pipeline = None

    @property
    def active(self) -> bool:
        return self.thinking.mode != "passthrough" or self.system.enabled

    def attach(self, pipeline) -> None:
        """The pipeline to hand this object to while a setting is on (it holds None otherwise)."""
        self._pipeline = pipeline
        self._publish()

    def configure(self, thinking=None, system=None) -> None:
        """Make validated values live (shaping_models' pydantic models or the NamedTuples here)."""
        if thinking is not None:
            self.thinking = Thinking(**thinking.model_dump())
        if system is not None:
            self.system = System(**system.model_dump())
        self._publish()

    async def load(self, repo) -> list[str]:
        """Both settings from the settings store; returns the stored values ignored as invalid."""
        ignored = []
        thinking, system = Thinking(), System()
        for key in (THINKING_KEY, SYSTEM_KEY):
            stored = await repo.get(key)
            if stored is None:
                continue
            from omniroute.dialects.shaping_models import SystemPrompt, ThinkingBudget  # only when one is set

            model = ThinkingBudget if key == THINKING_KEY else SystemPrompt
            try:
                value = model.model_validate(stored)
            except ValueError:
                ignored.append(key)
                continue
            if key == THINKING_KEY:
                thinking = value
            else:
                system = value
        self.configure(thinking, system)
        return ignored

    def _publish(self) -> None:
        if self._pipeline is not None:
            self._pipeline.shaping = self if self.active else None

    # ---- the request path -------------------------------------------------------------------

    def apply(self, ex, canonical: ChatRequest | None) -> ChatRequest | None:
        """Shape one exchange's canonical request and its client body alike; returns the canonical
        request (decoded here when the pipeline had not needed it yet)."""
        client = ex.client_format
        if client == "completions":
            return canonical
        body = ex.body
        if canonical is None:  # decoded before the body is edited, so nothing is applied twice
            canonical = ex.canonical = translate.decode_client(client, body)
        system = self.system
        if system.enabled:
            suffix = system.position == "suffix"
            if suffix:
                canonical.system.append(Text(system.prompt))
            else:
                canonical.system.insert(0, Text(system.prompt))
            _SYSTEM_WRITERS[client](body, system.prompt, suffix)
        mode = self.thinking.mode
        if mode != "passthrough":
            self._think(mode, canonical, body, client)
        return canonical

    def _think(self, mode: str, canonical: ChatRequest, body: dict, client: str) -> None:
        asked = canonical.reasoning
        if mode == "off":
            # Any request to reason is removed; an explicit "do not reason" is already what off means.
            if asked is None or asked.enabled:
                canonical.reasoning = None
                _strip_reasoning(body, client)
            return
        if asked is None or not asked.enabled:
            return  # only requests that ask for reasoning are reasoning-capable as far as we know
        if mode == "custom":
            budget = self.thinking.budgetTokens
        else:
            budget = adaptive_budget(canonical, self.thinking.budgetTokens)
        canonical.reasoning = ReasoningConfig(effort=budget_to_effort(budget), budget_tokens=budget)
        _write_reasoning(body, client, canonical)


# ---- the same edits, written in the client's own dialect (sent as is to a same-dialect upstream) --


def _chat_messages_system(body: dict, text: str, suffix: bool) -> None:
    """OpenAI chat and Ollama: a system message at the start, or after the leading system messages."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    lead = 0
    while lead < len(messages) and isinstance(messages[lead], dict) and \
            messages[lead].get("role") in ("system", "developer"):
        lead += 1
    role = messages[0]["role"] if lead else "system"  # a client writing "developer" keeps it
    messages.insert(lead if suffix else 0, {"role": role, "content": text})


def _anthropic_system(body: dict, text: str, suffix: bool) -> None:
    system = body.get("system")
    if isinstance(system, list) and system:
        block = {"type": "text", "text": text}
        system.append(block) if suffix else system.insert(0, block)
    elif isinstance(system, str) and system:
        body["system"] = f"{system}\n\n{text}" if suffix else f"{text}\n\n{system}"
    else:
        body["system"] = text


def _gemini_system(body: dict, text: str, suffix: bool) -> None:
    key = "system_instruction" if "system_instruction" in body and "systemInstruction" not in body \
        else "systemInstruction"
    instruction = body.get(key)
    if isinstance(instruction, str):
        instruction = {"parts": [{"text": instruction}] if instruction else []}
    if not isinstance(instruction, dict):
        instruction = {}
    parts = instruction.get("parts")
    parts = list(parts) if isinstance(parts, list) else []
    parts.insert(len(parts) if suffix else 0, {"text": text})
    body[key] = {**instruction, "parts": parts}


def _responses_system(body: dict, text: str, suffix: bool) -> None:
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        body["instructions"] = f"{instructions}\n\n{text}" if suffix else f"{text}\n\n{instructions}"
    else:
        body["instructions"] = text


_SYSTEM_WRITERS = {
    "openai": _chat_messages_system,
    "ollama": _chat_messages_system,
    "anthropic": _anthropic_system,
    "gemini": _gemini_system,
    "responses": _responses_system,
}

# Fields that ask for reasoning, by client dialect (OpenAI-compatible servers know several spellings).
_REASONING_FIELDS = {
    "openai": ("reasoning_effort", "reasoning", "thinking", "enable_thinking"),
    "anthropic": ("thinking",),
    "responses": ("reasoning",),
    "ollama": ("think",),
}


def _strip_reasoning(body: dict, client: str) -> None:
    if client == "gemini":
        config = body.get("generationConfig")
        if isinstance(config, dict):
            config.pop("thinkingConfig", None)
        return
    for name in _REASONING_FIELDS.get(client, ()):
        body.pop(name, None)


def _write_reasoning(body: dict, client: str, canonical: ChatRequest) -> None:
    """The canonical reasoning config (a budget and its effort level) in the client's fields."""
    reasoning = canonical.reasoning
    effort = reasoning.effort
    if client == "openai":
        body["reasoning_effort"] = effort
    elif client == "responses":
        current = body.get("reasoning")
        body["reasoning"] = {**(current if isinstance(current, dict) else {}), "effort": effort}
    elif client == "ollama":
        think = body.get("think")
        body["think"] = (effort if effort in ("low", "medium", "high") else "low") if isinstance(think, str) else True
    elif client == "gemini":
        from omniroute.dialects.gemini.request import MAX_THINKING_BUDGET

        config = body.get("generationConfig")
        config = config if isinstance(config, dict) else {}
        current = config.get("thinkingConfig")
        kept = {k: v for k, v in (current.items() if isinstance(current, dict) else ())
                if k not in ("thinkingBudget", "thinkingLevel")}  # a level and a budget cannot go together
        config["thinkingConfig"] = {"includeThoughts": True, **kept,
                                    "thinkingBudget": min(reasoning.budget_tokens, MAX_THINKING_BUDGET)}
        body["generationConfig"] = config
    elif client == "anthropic":
        # The encoder's own rules: the minimum budget, max_tokens above it, sampling settings
        # Anthropic refuses while thinking, no thinking in a tool loop it cannot continue.
        from omniroute.dialects.anthropic.request import encode_request

        encoded = encode_request(canonical)
        for name in ("thinking", "max_tokens", "temperature", "top_p", "top_k"):
            if name in encoded:
                body[name] = encoded[name]
            else:
                body.pop(name, None)
