// The accounts (connections) list: status, cooldown countdown, last error, priority, enable/disable,
// test, model list and delete. Keys are shown only as the API returns them: masked.
import { del, get, post, put } from "../api.js";
import { badge, busy, clear, confirmAction, dialog, errorBox, h, input, table, toast, when } from "../ui.js";

const PAGE_SIZE = 10;
const STATUS_KIND = { active: "ok", cooldown: "warn", error: "bad", expired: "bad" };

function secondsLeft(until) {
  return Math.max(0, Math.ceil(until - Date.now() / 1000));
}

function duration(seconds) {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

function statusCell(row, ctx) {
  const cell = h("div", { class: "acct-status" });
  if (!row.isActive) cell.append(badge("disabled"));
  else cell.append(badge(row.status || "active", STATUS_KIND[row.status] || ""));
  if (row.rateLimitedUntil && secondsLeft(row.rateLimitedUntil) > 0) {
    cell.append(" ", h("span", { class: "countdown muted", dataset: { until: String(row.rateLimitedUntil) } },
      `${duration(secondsLeft(row.rateLimitedUntil))} left`));
  }
  if (row.lastError) cell.append(h("small", { class: "last-error", title: row.lastError }, row.lastError));
  if (row.oauth?.expiresAt) cell.append(h("small", { class: "muted" }, `token until ${when(row.oauth.expiresAt)}`));
  const result = ctx.testResults.get(row.id);
  if (result) {
    cell.append(h("small", { class: `test-result ${result.ok ? "ok" : "bad"}`, role: "status" },
      result.ok ? `Test passed · ${result.latencyMs} ms` : `Test failed: ${result.error}`));
  }
  return cell;
}

function secretCell(row) {
  const shown = row.authType === "oauth" ? row.oauth?.accessToken : row.apiKey;
  return shown ? h("code", { class: "masked" }, shown) : h("span", { class: "muted" }, "none");
}

function modelsDialog(row) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  dialog(`Models of ${row.name}`, body, { wide: true });
  const load = async (refresh) => {
    clear(body, h("p", { class: "muted" }, "Loading…"));
    try {
      const { models } = await get(`/api/providers/${encodeURIComponent(row.id)}/models${refresh ? "?refresh=true" : ""}`);
      const list = h("div");
      const filter = input({ type: "search", placeholder: "Filter models", "aria-label": "Filter models" });
      const draw = () => {
        const q = filter.value.trim().toLowerCase();
        const shown = models.filter((m) => !q || m.id.toLowerCase().includes(q));
        clear(list, table([
          { label: "Model", value: (m) => h("code", {}, m.id) },
          { label: "Owner", value: (m) => m.owned_by || m.ownedBy || "—" },
          { label: "Use as", value: (m) => h("code", { class: "muted" }, `${row.provider}/${m.id}`) },
        ], shown, { pageSize: 20, empty: "No models match." }));
      };
      filter.addEventListener("input", draw);
      const again = h("button", { type: "button", class: "btn btn-small", onclick: () => load(true) },
        "Ask the upstream again");
      clear(body, h("div", { class: "row" }, h("span", { class: "muted" }, `${models.length} models`), again),
        filter, list);
      draw();
    } catch (err) {
      clear(body, errorBox(err.message || String(err)));
    }
  };
  load(false);
}

export function accountsSection(ctx) {
  const list = h("div", { id: "accounts-list" }, h("p", { class: "muted" }, "Loading…"));
  const filter = input({ type: "search", id: "accounts-filter", placeholder: "Filter by name, provider or status",
    "aria-label": "Filter accounts" });
  const refresh = h("button", { type: "button", class: "btn btn-small" }, "Refresh");
  let rows = [];
  let reloadPending = false;

  const priorityCell = (row) => {
    const box = input({ type: "number", min: "0", max: "1000000", step: "1", required: true, value: String(row.priority ?? 0),
      class: "priority-input", "aria-label": `Priority of ${row.name}` });
    const form = h("form", { class: "inline-form", novalidate: true }, box,
      h("button", { type: "submit", class: "btn btn-small" }, "Set"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = Number(box.value);
      if (box.value.trim() === "" || !Number.isInteger(value) || value < 0 || value > 1000000) {
        toast("Priority must be a whole number from 0 to 1000000", "error");
        box.focus();
        return;
      }
      await busy(form.querySelector("button"), async () => {
        const saved = await put(`/api/providers/${encodeURIComponent(row.id)}`, { priority: value });
        Object.assign(row, saved);
        toast(`Priority of ${row.name} set to ${saved.priority}`);
        draw();
      });
    });
    return form;
  };

  const actions = (row) => h("div", { class: "row acct-actions" },
    h("button", { type: "button", class: "btn btn-small", onclick: (e) => busy(e.currentTarget, async () => {
      const result = await post(`/api/providers/${encodeURIComponent(row.id)}/test`);
      ctx.testResults.set(row.id, result);
      toast(result.ok ? `${row.name}: test passed (${result.latencyMs} ms)` : `${row.name}: ${result.error}`,
        result.ok ? "ok" : "error");
      await load();
    }) }, "Test"),
    h("button", { type: "button", class: "btn btn-small", onclick: () => modelsDialog(row) }, "Models"),
    h("button", { type: "button", class: "btn btn-small", onclick: (e) => busy(e.currentTarget, async () => {
      const saved = await put(`/api/providers/${encodeURIComponent(row.id)}`, { isActive: !row.isActive });
      Object.assign(row, saved);
      toast(`${row.name} ${saved.isActive ? "enabled" : "disabled"}`);
      draw();
    }) }, row.isActive ? "Disable" : "Enable"),
    h("button", { type: "button", class: "btn btn-small btn-danger", onclick: (e) => busy(e.currentTarget, async () => {
      if (!(await confirmAction(`Delete the account "${row.name}" (${row.provider})? Requests stop using it at once.`))) return;
      await del(`/api/providers/${encodeURIComponent(row.id)}`);
      ctx.testResults.delete(row.id);
      toast(`Deleted ${row.name}`);
      await ctx.reload();
    }) }, "Delete"));

  const columns = [
    { label: "Account", value: (r) => h("div", {}, h("strong", {}, r.name), h("br"),
      h("small", { class: "muted" }, `${ctx.byId.get(r.provider)?.name || r.provider} · ${r.authType === "oauth" ? "sign-in" : "key"}`)) },
    { label: "Status", value: (r) => statusCell(r, ctx) },
    { label: "Key", value: secretCell },
    { label: "Priority", value: priorityCell },
    { label: "Actions", value: actions },
  ];

  function draw() {
    const q = filter.value.trim().toLowerCase();
    const shown = rows.filter((r) => !q || [r.name, r.provider, ctx.byId.get(r.provider)?.name, r.status,
      r.isActive ? "" : "disabled"].some((v) => v && String(v).toLowerCase().includes(q)));
    clear(list, table(columns, shown, { pageSize: PAGE_SIZE,
      empty: rows.length ? "No account matches the filter." : "No accounts yet: add one below or with \"Add account\"." }));
  }

  async function load() {
    const { connections } = await get("/api/providers");
    rows = connections.sort((a, b) => a.provider.localeCompare(b.provider) || (a.priority ?? 0) - (b.priority ?? 0)
      || a.name.localeCompare(b.name));
    draw();
  }

  filter.addEventListener("input", draw);
  refresh.addEventListener("click", () => busy(refresh, load));

  // Cooldown countdowns tick here; when one runs out the list is read again to show the new status.
  const timer = setInterval(() => {
    for (const el of list.querySelectorAll("[data-until]")) {
      const left = secondsLeft(Number(el.dataset.until));
      el.textContent = left > 0 ? `${duration(left)} left` : "ready";
      if (left <= 0 && !reloadPending) {
        reloadPending = true;
        load().catch(() => {}).finally(() => { reloadPending = false; });
      }
    }
  }, 1000);
  window.addEventListener("pagehide", () => clearInterval(timer), { once: true });

  const node = h("section", { class: "card", id: "accounts", "aria-labelledby": "accounts-title" },
    h("div", { class: "spread" }, h("h2", { id: "accounts-title" }, "Accounts"), h("div", { class: "row" }, filter, refresh)),
    h("p", { class: "muted" }, "Lower priority is tried first. A cooling-down account is skipped until its time runs out."),
    list);
  return { node, load, draw };
}
