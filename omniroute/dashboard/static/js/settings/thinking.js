// Thinking budget (GET/PUT /api/settings/thinking-budget): what happens to requests that ask a model
// to reason. The token budget is asked for only by the modes that use it.
import { get, put } from "../api.js";
import { form, h, section, toast } from "../ui.js";
import { intro, numberField, selectField, value } from "./common.js";

const MODES = [
  ["passthrough", "passthrough — as the client asked (default)"],
  ["off", "off — strip every request to reason"],
  ["custom", "custom — force a fixed budget"],
  ["adaptive", "adaptive — size the budget to the prompt"],
];
const HINTS = {
  passthrough: "Requests reach the upstream as the client wrote them.",
  off: "Reasoning parameters are removed; models answer without thinking.",
  custom: "Every request that asks for reasoning gets exactly this many thinking tokens.",
  adaptive: "1024 + half the prompt's tokens, capped by the client's max_tokens and by the budget below when it is set.",
};

export async function render(container) {
  const current = await get("/api/settings/thinking-budget");
  const mode = selectField("Mode", "mode", MODES, current.mode);
  const budget = numberField("Budget", "budgetTokens", current.budgetTokens, null, { unit: "tokens" });
  const budgetInput = budget.querySelector("input");
  const hint = h("p", { id: "thinking-hint", class: "muted" });
  const modeSelect = mode.querySelector("select");

  const sync = () => {
    const m = modeSelect.value;
    const uses = m === "custom" || m === "adaptive";
    budget.style.display = uses ? "" : "none";
    // Custom needs a budget (the API says so when it is missing); adaptive may leave it empty.
    budgetInput.required = false;
    budgetInput.placeholder = m === "adaptive" ? "no ceiling" : "";
    hint.textContent = HINTS[m] || "";
  };
  modeSelect.addEventListener("change", sync);
  sync();

  const el = form([mode, hint, budget], async (f) => {
    const m = value(f, "mode");
    const raw = budgetInput.value.trim();
    const body = { mode: m };
    if (m === "custom" || m === "adaptive") body.budgetTokens = raw === "" ? null : Number(raw);
    const answer = await put("/api/settings/thinking-budget", body);
    modeSelect.value = answer.mode;
    budgetInput.value = answer.budgetTokens ?? "";
    sync();
    toast("Thinking budget saved");
  });
  el.id = "thinking-form";

  container.append(
    intro("Acts only on requests that ask for reasoning, in every dialect; it never turns reasoning on by itself."),
    section("Thinking budget", el),
  );
}
