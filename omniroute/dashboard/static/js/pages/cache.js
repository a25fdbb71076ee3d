// Cache: the response cache's figures (memory and table tiers, hit rate, semantic layer, idempotency
// keys) and clearing it, all of it or one model's entries.
import { del, get } from "../api.js";
import { badge, busy, clear, confirmAction, errorBox, field, form, h, input, num, section, stat, toast } from "../ui.js";

function bytes(n) {
  const v = Number(n || 0);
  if (v < 1024) return `${v} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB`;
}

export async function render(root) {
  const stats = h("div", { id: "cache-stats" });

  const load = async () => {
    let data;
    try {
      data = await get("/api/cache");
    } catch (err) {
      clear(stats, errorBox(err.message));
      return;
    }
    const c = data.semanticCache || {};
    const idem = data.idempotency || {};
    clear(stats,
      h("div", { class: "stats" },
        stat("Mode", badge(c.mode || "—", c.mode === "off" ? "warn" : "ok"), "stat-mode"),
        stat(`Memory entries (max ${num(c.memoryMaxSize)})`, num(c.memorySize), "stat-memory-entries"),
        stat(`Memory size (max ${bytes(c.memoryMaxBytes)})`, bytes(c.memoryBytes), "stat-memory-bytes"),
        stat("Table entries", num(c.dbSize), "stat-table-entries"),
        stat(`Hit rate (${num(c.hits)} hits / ${num(c.misses)} misses)`, `${((c.hitRate || 0) * 100).toFixed(1)}%`, "stat-hit-rate"),
        stat("Semantic layer", c.semantic?.enabled ? `${num(c.semantic.entries)} entries` : "off", "stat-semantic"),
        stat(`Idempotency keys (window ${num(idem.windowMs)} ms)`, num(idem.activeKeys), "stat-idempotency")),
      h("p", { class: "muted" }, "Hits and misses count since the gateway started. The mode, sizes and time to live are set on the ",
        h("a", { href: "/dashboard/settings" }, "Settings"), " page."));
  };

  const clearAll = h("button", { type: "button", class: "btn btn-danger", id: "clear-cache" }, "Clear the whole cache");
  clearAll.addEventListener("click", async () => {
    if (!(await confirmAction("Drop every cached answer, in memory and in the table?"))) return;
    await busy(clearAll, async () => {
      const out = await del("/api/cache");
      toast(`Cache cleared (${num(out.memoryEntries)} memory entries dropped).`);
      await load();
    });
  });

  const modelInput = input({ name: "model", required: true, maxlength: 512, placeholder: "openai/gpt-4o-mini", autocomplete: "off" });
  const modelForm = form([field("Model", modelInput, "As clients name it, e.g. openai/gpt-4o-mini")], async () => {
    const model = modelInput.value.trim();
    if (!model) throw new Error("Model: enter a model name.");
    if (!(await confirmAction(`Drop every cached answer of ${model}?`))) return;
    const out = await del(`/api/cache?model=${encodeURIComponent(model)}`);
    toast(`Cleared ${model} (${num(out.memoryEntries)} memory entries dropped).`);
    modelInput.value = "";
    await load();
  }, "Clear this model");
  modelForm.id = "clear-model";

  const refresh = h("button", { type: "button", class: "btn", id: "cache-refresh" }, "Refresh");
  refresh.addEventListener("click", () => busy(refresh, load));

  clear(root,
    h("div", { class: "spread" }, h("h1", {}, "Cache"), refresh),
    stats,
    h("div", { class: "grid2" },
      section("Clear everything",
        h("p", { class: "muted" }, "Every tier: memory, the table and the semantic layer. Requests then go upstream until answers are cached again."),
        h("div", { class: "actions" }, clearAll)),
      section("Clear one model", modelForm)));
  await load();
}
