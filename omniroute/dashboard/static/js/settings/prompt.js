// System prompt (GET/PUT /api/settings/system-prompt): a text added to the system instruction of
// every chat request, before or after the client's own.
import { get, put } from "../api.js";
import { field, form, h, section, toast } from "../ui.js";
import { checkField, intro, selectField, value } from "./common.js";

export async function render(container) {
  const current = await get("/api/settings/system-prompt");
  const area = h("textarea", { name: "prompt", rows: 8, maxlength: 100000 });
  area.value = current.prompt || "";
  const count = h("small", { id: "prompt-count", class: "muted" });
  const recount = () => { count.textContent = `${area.value.length} characters`; };
  area.addEventListener("input", recount);
  recount();

  const el = form([
    checkField("Add this prompt to every chat request", "enabled", current.enabled),
    field("Prompt", area),
    count,
    selectField("Position", "position", [
      ["prefix", "prefix — before the client's system instruction"],
      ["suffix", "suffix — after it"],
    ], current.position),
  ], async (f) => {
    const answer = await put("/api/settings/system-prompt", {
      enabled: value(f, "enabled"), prompt: value(f, "prompt"), position: value(f, "position"),
    });
    f.elements.namedItem("enabled").checked = answer.enabled;
    area.value = answer.prompt;
    f.elements.namedItem("position").value = answer.position;
    recount();
    toast(answer.enabled ? "System prompt saved and in use" : "System prompt saved (not in use)");
  });
  el.id = "prompt-form";

  container.append(
    intro("Applies to chat requests of every dialect (OpenAI, Anthropic, Gemini, Ollama, Responses)."),
    section("System prompt", el),
  );
}
