// The playground's wire formats: the request of each client dialect, and readers of its answers
// (SSE events, NDJSON lines, a whole JSON body, an error body). No DOM here.

export const DIALECTS = [
  ["openai", "OpenAI Chat — /v1/chat/completions"],
  ["anthropic", "Anthropic Messages — /v1/messages"],
  ["responses", "OpenAI Responses — /v1/responses"],
  ["gemini", "Gemini — /v1beta/models/{model}:streamGenerateContent"],
  ["ollama", "Ollama — /api/chat (NDJSON)"],
];

const DEFAULT_MAX_TOKENS = 1024; // Anthropic requires max_tokens; the others leave it to the model

function geminiPath(model, stream) {
  const name = model.split("/").map(encodeURIComponent).join("/");
  return `/v1beta/models/${name}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`;
}

// turns: [{role: "user"|"assistant", content}], the new user message last.
// Returns {url, body} for the dialect; temperature and maxTokens are numbers or null.
export function buildRequest(dialect, { model, system, turns, temperature, maxTokens, stream }) {
  const hasTemp = typeof temperature === "number";
  const hasMax = typeof maxTokens === "number";
  const chat = turns.map((t) => ({ role: t.role, content: t.content }));
  switch (dialect) {
    case "anthropic": {
      const body = { model, messages: chat, max_tokens: hasMax ? maxTokens : DEFAULT_MAX_TOKENS, stream };
      if (system) body.system = system;
      if (hasTemp) body.temperature = temperature;
      return { url: "/v1/messages", body };
    }
    case "responses": {
      const body = { model, input: chat, stream };
      if (system) body.instructions = system;
      if (hasTemp) body.temperature = temperature;
      if (hasMax) body.max_output_tokens = maxTokens;
      return { url: "/v1/responses", body };
    }
    case "gemini": {
      const body = {
        contents: turns.map((t) => ({ role: t.role === "assistant" ? "model" : "user", parts: [{ text: t.content }] })),
      };
      if (system) body.systemInstruction = { parts: [{ text: system }] };
      const config = {};
      if (hasTemp) config.temperature = temperature;
      if (hasMax) config.maxOutputTokens = maxTokens;
      if (Object.keys(config).length) body.generationConfig = config;
      return { url: geminiPath(model, stream), body };
    }
    case "ollama": {
      const body = { model, messages: system ? [{ role: "system", content: system }, ...chat] : chat, stream };
      const options = {};
      if (hasTemp) options.temperature = temperature;
      if (hasMax) options.num_predict = maxTokens;
      if (Object.keys(options).length) body.options = options;
      return { url: "/api/chat", body };
    }
    default: {
      const body = { model, messages: system ? [{ role: "system", content: system }, ...chat] : chat, stream };
      if (stream) body.stream_options = { include_usage: true };
      if (hasTemp) body.temperature = temperature;
      if (hasMax) body.max_tokens = maxTokens;
      return { url: "/v1/chat/completions", body };
    }
  }
}

// ---- reading a stream ---------------------------------------------------------------------------

// Read resp.body as SSE (or NDJSON when `ndjson`), calling onMessage(eventName, dataText) per message.
// Resolves when the body ends; rejects with an AbortError when the signal behind the fetch aborts.
export async function readMessages(resp, ndjson, onMessage) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data = [];
  const line = (text) => {
    if (ndjson) {
      if (text.trim()) onMessage("", text);
      return;
    }
    if (text === "") { // a blank line ends one SSE message
      if (data.length) onMessage(event, data.join("\n"));
      event = "";
      data = [];
    } else if (text.startsWith(":")) {
      // a comment (keep-alive)
    } else {
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r\n|\n|\r/)) >= 0) {
      if (!done && cut === buffer.length - 1 && buffer[cut] === "\r") break; // its "\n" may come next
      const size = buffer[cut] === "\r" && buffer[cut + 1] === "\n" ? 2 : 1;
      line(buffer.slice(0, cut));
      buffer = buffer.slice(cut + size);
    }
    if (done) break;
  }
  if (buffer) line(buffer);
  if (!ndjson) line("");
}

function usageOf(dialect, u) {
  if (!u || typeof u !== "object") return null;
  switch (dialect) {
    case "anthropic":
      return { input: u.input_tokens, output: u.output_tokens, cached: u.cache_read_input_tokens };
    case "responses":
      return { input: u.input_tokens, output: u.output_tokens, cached: u.input_tokens_details?.cached_tokens,
        reasoning: u.output_tokens_details?.reasoning_tokens };
    case "gemini":
      return { input: u.promptTokenCount, output: u.candidatesTokenCount, reasoning: u.thoughtsTokenCount,
        cached: u.cachedContentTokenCount };
    default:
      return { input: u.prompt_tokens, output: u.completion_tokens, cached: u.prompt_tokens_details?.cached_tokens,
        reasoning: u.completion_tokens_details?.reasoning_tokens };
  }
}

// One stream message → {text?, reasoning?, usage?, error?, done?}.
export function streamPiece(dialect, event, dataText) {
  if (dataText === "[DONE]") return { done: true };
  let data;
  try {
    data = JSON.parse(dataText);
  } catch {
    return {};
  }
  if (!data || typeof data !== "object") return {};
  const out = {};
  switch (dialect) {
    case "anthropic": {
      const type = data.type || event;
      if (type === "error") out.error = data.error?.message || "the stream ended with an error";
      else if (type === "content_block_delta") {
        if (data.delta?.type === "text_delta") out.text = data.delta.text;
        else if (data.delta?.type === "thinking_delta") out.reasoning = data.delta.thinking;
      } else if (type === "message_start") out.usage = usageOf(dialect, data.message?.usage);
      else if (type === "message_delta") out.usage = usageOf(dialect, data.usage);
      else if (type === "message_stop") out.done = true;
      return out;
    }
    case "responses": {
      const type = data.type || event;
      if (type === "response.output_text.delta") out.text = data.delta;
      else if (type === "response.reasoning_summary_text.delta" || type === "response.reasoning_text.delta") {
        out.reasoning = data.delta;
      } else if (type === "response.completed" || type === "response.incomplete") {
        out.usage = usageOf(dialect, data.response?.usage);
        out.done = true;
      } else if (type === "response.failed") {
        out.error = data.response?.error?.message || "the response failed";
      } else if (type === "error") out.error = data.message || data.error?.message || "the stream ended with an error";
      return out;
    }
    case "gemini": {
      if (data.error) {
        out.error = data.error.message || String(data.error);
        return out;
      }
      for (const part of data.candidates?.[0]?.content?.parts || []) {
        if (typeof part.text !== "string" || !part.text) continue;
        if (part.thought) out.reasoning = (out.reasoning || "") + part.text;
        else out.text = (out.text || "") + part.text;
      }
      if (data.usageMetadata) out.usage = usageOf(dialect, data.usageMetadata);
      return out;
    }
    case "ollama": {
      if (data.error) {
        out.error = typeof data.error === "string" ? data.error : data.error.message || "error";
        return out;
      }
      if (data.message?.content) out.text = data.message.content;
      if (data.message?.thinking) out.reasoning = data.message.thinking;
      if (data.done) {
        out.done = true;
        out.usage = { input: data.prompt_eval_count, output: data.eval_count };
      }
      return out;
    }
    default: {
      if (data.error) {
        out.error = data.error.message || String(data.error);
        return out;
      }
      const delta = data.choices?.[0]?.delta || {};
      if (typeof delta.content === "string" && delta.content) out.text = delta.content;
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === "string" && reasoning) out.reasoning = reasoning;
      if (data.usage) out.usage = usageOf(dialect, data.usage);
      return out;
    }
  }
}

// A whole (non-stream) answer → {text, reasoning, usage}.
export function wholeAnswer(dialect, data) {
  let text = "";
  let reasoning = "";
  let usage = null;
  switch (dialect) {
    case "anthropic":
      for (const block of data.content || []) {
        if (block.type === "text") text += block.text || "";
        else if (block.type === "thinking") reasoning += block.thinking || "";
      }
      usage = usageOf(dialect, data.usage);
      break;
    case "responses":
      for (const item of data.output || []) {
        if (item.type === "message") {
          for (const part of item.content || []) if (part.type === "output_text") text += part.text || "";
        } else if (item.type === "reasoning") {
          for (const part of [...(item.summary || []), ...(item.content || [])]) reasoning += part.text || "";
        }
      }
      usage = usageOf(dialect, data.usage);
      break;
    case "gemini":
      for (const part of data.candidates?.[0]?.content?.parts || []) {
        if (typeof part.text !== "string") continue;
        if (part.thought) reasoning += part.text;
        else text += part.text;
      }
      usage = usageOf(dialect, data.usageMetadata);
      break;
    case "ollama":
      text = data.message?.content || "";
      reasoning = data.message?.thinking || "";
      usage = { input: data.prompt_eval_count, output: data.eval_count };
      break;
    default: {
      const message = data.choices?.[0]?.message || {};
      text = typeof message.content === "string" ? message.content : "";
      reasoning = message.reasoning_content || message.reasoning || "";
      usage = usageOf(dialect, data.usage);
    }
  }
  return { text, reasoning, usage };
}

// The message of an error body in any dialect (OpenAI, Anthropic, Gemini: error.message; Ollama: error).
export function errorMessage(bodyText, status) {
  try {
    const data = JSON.parse(bodyText);
    const err = Array.isArray(data) ? data[0]?.error : data.error;
    if (typeof err === "string") return err;
    if (err && typeof err.message === "string") return err.message;
    if (typeof data.message === "string") return data.message;
  } catch {
    // not JSON: the text itself
  }
  return (bodyText || "").trim().slice(0, 500) || `HTTP ${status}`;
}

// Keep the fields a later piece reports (Anthropic gives input tokens first and output tokens last).
export function mergeUsage(into, usage) {
  if (!usage) return into;
  const out = { ...(into || {}) };
  for (const [k, v] of Object.entries(usage)) if (typeof v === "number") out[k] = v;
  return out;
}

export const INFO_HEADERS = [
  ["x-omniroute-provider", "Provider"],
  ["x-omniroute-model", "Model"],
  ["x-omniroute-latency-ms", "Latency (ms)"],
  ["x-omniroute-response-cost", "Cost (USD)"],
  ["x-omniroute-cache", "Cache"],
  ["x-omniroute-fallback-attempts", "Fallback attempts"],
  ["x-omniroute-tokens-in", "Tokens in (header)"],
  ["x-omniroute-tokens-out", "Tokens out (header)"],
];
