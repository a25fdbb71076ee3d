// Health: the gateway's status, each provider's circuit breaker (with a reset), per-connection
// cooldowns with live countdowns, model availability and latency percentiles. Refreshes on its own.
import { get, post } from "../api.js";
import {
  badge, busy, checkbox, clear, confirmAction, errorBox, field, h, num, section, select, stat, table, toast,
} from "../ui.js";

const REFRESH_MS = 5000;
const WINDOWS = [["60000", "Last minute"], ["300000", "Last 5 minutes"], ["900000", "Last 15 minutes"],
  ["3600000", "Last hour"], ["86400000", "Last 24 hours"]];

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${hr}h ${m}m`;
  if (hr) return `${hr}h ${m}m ${s % 60}s`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

// A span that counts down to an epoch time; the page's ticker updates every one each second.
function countdown(until, done = "now") {
  const el = h("span", { class: "countdown", dataset: { until: String(until), done } });
  tick(el);
  return el;
}

function tick(el) {
  const left = Number(el.dataset.until) - Date.now() / 1000;
  el.textContent = left > 0 ? `${duration(left)} left` : el.dataset.done;
}

function breakerBadge(state) {
  return badge(state, state === "closed" ? "ok" : state === "open" ? "bad" : "warn");
}

export async function render(root) {
  const status = h("div", { class: "stats", id: "gateway-status" });
  const breakers = h("div", { id: "breakers" });
  const cooldowns = h("div", { id: "cooldowns" });
  const availability = h("div", { id: "availability" });
  const latency = h("div", { id: "latency" });
  const updated = h("span", { class: "muted", id: "updated", "aria-live": "off" });
  const windowSelect = select(WINDOWS, { id: "telemetry-window", value: "300000" });
  const auto = checkbox("Refresh every 5 s", true, { id: "auto-refresh" });
  const last = {};

  const resetButton = h("button", { type: "button", class: "btn btn-danger", id: "reset-breakers" },
    "Reset breakers and cooldowns");
  resetButton.addEventListener("click", async () => {
    if (!(await confirmAction("Close every circuit breaker and clear every cooldown and lockout now?"))) return;
    await busy(resetButton, async () => {
      await post("/api/resilience/reset");
      toast("Breakers closed, cooldowns and lockouts cleared.");
      await refresh();
    });
  });

  // Redraw a section only when its data changed, so paging and focus survive the auto-refresh.
  const changed = (name, data) => {
    const text = JSON.stringify(data);
    if (last[name] === text) return false;
    last[name] = text;
    return true;
  };

  const drawHealth = (hl) => {
    clear(status,
      stat("Status", badge(hl.status, hl.status === "ok" ? "ok" : "bad"), "stat-status"),
      stat("Up for", duration(hl.uptimeS), "stat-uptime"),
      stat("Database", badge(hl.db, hl.db === "ok" ? "ok" : "bad"), "stat-db"),
      hl.sharedState ? stat(hl.sharedState.backend === "redis" ? "Shared state (Redis)" : "Shared state",
        hl.sharedState.backend === "redis" ? badge(hl.sharedState.status, hl.sharedState.status === "ok" ? "ok" : "bad")
          : "in this process (one instance)", "stat-shared-state") : null,
      stat("Usage writer (queued / written / dropped)",
        `${num(hl.usage?.pending)} / ${num(hl.usage?.written)} / ${num(hl.usage?.dropped)}`, "stat-usage-writer"),
      stat("Version", hl.version || "—", "stat-version"));
    const rows = Object.entries(hl.providers || {}).map(([id, p]) => ({ id, ...p }));
    if (!changed("breakers", rows.map(({ retryInS, ...rest }) => rest))) return;
    clear(breakers, table([
      { label: "Provider", value: (r) => r.id },
      { label: "Profile", value: (r) => r.profile || "—" },
      { label: "Connections", value: (r) => num(r.accounts), class: "num" },
      { label: "Breaker", value: (r) => h("span", { dataset: { provider: r.id, breaker: r.breaker } }, breakerBadge(r.breaker)) },
      { label: "Detail", value: (r) => {
        if (r.breaker === "open") return h("span", {}, "retries in ", countdown(r.openUntil, "a moment"));
        if (r.breaker === "half-open" || r.breaker === "half_open") return r.probing ? "a probe request is running" : "waiting for a probe";
        return `${num(r.failures)} recent failure${r.failures === 1 ? "" : "s"}`;
      } },
    ], rows, { empty: "No provider has an active connection." }));
  };

  const drawCooldowns = (rl) => {
    const rows = rl.connections || [];
    if (!changed("cooldowns", rows)) return;
    clear(cooldowns, table([
      { label: "Connection", value: (r) => r.name || r.id },
      { label: "Provider", value: (r) => r.provider },
      { label: "Requests (last minute)", value: (r) => num(r.recentRequests), class: "num" },
      { label: "Backoff level", value: (r) => num(r.backoffLevel), class: "num" },
      { label: "Cooldown", value: (r) => (r.rateLimitedUntil
        ? h("span", {}, badge("cooling down", "warn"), " ", countdown(r.rateLimitedUntil, "over"))
        : badge("ready", "ok")) },
    ], rows, { empty: "No connections yet." }));
  };

  const drawAvailability = (av) => {
    const rows = av.models || [];
    if (!changed("availability", rows.map(({ until, ...rest }) => ({ ...rest, until: Math.round(until || 0) })))) return;
    const down = rows.filter((r) => !r.available).length;
    clear(availability,
      h("p", { class: "muted" }, `${num(rows.length - down)} of ${num(rows.length)} models usable.`),
      table([
        { label: "Provider", value: (r) => r.provider },
        { label: "Model", value: (r) => r.model },
        { label: "Usable", value: (r) => (r.available ? badge("yes", "ok") : badge("no", "bad")) },
        { label: "Why not / note", value: (r) => [
          r.reason || (r.lockedOn?.length ? `locked out on ${r.lockedOn.length} connection(s)` : "—"),
          r.until ? [" · ", countdown(r.until, "retrying")] : null,
        ] },
      ], rows.sort((a, b) => Number(a.available) - Number(b.available)), { pageSize: 15, empty: "No models: add a provider first." }));
  };

  const drawLatency = (tm) => {
    const rows = Object.entries(tm.providers || {}).map(([id, p]) => ({ id, ...p }));
    if (!changed("latency", rows)) return;
    clear(latency, table([
      { label: "Provider", value: (r) => r.id },
      { label: "Requests", value: (r) => num(r.count), class: "num" },
      { label: "Errors", value: (r) => num(r.errors), class: "num" },
      { label: "p50", value: (r) => `${num(r.p50)} ms`, class: "num" },
      { label: "p95", value: (r) => `${num(r.p95)} ms`, class: "num" },
      { label: "p99", value: (r) => `${num(r.p99)} ms`, class: "num" },
    ], rows, { empty: "No upstream calls in this window." }));
  };

  const parts = [
    ["/api/monitoring/health", drawHealth, status, "breakers"],
    ["/api/rate-limits", drawCooldowns, cooldowns, "cooldowns"],
    ["/api/models/availability", drawAvailability, availability, "availability"],
    [() => `/api/telemetry/summary?windowMs=${windowSelect.value}`, drawLatency, latency, "latency"],
  ];
  let failing = false;
  async function refresh() {
    const results = await Promise.allSettled(parts.map(([path]) => get(typeof path === "function" ? path() : path)));
    let errors = 0;
    results.forEach((res, i) => {
      const [, draw, box, name] = parts[i];
      if (res.status === "fulfilled") draw(res.value);
      else {
        errors += 1;
        delete last[name];
        clear(box, errorBox(res.reason?.message || String(res.reason)));
      }
    });
    failing = errors > 0;
    updated.textContent = `Updated ${new Date().toLocaleTimeString("en-GB")}${failing ? " (with errors)" : ""}`;
  }

  windowSelect.addEventListener("change", () => { delete last.latency; refresh(); });

  clear(root,
    h("div", { class: "spread" }, h("h1", {}, "Health"), h("div", { class: "row" }, updated, auto.node)),
    status,
    section("Providers and circuit breakers", breakers, h("div", { class: "actions" }, resetButton)),
    section("Connections: cooldowns and rate limits", cooldowns),
    section("Latency by provider", h("div", { class: "row" }, field("Window", windowSelect)), latency),
    section("Model availability", availability));

  await refresh();

  const ticker = setInterval(() => document.querySelectorAll(".countdown").forEach(tick), 1000);
  let running = false;
  const poller = setInterval(async () => {
    if (!auto.box.checked || running || document.hidden) return;
    running = true;
    try {
      await refresh();
    } catch { /* shown on the next successful refresh */ } finally {
      running = false;
    }
  }, REFRESH_MS);
  window.addEventListener("pagehide", () => { clearInterval(ticker); clearInterval(poller); }, { once: true });
}
