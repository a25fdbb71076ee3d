// Combos: named virtual models. The list (filterable, paginated), an editor (targets picked from the
// catalog, ordered with buttons or by dragging, weights for the weighted strategy, retry config), a
// test of every target, and delete. Everything goes through /api/combos.
import { del, get, post, put } from "../api.js";
import { badge, busy, clear, confirmAction, dialog, errorBox, field, form, h, input, select, table, toast, when }
  from "../ui.js";
import { loadCatalog, modelSearch } from "../modelpick.js";

const STRATEGIES = [
  ["priority", "priority — in the listed order"],
  ["weighted", "weighted — by each target's weight"],
  ["round-robin", "round-robin — rotate through the targets"],
  ["random", "random — a random order each request"],
  ["least-used", "least-used — the least used target first"],
  ["cost-optimized", "cost-optimized — the cheapest target first"],
];
const CONFIG = [
  ["maxRetries", "Max retries", "0–10: extra rounds over the targets after all failed", 0, 10],
  ["retryDelayMs", "Retry delay (ms)", "0–60000: wait between rounds", 0, 60000],
  ["targetTimeoutMs", "Target timeout (ms)", "1–600000: give up on one target after this long", 1, 600000],
];

const targetName = (entry) => (typeof entry === "string" ? entry : entry.model);

export async function render(root) {
  const filter = input({ type: "search", id: "combo-filter", placeholder: "filter by name or target" });
  const listBox = h("div", { id: "combo-list" });
  let combos = [];

  const refresh = async () => {
    combos = (await get("/api/combos")).combos || [];
    draw();
  };
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = combos.filter((c) => !q || c.name.toLowerCase().includes(q)
      || c.models.some((m) => targetName(m).toLowerCase().includes(q)));
    clear(listBox, table([
      { label: "Name", value: (c) => h("strong", { class: "mono" }, c.name) },
      { label: "Strategy", value: (c) => c.strategy },
      { label: "Targets", value: (c) => h("ol", { class: "target-summary" }, c.models.map((m) => h("li", { class: "mono" },
        targetName(m), typeof m === "object" && m.weight !== undefined ? h("span", { class: "muted" }, ` ×${m.weight}`) : null))) },
      { label: "Config", value: (c) => configText(c.config) },
      { label: "Updated", value: (c) => when(c.updatedAt) },
      { label: "Actions", value: (c) => h("div", { class: "row" },
        h("button", { type: "button", class: "btn btn-small", "aria-label": `Edit ${c.name}`,
          onclick: (e) => busy(e.currentTarget, () => openEditor(c, combos, refresh)) }, "Edit"),
        h("button", { type: "button", class: "btn btn-small", "aria-label": `Test ${c.name}`,
          onclick: (e) => testCombo(c, e.currentTarget) }, "Test"),
        h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Delete ${c.name}`,
          onclick: (e) => removeCombo(c, e.currentTarget, refresh) }, "Delete")) },
    ], rows, { pageSize: 15, empty: q ? "No combo matches the filter." : "No combos yet: create one." }));
  };
  filter.addEventListener("input", draw);

  const create = h("button", { type: "button", class: "btn btn-primary", id: "new-combo",
    onclick: (e) => busy(e.currentTarget, () => openEditor(null, combos, refresh)) }, "New combo");
  clear(root,
    h("h1", {}, "Combos"),
    h("section", { class: "card" },
      h("p", { class: "muted" }, "A combo is a name clients use like a model. It stands for a list of targets "
        + "(models, aliases or other combos) tried in the order its strategy gives; when one fails before the "
        + "answer starts, the next one is tried."),
      h("div", { class: "spread" }, create, h("div", { class: "combo-filter" }, field("Filter", filter)))),
    h("section", { class: "card" }, h("h2", {}, "Combos"), listBox));
  try {
    await refresh();
  } catch (err) {
    clear(listBox, errorBox(`Could not load the combos: ${err.message}`));
  }
}

function configText(config) {
  const parts = CONFIG.filter(([key]) => config?.[key] !== undefined).map(([key, label]) => `${label}: ${config[key]}`);
  return parts.length ? parts.join(" · ") : h("span", { class: "muted" }, "defaults");
}

// --- editor --------------------------------------------------------------------------------------

async function openEditor(combo, combos, refresh) {
  let catalog = [];
  let catalogError = null;
  try {
    catalog = await loadCatalog();
  } catch (err) {
    catalogError = err.message;
  }
  const targets = (combo?.models || []).map((m) => (typeof m === "string" ? { model: m, weight: 1 }
    : { model: m.model, weight: m.weight ?? 1 }));
  const name = input({ name: "name", id: "combo-name", value: combo?.name || "", autocomplete: "off",
    spellcheck: "false" });
  const strategy = select(STRATEGIES, { name: "strategy", id: "combo-strategy", value: combo?.strategy || "priority" });
  const configInputs = Object.fromEntries(CONFIG.map(([key, , , min, max]) => [key,
    input({ type: "number", name: key, id: `combo-${key}`, min, max, step: 1, inputmode: "numeric",
      value: combo?.config?.[key] ?? "", placeholder: "default" })]));
  const list = h("ol", { class: "targets", id: "combo-targets", "aria-label": "targets in order" });
  const status = h("p", { class: "offscreen", "aria-live": "polite" });

  // Reordering by dragging uses pointer events, so a mouse in any browser and a finger on a phone (the
  // grip does not scroll the page) both work; HTML5 drag and drop does neither on touch screens.
  const startDrag = (e, from, row) => {
    const onGrip = e.target.closest(".target-grip");
    if (e.button !== 0 || e.target.closest("button, input, label, select, textarea")) return;
    if (e.pointerType !== "mouse" && !onGrip) return;
    e.preventDefault();
    let to = from;
    row.classList.add("dragging");
    const over = (ev) => {
      const rows = [...list.children];
      let at = rows.findIndex((r) => ev.clientY < r.getBoundingClientRect().bottom);
      if (at < 0) at = rows.length - 1;
      if (at === to) return;
      rows[to]?.classList.remove("drop-here");
      to = at;
      if (to !== from) rows[to].classList.add("drop-here");
    };
    const end = (ev) => {
      window.removeEventListener("pointermove", over);
      window.removeEventListener("pointerup", end);
      window.removeEventListener("pointercancel", end);
      row.classList.remove("dragging");
      list.querySelector(".drop-here")?.classList.remove("drop-here");
      if (ev.type === "pointerup") move(from, to);
    };
    window.addEventListener("pointermove", over);
    window.addEventListener("pointerup", end);
    window.addEventListener("pointercancel", end);
  };

  const move = (from, to, focusDir) => {
    if (to < 0 || to >= targets.length || from === to) return;
    const [item] = targets.splice(from, 1);
    targets.splice(to, 0, item);
    drawTargets();
    status.textContent = `${item.model} is now number ${to + 1} of ${targets.length}`;
    if (focusDir) {
      const row = list.children[to];
      const wanted = row?.querySelector(`button[data-move="${focusDir}"]`);
      const fallback = row?.querySelector(`button[data-move="${focusDir === "up" ? "down" : "up"}"]`);
      (wanted && !wanted.disabled ? wanted : fallback)?.focus();
    }
  };

  const drawTargets = () => {
    const weighted = strategy.value === "weighted";
    clear(list, targets.length ? targets.map((t, i) => {
      const row = h("li", { class: "target-row", dataset: { index: i, model: t.model },
        onpointerdown: (e) => startDrag(e, i, row) },
        h("span", { class: "target-grip", "aria-hidden": "true", title: "drag to reorder" }, "⠿"),
        h("span", { class: "target-pos", "aria-hidden": "true" }, `${i + 1}.`),
        h("span", { class: "target-name mono" }, t.model),
        weighted ? h("label", { class: "check target-weight" }, "weight",
          h("input", { type: "number", min: "0.001", step: "any", value: t.weight, required: true,
            "aria-label": `Weight of ${t.model}`, oninput: (e) => { t.weight = e.target.value; } })) : null,
        h("span", { class: "row target-buttons" },
          h("button", { type: "button", class: "btn btn-small", dataset: { move: "up" }, disabled: i === 0,
            "aria-label": `Move ${t.model} up`, onclick: () => move(i, i - 1, "up") }, "↑"),
          h("button", { type: "button", class: "btn btn-small", dataset: { move: "down" },
            disabled: i === targets.length - 1, "aria-label": `Move ${t.model} down`,
            onclick: () => move(i, i + 1, "down") }, "↓"),
          h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Remove ${t.model}`,
            onclick: () => { targets.splice(i, 1); drawTargets(); status.textContent = `${t.model} removed`; } }, "✕")));
      return row;
    }) : h("li", { class: "muted" }, "No targets yet: add models below."));
  };
  strategy.addEventListener("change", drawTargets);
  drawTargets();

  const otherCombos = combos.filter((c) => c.id !== combo?.id).map((c) => c.name);
  const picker = modelSearch((model) => {
    if (targets.some((t) => t.model === model)) {
      toast(`${model} is already a target`, "error");
      return;
    }
    targets.push({ model, weight: 1 });
    drawTargets();
    status.textContent = `${model} added as number ${targets.length}`;
  }, { catalog, combos: otherCombos, kinds: ["chat"], label: "Add a target", idPrefix: "combo-pick",
    exclude: () => targets.map((t) => t.model) });

  let dlg = null;
  const editor = form([
    field("Name", name, "what clients send as the model; no spaces"),
    field("Strategy", strategy),
    h("fieldset", { class: "targets-box" }, h("legend", {}, "Targets"),
      h("p", { class: "muted small" }, "Order them with the arrow buttons (or drag a row)."), list, status,
      catalogError ? errorBox(`The catalog could not load (${catalogError}); type model names instead.`) : null,
      picker),
    h("fieldset", { class: "config-box" }, h("legend", {}, "Config (empty = default)"),
      h("div", { class: "grid3" }, CONFIG.map(([key, label, hint]) => field(label, configInputs[key], hint)))),
  ], async () => {
    const weighted = strategy.value === "weighted";
    const config = {};
    for (const [key] of CONFIG) {
      const raw = configInputs[key].value.trim();
      if (raw !== "") config[key] = Number(raw);
    }
    const body = {
      name: name.value,
      models: targets.map((t) => (weighted ? { model: t.model, weight: Number(t.weight) } : t.model)),
      strategy: strategy.value,
      config,
    };
    const saved = combo ? await put(`/api/combos/${encodeURIComponent(combo.id)}`, body) : await post("/api/combos", body);
    dlg.close();
    toast(`Combo ${saved.name} saved`);
    await refresh();
  }, combo ? "Save combo" : "Create combo");
  editor.id = "combo-form";
  dlg = dialog(combo ? `Edit combo ${combo.name}` : "New combo", editor, { wide: true });
  name.focus();
}

// --- test and delete -----------------------------------------------------------------------------

async function testCombo(combo, button) {
  const out = h("div", { id: "combo-test-results", "aria-live": "polite" },
    h("p", { class: "muted" }, `Sending a one-token request to each of ${combo.models.length} target(s)…`));
  dialog(`Test of ${combo.name}`, out, { wide: true });
  await busy(button, async () => {
    try {
      const { results } = await post(`/api/combos/${encodeURIComponent(combo.id)}/test`, {});
      const passed = results.filter((r) => r.ok).length;
      clear(out,
        h("p", {}, `${passed} of ${results.length} target(s) answered.`),
        table([
          { label: "#", value: (r) => String(results.indexOf(r) + 1), class: "num" },
          { label: "Target", value: (r) => h("span", { class: "mono" }, r.model) },
          { label: "Status", value: (r) => (r.ok ? badge("success", "ok") : badge("failed", "bad")) },
          { label: "Latency", value: (r) => `${r.latencyMs} ms`, class: "num" },
          { label: "Error", value: (r) => r.error || "—" },
        ], results, { pageSize: 50 }));
    } catch (err) {
      clear(out, errorBox(err.message));
    }
  });
}

async function removeCombo(combo, button, refresh) {
  if (!(await confirmAction(`Delete combo "${combo.name}"? Clients using this name will get an error.`))) return;
  await busy(button, async () => {
    await del(`/api/combos/${encodeURIComponent(combo.id)}`);
    toast(`Combo ${combo.name} deleted`);
    await refresh();
  });
}
