// Playground: send a chat to any model or combo in any client dialect and watch the answer stream in.
// It calls the client API itself (/v1/…, /v1beta/…, /api/chat) exactly as an SDK would; an API key typed
// here lives only in this page's memory.
import { csrf, get } from "../api.js";
import { checkbox, clear, field, h, input, num, section, select } from "../ui.js";
import {
  DIALECTS, INFO_HEADERS, buildRequest, errorMessage, mergeUsage, readMessages, streamPiece, wholeAnswer,
} from "../playground/stream.js";

const MAX_MESSAGES = 20; // the conversation keeps the last 10 exchanges

async function modelChoices() {
  const [catalog, combos] = await Promise.allSettled([get("/api/models/catalog"), get("/api/combos")]);
  const choices = [];
  if (combos.status === "fulfilled") {
    for (const c of combos.value.combos || []) choices.push([c.name, `combo · ${c.strategy || ""}`.trim()]);
  }
  let configured = 0;
  if (catalog.status === "fulfilled") {
    const providers = catalog.value.providers || [];
    configured = providers.filter((p) => p.configured).length;
    // Only providers with an account can answer; with none yet, list the whole catalog.
    for (const p of providers.filter((x) => x.configured || !configured)) {
      for (const m of p.models?.chat || []) choices.push([`${p.id}/${m.id}`, p.name || p.id]);
    }
  }
  return { choices, configured, comboCount: combos.status === "fulfilled" ? (combos.value.combos || []).length : 0 };
}

function numberOrNull(el) {
  const v = el.value.trim();
  return v === "" ? null : Number(v);
}

export async function render(root) {
  const { choices, configured } = await modelChoices();
  const firstModel = choices.find(([, label]) => !label.startsWith("combo"))?.[0] || "";

  // ---- inputs -----------------------------------------------------------------------------------
  const list = h("datalist", { id: "pg-models" }, choices.map(([value, label]) => h("option", { value }, label)));
  const model = input({ id: "pg-model", list: "pg-models", value: firstModel, placeholder: "provider/model or a combo",
    autocomplete: "off", spellcheck: "false", required: true });
  const dialect = select(DIALECTS, { id: "pg-dialect" });
  const key = input({ id: "pg-key", type: "password", autocomplete: "off", spellcheck: "false",
    placeholder: "if keys are required" });
  const system = h("textarea", { id: "pg-system", rows: "2", placeholder: "optional" });
  const message = h("textarea", { id: "pg-message", rows: "4", required: true,
    placeholder: "Say something… (Ctrl+Enter or ⌘+Enter sends)" });
  const temperature = input({ id: "pg-temperature", type: "number", min: "0", max: "2", step: "0.1",
    placeholder: "model default", inputmode: "decimal" });
  const maxTokens = input({ id: "pg-max-tokens", type: "number", min: "1", step: "1", placeholder: "model default",
    inputmode: "numeric" });
  const streamBox = checkbox("Stream the answer", true, { id: "pg-stream" });

  const sendBtn = h("button", { type: "submit", class: "btn btn-primary", id: "pg-send" }, "Send");
  const stopBtn = h("button", { type: "button", class: "btn btn-danger", id: "pg-stop", disabled: true }, "Stop");
  const clearBtn = h("button", { type: "button", class: "btn", id: "pg-clear" }, "Clear conversation");

  // ---- outputs ----------------------------------------------------------------------------------
  const transcript = h("div", { id: "pg-transcript", class: "pg-transcript" });
  const status = h("p", { id: "pg-status", class: "muted", role: "status", "aria-live": "polite" });
  const errorEl = h("div", { id: "pg-error", class: "form-error", role: "alert" });
  const info = h("dl", { id: "pg-info", class: "pg-info" });
  const requestShown = h("pre", { id: "pg-request", tabindex: "0" });
  const emptyNote = () => h("p", { class: "muted pg-empty" }, "No messages yet. The conversation is sent again with each new message.");
  transcript.append(emptyNote());

  let turns = []; // [{role, content}] sent again with each message
  let controller = null;

  const setRunning = (running) => {
    sendBtn.disabled = running;
    clearBtn.disabled = running;
    stopBtn.disabled = !running;
    transcript.setAttribute("aria-busy", String(running));
  };

  const bubble = (role, text) => {
    const body = h("div", { class: "pg-text" }, text);
    const el = h("div", { class: `pg-turn pg-${role}`, dataset: { role } },
      h("div", { class: "pg-role" }, role === "user" ? "You" : "Answer"), body);
    transcript.querySelector(".pg-empty")?.remove();
    transcript.append(el);
    return { el, body };
  };

  const showInfo = (headers, usage, timing) => {
    const rows = [];
    for (const [name, label] of INFO_HEADERS) {
      const value = headers?.get(name);
      if (value) rows.push([label, value, name]);
    }
    if (usage) {
      if (usage.input !== undefined || usage.output !== undefined) {
        rows.push(["Tokens in / out", `${num(usage.input)} / ${num(usage.output)}`, "usage"]);
      }
      if (usage.reasoning) rows.push(["Reasoning tokens", num(usage.reasoning), "usage-reasoning"]);
      if (usage.cached) rows.push(["Cached input tokens", num(usage.cached), "usage-cached"]);
    }
    if (timing.first !== undefined) rows.push(["First text after", `${timing.first} ms`, "ttft"]);
    if (timing.total !== undefined) rows.push(["Total time", `${timing.total} ms`, "total"]);
    clear(info, rows.map(([label, value, id]) => h("div", { dataset: { info: id } }, h("dt", {}, label), h("dd", {}, value))));
  };

  const validate = () => {
    if (!model.value.trim()) return [model, "Model: pick a model or a combo"];
    if (!message.value.trim()) return [message, "Message: write something to send"];
    const t = numberOrNull(temperature);
    if (t !== null && (!Number.isFinite(t) || t < 0 || t > 2)) return [temperature, "Temperature: a number from 0 to 2"];
    const m = numberOrNull(maxTokens);
    if (m !== null && (!Number.isInteger(m) || m < 1)) return [maxTokens, "Max tokens: a whole number of at least 1"];
    return null;
  };

  const send = async () => {
    if (controller) return;
    errorEl.textContent = "";
    const bad = validate();
    if (bad) {
      errorEl.textContent = bad[1];
      bad[0].focus();
      return;
    }
    const userText = message.value.trim();
    const chosen = dialect.value;
    const stream = streamBox.box.checked;
    const outgoing = [...turns, { role: "user", content: userText }];
    const { url, body } = buildRequest(chosen, {
      model: model.value.trim(), system: system.value.trim(), turns: outgoing,
      temperature: numberOrNull(temperature), maxTokens: numberOrNull(maxTokens), stream,
    });
    requestShown.textContent = `POST ${url}\n${JSON.stringify(body, null, 2)}`;
    const headers = { "Content-Type": "application/json", Accept: stream ? "text/event-stream, application/x-ndjson, application/json" : "application/json",
      "X-CSRF-Token": csrf() };
    const apiKey = key.value.trim();
    if (apiKey) headers.Authorization = `Bearer ${apiKey}`;

    bubble("user", userText);
    const answer = bubble("assistant", "");
    answer.el.classList.add("pg-live");
    const textNode = document.createTextNode("");
    answer.body.append(textNode);
    let thinking = null;
    let text = "";
    let reasoning = "";
    let usage = null;
    let failure = null;
    let stopped = false;
    let respHeaders = null;
    const started = performance.now();
    const timing = {};

    const apply = (piece) => {
      if (piece.reasoning) {
        if (!thinking) {
          thinking = h("pre", { class: "pg-thinking-text" });
          answer.body.before(h("details", { class: "pg-thinking", open: true }, h("summary", {}, "Thinking"), thinking));
        }
        reasoning += piece.reasoning;
        thinking.textContent = reasoning;
      }
      if (piece.text) {
        if (timing.first === undefined) timing.first = Math.round(performance.now() - started);
        text += piece.text;
        textNode.data = text;
      }
      if (piece.usage) usage = mergeUsage(usage, piece.usage);
      if (piece.error) failure = piece.error;
    };

    controller = new AbortController();
    setRunning(true);
    status.textContent = stream ? "Streaming…" : "Waiting for the answer…";
    clear(info);
    try {
      const resp = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin",
        signal: controller.signal });
      respHeaders = resp.headers;
      showInfo(respHeaders, null, {});
      if (!resp.ok) {
        const msg = errorMessage(await resp.text(), resp.status);
        failure = resp.status === 401
          ? `${msg} — this gateway requires an API key on client routes: paste one in the "API key" field above ` +
            "(create it on the API keys page). It stays in this page only."
          : `${resp.status}: ${msg}`;
      } else if (stream) {
        const ndjson = chosen === "ollama" || (resp.headers.get("content-type") || "").includes("ndjson");
        await readMessages(resp, ndjson, (event, data) => apply(streamPiece(chosen, event, data)));
      } else {
        apply(wholeAnswer(chosen, await resp.json()));
      }
    } catch (err) {
      if (err.name === "AbortError") stopped = true;
      else failure = err.message || String(err);
    } finally {
      controller = null;
      setRunning(false);
      answer.el.classList.remove("pg-live");
    }
    timing.total = Math.round(performance.now() - started);
    showInfo(respHeaders, usage, timing);

    if (failure) {
      errorEl.textContent = failure;
      status.textContent = "Failed.";
      if (!text) answer.el.remove();
      transcript.lastElementChild?.dataset.role === "user" && transcript.lastElementChild.remove();
      if (!transcript.children.length) transcript.append(emptyNote());
      return;
    }
    if (stopped) {
      status.textContent = `Stopped after ${timing.total} ms.`;
      answer.el.append(h("div", { class: "muted pg-note" }, "(stopped)"));
    } else {
      status.textContent = `Done in ${timing.total} ms.`;
    }
    if (!text && !stopped) textNode.data = "(empty answer)";
    if (text) {
      turns = [...outgoing, { role: "assistant", content: text }].slice(-MAX_MESSAGES);
      message.value = "";
    }
    message.focus();
  };

  const formEl = h("form", { class: "form", id: "pg-form", novalidate: true },
    h("div", { class: "grid2" },
      field("Model or combo", model, configured ? "Type to search the configured models and combos."
        : "No provider account yet: add one on the Providers page."),
      field("Dialect", dialect, "The client API the request is sent to.")),
    field("System prompt", system),
    field("Message", message, "Ctrl+Enter (⌘+Enter on a Mac) sends."),
    h("div", { class: "pg-params" },
      field("Temperature", temperature),
      field("Max tokens", maxTokens),
      field("API key", key, "Kept in this page only, never stored.")),
    h("div", { class: "spread" }, streamBox.node, h("div", { class: "actions" }, clearBtn, stopBtn, sendBtn)),
    errorEl);

  formEl.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  const sendOnCtrlEnter = (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send();
    }
  };
  message.addEventListener("keydown", sendOnCtrlEnter);
  system.addEventListener("keydown", sendOnCtrlEnter);
  stopBtn.addEventListener("click", () => controller?.abort());
  clearBtn.addEventListener("click", () => {
    turns = [];
    clear(transcript, emptyNote());
    clear(info);
    errorEl.textContent = "";
    status.textContent = "Conversation cleared.";
    message.focus();
  });
  window.addEventListener("pagehide", () => controller?.abort(), { once: true });

  clear(root,
    h("h1", {}, "Playground"),
    h("div", { class: "pg-layout" },
      section("Request", list, formEl),
      section("Conversation", transcript, status,
        h("h3", {}, "Served by"), info,
        h("details", { class: "pg-request" }, h("summary", {}, "Last request sent"), requestShown))));
}
