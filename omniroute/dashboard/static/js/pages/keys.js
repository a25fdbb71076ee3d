// API keys: the list (masked hints only, status, budgets), creating a key (shown whole exactly once, in a
// dialog), editing its name, scope and allowed models, its spend budget, and revoking it.
// Everything goes through /api/keys and /api/usage/budget.
import { del, get, patch, post } from "../api.js";
import { badge, busy, checkbox, clear, confirmAction, copyButton, dialog, errorBox, field, form, h, input, money,
  select, table, toast, when } from "../ui.js";
import { chipList, loadCatalog, modelSearch } from "../modelpick.js";

const PERIODS = [["monthly", "monthly"], ["weekly", "weekly"], ["daily", "daily"]];

function status(key) {
  if (key.revoked) return ["revoked", "bad"];
  if (key.expiresAt && key.expiresAt * 1000 <= Date.now()) return ["expired", "warn"];
  return ["active", "ok"];
}

// The end of the chosen day, local time, in epoch seconds.
function dayEnd(value) {
  const [y, m, d] = value.split("-").map(Number);
  return Math.floor(new Date(y, m - 1, d, 23, 59, 59).getTime() / 1000);
}

function budgetFields(prefix) {
  const limit = input({ type: "number", id: `${prefix}-limit`, min: 0, step: "any", inputmode: "decimal",
    placeholder: "no limit" });
  const period = select(PERIODS, { id: `${prefix}-period` });
  const warn = input({ type: "number", id: `${prefix}-warn`, min: 1, max: 100, step: 1, value: 80 });
  const node = h("div", { class: "grid3" },
    field("Budget limit (USD)", limit, "optional; requests are refused once it is spent"),
    field("Budget period", period),
    field("Warn at (% of limit)", warn));
  // The budget to set, or null when no limit was given.
  const value = (keyId) => {
    if (limit.value.trim() === "") return null;
    return { keyId, limit: Number(limit.value), period: period.value, warnAt: Number(warn.value || 80) / 100 };
  };
  return { node, value, limit, period, warn };
}

async function catalogOrNothing() {
  try {
    return [await loadCatalog(), null];
  } catch (err) {
    return [[], err.message];
  }
}

async function combosOrNothing() {
  try {
    return ((await get("/api/combos")).combos || []).map((c) => c.name);
  } catch {
    return [];
  }
}

export async function render(root) {
  const [catalog, catalogError] = await catalogOrNothing();
  const combos = await combosOrNothing();
  const filter = input({ type: "search", id: "key-filter", placeholder: "filter by name or hint" });
  const listBox = h("div", { id: "key-list" });
  let keys = [];
  let budgets = [];

  const refresh = async () => {
    const [k, b] = await Promise.all([get("/api/keys"), get("/api/usage/budget")]);
    keys = (k.keys || []).slice().reverse(); // newest first
    budgets = b.budgets || [];
    draw();
  };
  const budgetsOf = (id) => budgets.filter((b) => b.keyId === id);
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = keys.filter((k) => !q || k.name.toLowerCase().includes(q) || (k.key || "").toLowerCase().includes(q));
    clear(listBox, table([
      { label: "Name", value: (k) => h("strong", {}, k.name) },
      { label: "Key", value: (k) => h("code", { class: "key-hint" }, k.key) },
      { label: "Scopes", value: (k) => (k.scopes?.length ? k.scopes.join(", ") : h("span", { class: "muted" }, "client only")) },
      { label: "Allowed models", value: (k) => (k.allowedModels?.length
        ? h("span", { class: "mono" }, k.allowedModels.join(", ")) : h("span", { class: "muted" }, "any")) },
      { label: "Expires", value: (k) => (k.expiresAt ? when(k.expiresAt) : h("span", { class: "muted" }, "never")) },
      { label: "Created", value: (k) => when(k.createdAt) },
      { label: "Status", value: (k) => { const [text, kind] = status(k); return badge(text, kind); } },
      { label: "Budget", value: (k) => budgetCell(budgetsOf(k.id)) },
      { label: "Actions", value: (k) => h("div", { class: "row" },
        h("button", { type: "button", class: "btn btn-small", "aria-label": `Edit ${k.name}`,
          onclick: () => openEditor(k, budgetsOf(k.id), { catalog, combos }, refresh) }, "Edit"),
        k.revoked ? null : h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Revoke ${k.name}`,
          onclick: (e) => revoke(k, e.currentTarget, refresh) }, "Revoke")) },
    ], rows, { pageSize: 20, empty: q ? "No key matches the filter." : "No keys yet: create one above." }));
  };
  filter.addEventListener("input", draw);

  clear(root,
    h("h1", {}, "API keys"),
    createCard({ catalog, catalogError, combos }, refresh),
    h("section", { class: "card" }, h("div", { class: "spread" }, h("h2", {}, "Keys"),
      h("div", { class: "key-filter" }, field("Filter", filter))), listBox));
  try {
    await refresh();
  } catch (err) {
    clear(listBox, errorBox(`Could not load the keys: ${err.message}`));
  }
}

function budgetCell(list) {
  if (!list.length) return h("span", { class: "muted" }, "none");
  return h("div", { class: "budget-cell" }, list.map((b) => h("div", {},
    `${money(b.spent)} / ${money(b.limit)} ${b.period} `,
    badge(b.state, b.state === "ok" ? "ok" : b.state === "warning" ? "warn" : "bad"))));
}

// --- create --------------------------------------------------------------------------------------

function createCard({ catalog, catalogError, combos }, refresh) {
  const name = input({ id: "key-name", name: "name", autocomplete: "off", placeholder: "e.g. laptop, ci, claude-code" });
  const manage = checkbox("manage — may also call the management API", false, { id: "key-manage" });
  const allowed = chipList([], { empty: "any model (no restriction)" });
  const picker = modelSearch((m) => allowed.add(m), { catalog, combos, label: "Restrict to models (optional)",
    idPrefix: "key-pick", exclude: () => allowed.values() });
  const expires = input({ type: "date", id: "key-expires", name: "expires" });
  const budget = budgetFields("key-budget");

  const el = form([
    field("Name", name),
    h("fieldset", {}, h("legend", {}, "Scopes"), manage.node),
    h("details", { class: "card-ish", id: "key-allowed" },
      h("summary", {}, "Allowed models ", h("span", { class: "muted" }, "(optional: every model when none)")),
      h("p", { class: "muted small" }, "Globs such as openai/* work when typed."),
      allowed.node,
      catalogError ? errorBox(`The catalog could not load (${catalogError}); type model names instead.`) : null,
      picker),
    field("Expires on", expires, "optional; the key stops working at the end of that day"),
    h("fieldset", {}, h("legend", {}, "Spend budget"), budget.node),
  ], async () => {
    const body = { name: name.value, scopes: manage.box.checked ? ["manage"] : [] };
    const models = allowed.values();
    if (models.length) body.allowedModels = models;
    if (expires.value) body.expiresAt = dayEnd(expires.value);
    const created = await post("/api/keys", body);
    let budgetError = null;
    const wanted = budget.value(created.id);
    if (wanted) {
      try {
        await post("/api/usage/budget", wanted);
      } catch (err) {
        budgetError = err.message;
      }
    }
    name.value = "";
    expires.value = "";
    manage.box.checked = false;
    allowed.set([]);
    budget.limit.value = "";
    showOnce(created.key, created.name, budgetError);
    await refresh();
  }, "Create key");
  el.id = "key-form";
  return h("section", { class: "card" }, h("h2", {}, "Create a key"), el);
}

// The one place a whole key is ever shown; the dialog is removed from the page when it closes.
function showOnce(raw, name, budgetError) {
  let secret = raw;
  const done = h("button", { type: "button", class: "btn btn-primary" }, "I have copied it");
  const code = h("code", { class: "keyshow", id: "new-key", style: "display:block;margin:12px 0" }, secret);
  // The close event fires after the current task, so the key is wiped and the dialog removed right here.
  const forget = () => { secret = null; code.textContent = ""; dlg.remove(); };
  const dlg = dialog(`New key “${name}”`, [
    h("p", { class: "warn-box", role: "note" }, "Copy this key now. It is shown only this once: the gateway keeps ",
      "only a hash of it, and after you close this window it cannot be displayed again."),
    code,
    budgetError ? errorBox(`The key was created, but its budget was not set: ${budgetError}. Set it with Edit.`) : null,
    h("div", { class: "actions" }, copyButton(() => secret, "Copy key"), done),
  ]);
  done.addEventListener("click", () => { dlg.close(); forget(); });
  dlg.addEventListener("close", forget);
}

// --- edit, budget, revoke ------------------------------------------------------------------------

function openEditor(key, keyBudgets, { catalog, combos }, refresh) {
  const name = input({ id: "edit-key-name", value: key.name, autocomplete: "off" });
  const manage = checkbox("manage — may also call the management API", key.scopes?.includes("manage"),
    { id: "edit-key-manage" });
  const allowed = chipList(key.allowedModels || [], { empty: "any model (no restriction)" });
  const picker = modelSearch((m) => allowed.add(m), { catalog, combos, label: "Restrict to models (optional)",
    idPrefix: "edit-key-pick", exclude: () => allowed.values() });
  const budget = budgetFields("edit-budget");
  const current = h("div", { id: "edit-budgets" });
  let list = [...keyBudgets];
  if (list.length) {
    budget.limit.value = list[0].limit;
    budget.period.value = list[0].period;
    budget.warn.value = Math.round(list[0].warnAt * 100);
  }
  const drawBudgets = () => {
    clear(current, list.length ? list.map((b) => h("div", { class: "row" },
      `${b.period}: ${money(b.spent)} spent of ${money(b.limit)} (warn at ${Math.round(b.warnAt * 100)}%) `,
      badge(b.state, b.state === "ok" ? "ok" : b.state === "warning" ? "warn" : "bad"),
      h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Remove the ${b.period} budget`,
        onclick: (e) => busy(e.currentTarget, async () => {
          await del(`/api/usage/budget?keyId=${encodeURIComponent(key.id)}&period=${b.period}`);
          list = list.filter((x) => x.period !== b.period);
          drawBudgets();
          toast(`The ${b.period} budget was removed`);
          await refresh();
        }) }, "Remove")))
      : h("p", { class: "muted" }, "No budget."));
  };
  drawBudgets();

  let dlg = null;
  const el = form([
    h("p", {}, "Key ", h("code", {}, key.key), key.revoked ? [" ", badge("revoked", "bad")] : null),
    field("Name", name),
    h("fieldset", {}, h("legend", {}, "Scopes"), manage.node),
    h("fieldset", {}, h("legend", {}, "Allowed models"), allowed.node, picker),
    h("fieldset", {}, h("legend", {}, "Spend budget"), current,
      h("p", { class: "muted small" }, "A limit entered here is set (or replaced) for its period on save."), budget.node),
  ], async () => {
    const models = allowed.values();
    await patch(`/api/keys/${encodeURIComponent(key.id)}`, {
      name: name.value, scopes: manage.box.checked ? ["manage"] : [], allowedModels: models.length ? models : null,
    });
    const wanted = budget.value(key.id);
    const same = wanted && list.some((b) => b.period === wanted.period && b.limit === wanted.limit
      && Math.abs(b.warnAt - wanted.warnAt) < 1e-9);
    if (wanted && !same) await post("/api/usage/budget", wanted);
    dlg.close();
    toast(`Key ${name.value} saved`);
    await refresh();
  }, "Save key");
  el.id = "edit-key-form";
  dlg = dialog(`Edit key ${key.name}`, el, { wide: true });
  name.focus();
}

async function revoke(key, button, refresh) {
  if (!(await confirmAction(`Revoke key "${key.name}" (${key.key})? Clients using it get 401 from now on; `
    + "this cannot be undone."))) return;
  await busy(button, async () => {
    await del(`/api/keys/${encodeURIComponent(key.id)}`);
    toast(`Key ${key.name} revoked`);
    await refresh();
  });
}
