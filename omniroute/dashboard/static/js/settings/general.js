// General settings (GET/PUT /api/settings): one form per section, and each Save sends only its own
// section (PUT replaces the sections it names and leaves the others). "backups" has its own tab.
import { get, put } from "../api.js";
import { form, h, section } from "../ui.js";
import { areaField, checkField, fill, intro, lines, numberField, saved, selectField, textField, value } from "./common.js";

const STRATEGIES = [
  ["fill-first", "fill-first — use the first account until it fails"],
  ["round-robin", "round-robin — take turns"],
  ["random", "random"],
  ["least-used", "least-used — the account with the fewest requests"],
  ["p2c", "p2c — the less busy of two picked at random"],
];

// "provider: strategy" lines ↔ the perProvider object.
function perProviderLines(map) {
  return Object.entries(map || {}).map(([provider, strategy]) => `${provider}: ${strategy}`);
}

function parsePerProvider(entries) {
  const out = {};
  for (const line of entries) {
    const [provider, strategy, extra] = line.split(":").map((part) => part.trim());
    if (!provider || !strategy || extra !== undefined) {
      throw new Error(`per-provider strategies: write "provider: strategy" on each line (not "${line}")`);
    }
    out[provider] = strategy;
  }
  return out;
}

function sectionForm(name, title, children, read) {
  const el = form(children, async (f) => {
    const answer = await put("/api/settings", { [name]: read(f) });
    fill(f, name === "accountSelection"
      ? { ...answer[name], perProvider: perProviderLines(answer[name].perProvider) } : answer[name]);
    saved(title);
  }, "Save");
  el.id = `settings-${name}`;
  return el;
}

export async function render(container) {
  const s = await get("/api/settings");
  const acct = s.accountSelection;
  const cache = s.cache;

  const accountForm = sectionForm("accountSelection", "Account selection", [
    selectField("Strategy", "strategy", STRATEGIES, acct.strategy, "How a provider's accounts are chosen."),
    numberField("Sticky uses", "stickyUses", acct.stickyUses,
      "Requests kept on one account before the strategy picks again (1 – 10000)."),
    areaField("Per-provider strategies", "perProvider", perProviderLines(acct.perProvider),
      `One "provider: strategy" a line, e.g. "openai: round-robin"; these override the strategy above.`,
      { rows: 3, placeholder: "openai: round-robin" }),
  ], (f) => ({ strategy: value(f, "strategy"), stickyUses: value(f, "stickyUses"),
    perProvider: parsePerProvider(lines(f, "perProvider")) }));

  const cacheForm = sectionForm("cache", "Response cache", [
    selectField("Mode", "mode", [
      ["deterministic", "deterministic — requests with temperature 0"],
      ["all", "all — every request that can be cached"],
      ["off", "off"],
    ], cache.mode),
    h("div", { class: "grid2" },
      numberField("Time to live", "ttlMs", cache.ttlMs, "1 s to 30 days; 3600000 is one hour.", { unit: "ms" }),
      numberField("Max entries", "maxEntries", cache.maxEntries, "Entries kept in memory (0 – 1000000)."),
      numberField("Max bytes", "maxBytes", cache.maxBytes, "Memory for the whole cache.", { unit: "bytes" }),
      numberField("Max entry bytes", "maxEntryBytes", cache.maxEntryBytes, "Larger answers are not cached.",
        { unit: "bytes" })),
    checkField("Persist entries in the database", "persist", cache.persist,
      "Keeps answers across restarts (the table tier)."),
    h("fieldset", { class: "set-group" }, h("legend", {}, "Semantic cache"),
      checkField("Answer paraphrases of a cached question", "semantic.enabled", cache.semantic.enabled),
      h("div", { class: "grid2" },
        numberField("Similarity threshold", "semantic.threshold", cache.semantic.threshold,
          "Above 0 and at most 1; higher is stricter.", { step: "any" }),
        textField("Embedder", "semantic.embedder", cache.semantic.embedder,
          `"local" (the built-in model) or an embedding model of this gateway.`, { required: true }))),
  ], (f) => ({
    mode: value(f, "mode"), ttlMs: value(f, "ttlMs"), maxEntries: value(f, "maxEntries"),
    maxBytes: value(f, "maxBytes"), maxEntryBytes: value(f, "maxEntryBytes"), persist: value(f, "persist"),
    semantic: { enabled: value(f, "semantic.enabled"), threshold: value(f, "semantic.threshold"),
      embedder: value(f, "semantic.embedder").trim() },
  }));

  const idempotencyForm = sectionForm("idempotency", "Idempotency", [
    numberField("Replay window", "windowMs", s.idempotency.windowMs,
      "How long a finished request's answer is replayed to a request with the same Idempotency-Key (0 – 86400000).",
      { unit: "ms" }),
  ], (f) => ({ windowMs: value(f, "windowMs") }));

  const usageForm = sectionForm("usage", "Usage log", [
    numberField("Keep usage rows for", "retentionDays", s.usage.retentionDays, "0 keeps them for ever.",
      { unit: "days" }),
    checkField("Log request and answer bodies", "detailedLogging", s.usage.detailedLogging,
      "Headers and bodies in the request log, secrets redacted."),
    numberField("Body size kept", "detailMaxBytes", s.usage.detailMaxBytes, "Per body, 1024 or more.",
      { unit: "bytes" }),
  ], (f) => ({ retentionDays: value(f, "retentionDays"), detailedLogging: value(f, "detailedLogging"),
    detailMaxBytes: value(f, "detailMaxBytes") }));

  const metricsForm = sectionForm("metrics", "Metrics", [
    checkField("Open /metrics to every address", "public", s.metrics.public,
      "Off: loopback clients and signed-in admins only."),
  ], (f) => ({ public: value(f, "public") }));

  container.append(
    intro("Each section is saved on its own; the others keep their values."),
    section("Account selection", accountForm),
    section("Response cache", cacheForm),
    h("div", { class: "grid2" },
      section("Idempotency", idempotencyForm),
      section("Metrics", metricsForm)),
    section("Usage log", usageForm),
  );
}
