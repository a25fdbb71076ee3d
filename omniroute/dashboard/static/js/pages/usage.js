// Usage & cost: totals, history charts and breakdowns for a period, and the request log (paged on the
// server) with each request's details in a dialog.
import { get } from "../api.js";
import {
  badge, barChart, clear, dialog, errorBox, field, form, h, input, lineChart, money, num, pager, section, select,
  stat, when,
} from "../ui.js";

const PAGE_SIZE = 25;
const PERIODS = [
  ["24h", "Last 24 hours (by hour)", "hour", 1],
  ["7d", "Last 7 days (by day)", "day", 7],
  ["30d", "Last 30 days (by day)", "day", 30],
  ["90d", "Last 90 days (by day)", "day", 90],
];
const METRICS = [
  ["requests", "Requests", (r) => r.requests, num],
  ["cost", "Cost", (r) => r.cost, money],
  ["tokens", "Tokens (in + out)", (r) => r.promptTokens + r.completionTokens, num],
  ["errors", "Errors", (r) => r.errors, num],
];

const qs = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  return q.toString();
};

function statusBadge(status) {
  const kind = status < 400 ? "ok" : status === 429 || status === 499 ? "warn" : "bad";
  return badge(String(status), kind);
}

function ms(value) {
  return value === null || value === undefined ? "—" : `${num(value)} ms`;
}

function modelCell(row) {
  const resolved = row.provider && row.model ? `${row.provider}/${row.model}` : row.model;
  if (!resolved || resolved === row.requestedModel) return row.requestedModel || resolved || "—";
  return h("span", {}, row.requestedModel || "—", h("br"), h("small", { class: "muted" }, `→ ${resolved}`));
}

// Short money figures for chart axes (the chart's left margin fits about eight characters).
function axisMoney(value) {
  const n = Number(value || 0);
  if (n === 0) return "$0";
  if (n < 0.01) return `$${n.toExponential(1)}`;
  return `$${n.toFixed(n < 100 ? 2 : 0)}`;
}

function bucketLabel(date, period) {
  // "2026-12-05T04:00:00Z" → "04:00"; "2026-12-05" → "12-05" (UTC buckets)
  return period === "hour" ? date.slice(11, 16) : date.slice(5, 10);
}

function pretty(text) {
  if (text === null || text === undefined || text === "") return "(empty)";
  if (typeof text !== "string") return JSON.stringify(text, null, 2);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function kvTable(pairs, caption) {
  return h("div", { class: "table-wrap" }, h("table", { class: "data" }, caption ? h("caption", { class: "muted" }, caption) : null,
    h("tbody", {}, pairs.filter(Boolean).map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v))))));
}

async function showDetail(id, keyNames) {
  const body = h("div", { id: "request-detail" }, h("p", { class: "muted" }, "Loading…"));
  const dlg = dialog("Request details", body, { wide: true });
  const title = dlg.querySelector("header h2");
  title.id = "request-detail-title";
  dlg.setAttribute("aria-labelledby", title.id);
  let row;
  try {
    row = await get(`/api/usage/request-logs/${encodeURIComponent(id)}`);
  } catch (err) {
    clear(body, errorBox(err.message));
    return dlg;
  }
  const keyName = row.apiKeyId ? keyNames.get(row.apiKeyId) || row.apiKeyId : "(no key)";
  const attempts = row.attempts || [];
  const detail = row.detail;
  clear(body,
    h("div", { class: "stats" },
      stat("Status", statusBadge(row.status), "detail-status"),
      stat("Cost", money(row.cost), "detail-cost"),
      stat("Latency", ms(row.latencyMs), "detail-latency"),
      stat("Time to first token", ms(row.ttftMs), "detail-ttft"),
      stat("Cache", row.cache || "—", "detail-cache")),
    h("div", { class: "grid2" },
      h("div", {}, h("h3", {}, "Request"), kvTable([
        ["Time", when(row.timestamp)],
        ["Id", h("code", {}, row.id)],
        ["Requested model", row.requestedModel || "—"],
        ["Served by", row.provider ? `${row.provider}/${row.model}` : "—"],
        ["Connection", row.connectionId || "—"],
        row.combo ? ["Combo", row.combo] : null,
        ["API key", keyName],
        ["Format", `${row.clientFormat || "—"} → ${row.upstreamFormat || "—"}`],
        ["Upstream calls", num(row.attemptCount)],
        row.idempotent ? ["Idempotent replay", "yes"] : null,
        row.error ? ["Error", h("span", { class: "detail-error" }, row.error)] : null,
      ])),
      h("div", { id: "detail-tokens" }, h("h3", {}, "Tokens"), kvTable([
        ["Prompt", num(row.promptTokens)],
        ["Completion", num(row.completionTokens)],
        ["Cached (read)", num(row.cachedTokens)],
        ["Cache write", num(row.cacheWriteTokens)],
        ["Reasoning", num(row.reasoningTokens)],
        row.images ? ["Images", num(row.images)] : null,
        row.audioSeconds ? ["Audio", `${row.audioSeconds} s`] : null,
        row.estimated ? ["Counts", "estimated (the upstream reported none)"] : null,
      ]))),
    h("h3", {}, `Fallback attempts (${attempts.length})`),
    attempts.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "data", id: "detail-attempts" },
        h("thead", {}, h("tr", {}, ["#", "Provider", "Model", "Status", "Error", "Latency"].map((l) => h("th", { scope: "col" }, l)))),
        h("tbody", {}, attempts.map((a) => h("tr", {},
          h("td", { "data-label": "#" }, a.attempt), h("td", { "data-label": "Provider" }, a.provider || "—"),
          h("td", { "data-label": "Model" }, a.model || "—"), h("td", { "data-label": "Status" }, statusBadge(a.status)),
          h("td", { "data-label": "Error" }, a.error || "—"), h("td", { "data-label": "Latency", class: "num" }, ms(a.latencyMs)))))))
      : h("p", { class: "muted" }, "No failed attempts: the first upstream call answered (or none was made)."),
    h("h3", {}, "Headers and bodies"),
    detail
      ? h("div", { id: "detail-bodies" },
        h("p", {}, h("code", {}, `${detail.method || ""} ${detail.path || ""}`),
          detail.truncated ? [" ", badge("cut at the size limit", "warn")] : null),
        h("h4", {}, "Request headers"), h("pre", { tabindex: "0" }, pretty(detail.requestHeaders)),
        h("h4", {}, "Request body"), h("pre", { tabindex: "0" }, pretty(detail.requestBody)),
        h("h4", {}, "Response headers"), h("pre", { tabindex: "0" }, pretty(detail.responseHeaders)),
        h("h4", {}, "Response body"), h("pre", { tabindex: "0" }, pretty(detail.responseBody)))
      : h("p", { class: "muted" }, "Not logged. Headers and bodies (with keys redacted) are kept while detailed logging ",
        "is on: ", h("a", { href: "/dashboard/settings" }, "Settings"), " → usage → detailed logging."));
  return dlg;
}

export async function render(root) {
  const state = { period: "24h", metric: "requests", chartProvider: "", chartKey: "", page: 0, filters: {} };
  const keyNames = new Map();
  try {
    for (const k of (await get("/api/keys")).keys || []) keyNames.set(k.id, k.name);
  } catch { /* names are a nicety: ids are shown instead */ }
  const keyLabel = (id) => (id ? keyNames.get(id) || id : "(no key)");
  const keyOptions = [["", "All keys"], ...[...keyNames].map(([id, name]) => [id, name])];

  // --- period, totals, charts, breakdowns --------------------------------------------------------
  const periodSelect = select(PERIODS.map(([v, label]) => [v, label]), { id: "period", value: state.period });
  const chartProvider = input({ id: "chart-provider", list: "providers-list", placeholder: "all", autocomplete: "off" });
  const chartKey = select(keyOptions, { id: "chart-key" });
  const metricSelect = select(METRICS.map(([v, label]) => [v, label]), { id: "metric", value: state.metric });
  const providersList = h("datalist", { id: "providers-list" });
  const modelsList = h("datalist", { id: "models-list" });
  const totals = h("div", { class: "stats", id: "totals" });
  const charts = h("div", { id: "charts" });
  const breakdowns = h("div", { class: "grid2", id: "breakdowns" });

  const loadOverview = async () => {
    const [, , period, days] = PERIODS.find((p) => p[0] === state.period);
    const since = Math.floor(Date.now() / 1000) - days * 86400;
    let summary;
    let history;
    try {
      [summary, history] = await Promise.all([
        get(`/api/usage/summary?since=${since}`),
        get(`/api/usage/history?${qs({ period, days, provider: state.chartProvider, apiKeyId: state.chartKey })}`),
      ]);
    } catch (err) {
      clear(charts, errorBox(err.message));
      return;
    }
    clear(totals,
      stat("Requests", num(summary.requests), "stat-requests"),
      stat("Errors", num(summary.errors), "stat-errors"),
      stat("Cost", money(summary.cost), "stat-cost"),
      stat("Tokens in / out", `${num(summary.promptTokens)} / ${num(summary.completionTokens)}`, "stat-tokens"),
      stat("Cache hit rate", `${((summary.cacheHitRate || 0) * 100).toFixed(1)}%`, "stat-cache"));
    const points = (fn) => history.history.map((b) => [bucketLabel(b.date, period), fn(b)]);
    const scope = [state.chartProvider && `provider ${state.chartProvider}`, state.chartKey && `key ${keyLabel(state.chartKey)}`]
      .filter(Boolean).join(", ");
    const suffix = ` per ${period} (UTC)${scope ? ` · ${scope}` : ""}`;
    clear(charts, h("div", { class: "grid2" },
      h("div", { class: "card" }, lineChart([{ name: "Requests", points: points((b) => b.requests) }], { title: `Requests${suffix}` })),
      h("div", { class: "card" }, lineChart([
        { name: "Prompt tokens", points: points((b) => b.promptTokens) },
        { name: "Completion tokens", points: points((b) => b.completionTokens) },
      ], { title: `Tokens${suffix}` })),
      h("div", { class: "card" }, lineChart([{ name: "Cost", points: points((b) => b.cost) }], { title: `Cost${suffix}`, format: axisMoney }))));
    const [, metricLabel, metricOf, metricFormat] = METRICS.find((m) => m[0] === state.metric);
    const bars = (rows, label) => rows.map((r) => [label(r.name), metricOf(r)]).sort((a, b) => b[1] - a[1]);
    const none = (what) => (name) => name ?? `(${what})`;
    clear(breakdowns,
      h("div", { class: "card", id: "by-provider" }, barChart(bars(summary.byProvider, none("no upstream")), { title: `${metricLabel} by provider`, format: metricFormat })),
      h("div", { class: "card", id: "by-model" }, barChart(bars(summary.byModel, none("no upstream")), { title: `${metricLabel} by model`, format: metricFormat })),
      h("div", { class: "card", id: "by-key" }, barChart(bars(summary.byKey, keyLabel), { title: `${metricLabel} by API key`, format: metricFormat })));
    clear(providersList, summary.byProvider.filter((r) => r.name).map((r) => h("option", { value: r.name })));
    clear(modelsList, summary.byModel.filter((r) => r.name).map((r) => h("option", { value: r.name })));
  };

  periodSelect.addEventListener("change", () => { state.period = periodSelect.value; loadOverview(); });
  metricSelect.addEventListener("change", () => { state.metric = metricSelect.value; loadOverview(); });
  chartKey.addEventListener("change", () => { state.chartKey = chartKey.value; loadOverview(); });
  chartProvider.addEventListener("change", () => { state.chartProvider = chartProvider.value.trim(); loadOverview(); });

  // --- request log ---------------------------------------------------------------------------------
  const fProvider = input({ name: "provider", list: "providers-list", placeholder: "any", autocomplete: "off" });
  const fModel = input({ name: "model", list: "models-list", placeholder: "any, e.g. gpt-4o-mini", autocomplete: "off" });
  const fKey = select(keyOptions, { name: "apiKeyId" });
  const fStatus = select([["", "Any"], ["ok", "OK (below 400)"], ["error", "Error (400 and above)"]], { name: "status" });
  const fSince = input({ type: "datetime-local", name: "since", step: 1 });
  const fUntil = input({ type: "datetime-local", name: "until", step: 1 });
  const logBox = h("div", { id: "request-log", "aria-live": "polite" });
  const epoch = (el) => {
    if (!el.value) return undefined;
    const t = new Date(el.value).getTime();
    if (Number.isNaN(t)) throw new Error(`${el.labels?.[0]?.textContent || el.name}: not a valid time`);
    return Math.floor(t / 1000);
  };

  const loadLog = async () => {
    const f = state.filters;
    const data = await get(`/api/usage/request-logs?${qs({ ...f, limit: PAGE_SIZE, offset: state.page * PAGE_SIZE })}`);
    const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
    if (state.page >= pages && state.page > 0) {
      state.page = pages - 1;
      return loadLog();
    }
    const rows = data.logs.map((row) => {
      const open = () => showDetail(row.id, keyNames);
      const tr = h("tr", { class: "clickable", dataset: { id: row.id, status: row.status } },
        h("td", { "data-label": "Time" }, when(row.timestamp)),
        h("td", { "data-label": "Model" }, modelCell(row)),
        h("td", { "data-label": "Key" }, keyLabel(row.apiKeyId)),
        h("td", { "data-label": "Status" }, statusBadge(row.status), row.attempts.length ? [" ", badge(`${row.attempts.length} fallback`, "warn")] : null),
        h("td", { "data-label": "Tokens in / out", class: "num" }, `${num(row.promptTokens)} / ${num(row.completionTokens)}`),
        h("td", { "data-label": "Cost", class: "num" }, money(row.cost)),
        h("td", { "data-label": "Latency", class: "num" }, ms(row.latencyMs)),
        h("td", { "data-label": "Cache" }, row.cache || "—"),
        h("td", { "data-label": "" }, h("button", { type: "button", class: "btn btn-small", "aria-label": `Details of the request at ${when(row.timestamp)}`,
          onclick: (e) => { e.stopPropagation(); open(); } }, "Details")));
      tr.addEventListener("click", open);
      return tr;
    });
    const cols = ["Time", "Model", "Key", "Status", "Tokens in / out", "Cost", "Latency", "Cache", ""];
    clear(logBox,
      h("div", { class: "table-wrap" }, h("table", { class: "data" },
        h("thead", {}, h("tr", {}, cols.map((c, i) => h("th", { scope: "col", class: i >= 4 && i <= 6 ? "num" : undefined }, c)))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: cols.length, class: "muted" }, "No requests match."))))),
      pager(state.page, pages, (p) => { state.page = p; loadLog().catch((err) => clear(logBox, errorBox(err.message))); }, data.total),
      data.detailedLogging ? null : h("p", { class: "muted" }, "Detailed logging is off: request details show figures and attempts, not headers or bodies."));
  };

  const filterForm = form([
    h("div", { class: "filters" },
      field("Provider", fProvider), field("Model", fModel), field("API key", fKey), field("Status", fStatus),
      field("Since", fSince), field("Until", fUntil)),
  ], async () => {
    const since = epoch(fSince);
    const until = epoch(fUntil);
    if (since !== undefined && until !== undefined && since > until) throw new Error("'Since' must not be after 'Until'.");
    state.filters = { provider: fProvider.value.trim(), model: fModel.value.trim(), apiKeyId: fKey.value,
      status: fStatus.value, since, until };
    state.page = 0;
    await loadLog();
  }, "Apply filters");
  filterForm.id = "log-filters";
  const resetButton = h("button", { type: "button", class: "btn" }, "Clear filters");
  resetButton.addEventListener("click", () => {
    filterForm.reset();
    state.filters = {};
    state.page = 0;
    loadLog().catch((err) => clear(logBox, errorBox(err.message)));
  });
  filterForm.querySelector(".actions").prepend(resetButton);
  const refreshButton = h("button", { type: "button", class: "btn", id: "usage-refresh" }, "Refresh");
  refreshButton.addEventListener("click", async () => {
    refreshButton.disabled = true;
    try {
      await Promise.all([loadOverview(), loadLog().catch((err) => clear(logBox, errorBox(err.message)))]);
    } finally {
      refreshButton.disabled = false;
    }
  });

  clear(root,
    h("div", { class: "spread" }, h("h1", {}, "Usage & cost"), refreshButton),
    providersList, modelsList,
    section("Period",
      h("div", { class: "filters" }, field("Period", periodSelect), field("Chart provider", chartProvider, "charts only"),
        field("Chart API key", chartKey, "charts only"), field("Breakdown by", metricSelect))),
    totals, charts, breakdowns,
    section("Request log", filterForm, logBox));

  await Promise.all([loadOverview(), loadLog().catch((err) => clear(logBox, errorBox(err.message)))]);
}
