"""Each tool's configuration: merge "use this gateway" into the user's file, and tell whether it already does.

Every ``apply_*`` edits the parsed document in place and keeps everything it does not own; a document
whose shape it cannot merge into raises ConfigError (nothing is written then).
"""

from __future__ import annotations

from dataclasses import dataclass

from omniroute.clitools.files import ConfigError, same_gateway

PROVIDER_ID = "omniroute"
PROVIDER_NAME = "OmniRoute"


@dataclass(frozen=True, slots=True)
class Target:
    origin: str  # scheme://host:port of the gateway, no trailing slash
    api_key: str
    model: str | None

    @property
    def openai_base(self) -> str:
        return self.origin + "/v1"


def _object(parent: dict, key: str, where: str) -> dict:
    """``parent[key]`` as an object, created when absent; ConfigError when it is something else."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    if not isinstance(value, dict):
        raise ConfigError(f"'{where}' in the existing file is a {type(value).__name__}, expected an object; "
                          "nothing was written")
    return value


def _list(parent: dict, key: str, where: str) -> list:
    value = parent.get(key)
    if value is None:
        value = parent[key] = []
    if not isinstance(value, list):
        raise ConfigError(f"'{where}' in the existing file is a {type(value).__name__}, expected a list; "
                          "nothing was written")
    return value


# --- Claude Code: ~/.claude/settings.json, environment for the CLI under "env" ---

def apply_claude(doc: dict, t: Target) -> None:
    env = _object(doc, "env", "env")
    env["ANTHROPIC_BASE_URL"] = t.origin  # the SDK adds /v1/messages itself
    env["ANTHROPIC_AUTH_TOKEN"] = t.api_key  # sent as a Bearer token, which the gateway prefers
    if t.model:
        env["ANTHROPIC_MODEL"] = t.model


def claude_points_at(doc: dict, gateway: str) -> bool:
    env = doc.get("env")
    return isinstance(env, dict) and same_gateway(env.get("ANTHROPIC_BASE_URL"), gateway)


# --- OpenAI Codex CLI: ~/.codex/config.toml, a [model_providers.<id>] table selected by model_provider ---

def apply_codex(doc, t: Target) -> None:
    import tomlkit  # only when a TOML config is edited: kept off the server's start-up
    from tomlkit.items import InlineTable, Table

    providers = doc.get("model_providers")
    if providers is None:
        providers = tomlkit.table(is_super_table=True)
        doc["model_providers"] = providers
    if not isinstance(providers, (Table, InlineTable, dict)):
        raise ConfigError("'model_providers' in the existing file is not a table; nothing was written")
    values = {"name": PROVIDER_NAME, "base_url": t.openai_base, "wire_api": "responses",
              "experimental_bearer_token": t.api_key}  # the key itself: no environment variable needed
    entry = providers.get(PROVIDER_ID)
    if entry is None:
        if isinstance(providers, InlineTable):
            providers[PROVIDER_ID] = values
        else:
            entry = tomlkit.table()
            for key, value in values.items():
                entry[key] = value
            entry.add(tomlkit.nl())
            providers[PROVIDER_ID] = entry
    elif isinstance(entry, (Table, InlineTable, dict)):
        for key, value in values.items():
            entry[key] = value
        if "env_key" in entry:
            del entry["env_key"]  # it would name a variable the user never set
    else:
        raise ConfigError(f"'model_providers.{PROVIDER_ID}' in the existing file is not a table; "
                          "nothing was written")
    doc["model_provider"] = PROVIDER_ID
    if t.model:
        doc["model"] = t.model


def codex_points_at(doc, gateway: str) -> bool:
    providers = doc.get("model_providers")
    if not isinstance(providers, dict):
        return False
    entry = providers.get(doc.get("model_provider") or "")
    return isinstance(entry, dict) and same_gateway(entry.get("base_url"), gateway)


# --- Factory Droid: ~/.factory/config.json, "custom_models" entries ---

def apply_droid(doc: dict, t: Target) -> None:
    models = _list(doc, "custom_models", "custom_models")
    entry = {"model_display_name": f"{t.model} [{PROVIDER_NAME}]", "model": t.model,
             "base_url": t.openai_base, "api_key": t.api_key, "provider": "openai"}
    for i, old in enumerate(models):
        if isinstance(old, dict) and old.get("model") == t.model and same_gateway(old.get("base_url"), t.origin):
            models[i] = {**old, **entry}
            break
    else:
        models.append(entry)
    for old in models:  # one key for every model it lists through this gateway
        if isinstance(old, dict) and same_gateway(old.get("base_url"), t.origin):
            old["api_key"] = t.api_key


def droid_points_at(doc: dict, gateway: str) -> bool:
    models = doc.get("custom_models")
    return isinstance(models, list) and any(
        isinstance(m, dict) and same_gateway(m.get("base_url"), gateway) for m in models)


# --- OpenClaw: ~/.openclaw/openclaw.json, a "models.providers" entry and the default agent model ---

def apply_openclaw(doc: dict, t: Target) -> None:
    models = _object(doc, "models", "models")
    models.setdefault("mode", "merge")  # keep the built-in providers next to this one
    providers = _object(models, "providers", "models.providers")
    entry = _object(providers, PROVIDER_ID, f"models.providers.{PROVIDER_ID}")
    entry.update({"baseUrl": t.openai_base, "apiKey": t.api_key, "api": "openai-completions"})
    listed = _list(entry, "models", f"models.providers.{PROVIDER_ID}.models")
    if not any(isinstance(m, dict) and m.get("id") == t.model for m in listed):
        listed.append({"id": t.model, "name": t.model})
    defaults = _object(_object(doc, "agents", "agents"), "defaults", "agents.defaults")
    ref = f"{PROVIDER_ID}/{t.model}"
    if isinstance(defaults.get("model"), str):
        defaults["model"] = ref
    else:
        _object(defaults, "model", "agents.defaults.model")["primary"] = ref


def openclaw_points_at(doc: dict, gateway: str) -> bool:
    providers = (doc.get("models") or {}).get("providers") if isinstance(doc.get("models"), dict) else None
    return isinstance(providers, dict) and any(
        isinstance(p, dict) and same_gateway(p.get("baseUrl"), gateway) for p in providers.values())


# --- opencode: ~/.config/opencode/opencode.json, a "provider" entry on the OpenAI-compatible SDK ---

def apply_opencode(doc: dict, t: Target) -> None:
    doc.setdefault("$schema", "https://opencode.ai/config.json")
    providers = _object(doc, "provider", "provider")
    entry = _object(providers, PROVIDER_ID, f"provider.{PROVIDER_ID}")
    entry.setdefault("npm", "@ai-sdk/openai-compatible")
    entry.setdefault("name", PROVIDER_NAME)
    options = _object(entry, "options", f"provider.{PROVIDER_ID}.options")
    options.update({"baseURL": t.openai_base, "apiKey": t.api_key})
    listed = _object(entry, "models", f"provider.{PROVIDER_ID}.models")
    listed.setdefault(t.model, {"name": t.model})
    doc["model"] = f"{PROVIDER_ID}/{t.model}"


def opencode_points_at(doc: dict, gateway: str) -> bool:
    providers = doc.get("provider")
    return isinstance(providers, dict) and any(
        isinstance(p, dict) and isinstance(p.get("options"), dict)
        and same_gateway(p["options"].get("baseURL"), gateway) for p in providers.values())
