// Resilience (GET/PUT /api/resilience, POST /api/resilience/reset): the circuit-breaker and cooldown
// profile of each kind of account, the per-model lockout, the stream first-byte timeout, and a reset
// of every breaker, cooldown and lockout.
import { get, post, put } from "../api.js";
import { busy, confirmAction, form, h, section, toast } from "../ui.js";
import { checkField, fill, intro, numberField, value } from "./common.js";

const PROFILES = [
  ["oauth", "Subscription (OAuth) accounts"],
  ["apikey", "API-key accounts"],
  ["local", "Local servers"],
];
const PROFILE_FIELDS = [
  ["failureThreshold", "Failures to open the breaker", null, "within the window below"],
  ["windowMs", "Failure window", "ms"],
  ["resetTimeoutMs", "Open for", "ms", "then one probe request is let through"],
  ["cooldownBaseMs", "First cooldown", "ms", "doubles on each failure in a row"],
  ["cooldownMaxMs", "Longest cooldown", "ms"],
];

export async function render(container) {
  const current = await get("/api/resilience");

  const profileSets = PROFILES.map(([name, title]) => h("fieldset", { class: "set-group", dataset: { profile: name } },
    h("legend", {}, title),
    PROFILE_FIELDS.map(([key, label, unit, hint]) =>
      numberField(label, `profiles.${name}.${key}`, current.profiles[name][key], hint, { unit })),
  ));

  const el = form([
    h("div", { class: "grid2" }, profileSets),
    h("fieldset", { class: "set-group" }, h("legend", {}, "Model lockout"),
      checkField("Lock a model out on an account after a 404 or quota error", "lockout.enabled",
        current.lockout.enabled),
      h("div", { class: "grid2" },
        numberField("First lockout", "lockout.baseMs", current.lockout.baseMs, null, { unit: "ms" }),
        numberField("Longest lockout", "lockout.maxMs", current.lockout.maxMs, null, { unit: "ms" }))),
    h("div", { class: "grid2" },
      numberField("First-byte timeout", "firstByteTimeoutMs", current.firstByteTimeoutMs,
        "A stream with no content by then falls back to the next account or target (100 – 3600000).",
        { unit: "ms" }),
      numberField("Failure dedupe window", "failureDedupeMs", current.failureDedupeMs,
        "Failures of one account within this window count once.", { unit: "ms" })),
  ], async (f) => {
    const profiles = {};
    for (const [name] of PROFILES) {
      profiles[name] = Object.fromEntries(PROFILE_FIELDS.map(([key]) => [key, value(f, `profiles.${name}.${key}`)]));
    }
    const answer = await put("/api/resilience", {
      profiles,
      lockout: { enabled: value(f, "lockout.enabled"), baseMs: value(f, "lockout.baseMs"),
        maxMs: value(f, "lockout.maxMs") },
      firstByteTimeoutMs: value(f, "firstByteTimeoutMs"),
      failureDedupeMs: value(f, "failureDedupeMs"),
    });
    fill(f, answer);
    toast("Resilience settings saved");
  });
  el.id = "resilience-form";

  const resetButton = h("button", { type: "button", class: "btn btn-danger", id: "resilience-reset" },
    "Reset breakers, cooldowns and lockouts");
  resetButton.addEventListener("click", async () => {
    if (!await confirmAction("Close every circuit breaker and clear every cooldown and model lockout now?")) return;
    await busy(resetButton, async () => {
      await post("/api/resilience/reset", {});
      toast("Every breaker is closed; cooldowns and lockouts are cleared");
    });
  });

  container.append(
    intro("A failing account cools down; a provider whose accounts keep failing opens its breaker and "
      + "fails fast until a probe succeeds. Times are in milliseconds."),
    section("Breakers and cooldowns", el),
    section("Reset",
      h("p", { class: "muted" }, "Use after fixing an upstream so traffic goes back to it at once."),
      h("div", { class: "row" }, resetButton)),
  );
}
