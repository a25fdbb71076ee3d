// Home: the address to give clients, ready-made snippets for each SDK and coding tool, and live counters.
import { get } from "../api.js";
import { clear, copyButton, h, money, num, section, stat } from "../ui.js";

const REFRESH_MS = 5000;

function snippets(base) {
  const v1 = `${base}/v1`;
  return [
    ["OpenAI SDK (Python)", `from openai import OpenAI

client = OpenAI(base_url="${v1}", api_key="YOUR_OMNIROUTE_KEY")
reply = client.chat.completions.create(
    model="openai/gpt-4o-mini",
    messages=[{"role": "user", "content": "Hello"}],
)
print(reply.choices[0].message.content)`],
    ["Anthropic SDK (Python)", `import anthropic

client = anthropic.Anthropic(base_url="${base}", api_key="YOUR_OMNIROUTE_KEY")
reply = client.messages.create(
    model="anthropic/claude-sonnet-4-5", max_tokens=512,
    messages=[{"role": "user", "content": "Hello"}],
)
print(reply.content[0].text)`],
    ["Google Gen AI SDK (Python)", `from google import genai

client = genai.Client(api_key="YOUR_OMNIROUTE_KEY",
                      http_options={"base_url": "${base}"})
reply = client.models.generate_content(model="gemini/gemini-2.5-flash", contents="Hello")
print(reply.text)`],
    ["Ollama (Python)", `from ollama import Client

client = Client(host="${base}", headers={"Authorization": "Bearer YOUR_OMNIROUTE_KEY"})
reply = client.chat(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}])
print(reply.message.content)`],
    ["Claude Code", `export ANTHROPIC_BASE_URL="${base}"
export ANTHROPIC_AUTH_TOKEN="YOUR_OMNIROUTE_KEY"
claude`],
    ["Codex CLI (~/.codex/config.toml)", `model_provider = "omniroute"
model = "openai/gpt-4o-mini"

[model_providers.omniroute]
name = "OmniRoute"
base_url = "${v1}"
wire_api = "responses"
env_key = "OMNIROUTE_API_KEY"`],
    ["curl", `curl ${v1}/chat/completions \\
  -H "Authorization: Bearer YOUR_OMNIROUTE_KEY" -H "Content-Type: application/json" \\
  -d '{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'`],
  ];
}

export async function render(root) {
  const base = location.origin;
  const counters = h("div", { class: "stats", id: "counters" });
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const code = h("pre", { id: "snippet", tabindex: "0" });
  const list = snippets(base);
  let current = 0;
  const copy = copyButton(() => list[current][1], "Copy snippet");
  const show = (i) => {
    current = i;
    code.textContent = list[i][1];
    [...tabs.children].forEach((b, k) => b.setAttribute("aria-selected", String(k === i)));
  };
  list.forEach(([label], i) => tabs.append(h("button", { type: "button", role: "tab", onclick: () => show(i) }, label)));
  show(0);

  clear(root,
    h("h1", {}, "Home"),
    section("Point your clients here",
      h("div", { class: "row" }, h("code", { id: "base-url", class: "keyshow" }, base), copyButton(base, "Copy base URL")),
      h("div", { class: "row" }, h("code", { class: "keyshow" }, `${base}/v1`), copyButton(`${base}/v1`, "Copy /v1 URL")),
      h("p", { class: "muted" }, "OpenAI-style clients use the /v1 URL; Anthropic, Gemini and Ollama clients the base URL. ",
        "Create a key on the ", h("a", { href: "/dashboard/keys" }, "API keys"), " page.")),
    h("h2", {}, "Today"),
    counters,
    section("Snippets", tabs, code, h("div", { class: "actions" }, copy)));

  const refresh = async () => {
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    const s = await get(`/api/usage/summary?since=${Math.floor(midnight.getTime() / 1000)}`);
    clear(counters,
      stat("Requests", num(s.requests), "stat-requests"),
      stat("Errors", num(s.errors), "stat-errors"),
      stat("Cost today", money(s.cost), "stat-cost"),
      stat("Cache hit rate", `${((s.cacheHitRate || 0) * 100).toFixed(1)}%`, "stat-cache"),
      stat("Tokens in / out", `${num(s.promptTokens)} / ${num(s.completionTokens)}`, "stat-tokens"));
  };
  await refresh();
  const timer = setInterval(() => refresh().catch(() => {}), REFRESH_MS);
  window.addEventListener("pagehide", () => clearInterval(timer), { once: true });
}
