// The "Add account" dialog: a key form for API-key, local and custom providers, and the sign-in flows
// (browser: open a link then paste the code; device: show a code and wait for approval) for subscriptions.
import { get, post } from "../api.js";
import { clear, copyButton, dialog, errorBox, field, form, h, input, toast } from "../ui.js";
import { GROUPS } from "./catalog.js";

function providerSelect(ctx, chosen) {
  const sel = h("select", { id: "add-provider", name: "provider", required: true });
  for (const [group, title] of GROUPS) {
    const items = ctx.catalog.filter((p) => p.group === group);
    if (!items.length) continue;
    sel.append(h("optgroup", { label: title },
      items.map((p) => h("option", { value: p.id }, `${p.name} (${p.prefix})`))));
  }
  sel.value = chosen && ctx.byId.has(chosen) ? chosen : "openai";
  if (!sel.value) sel.selectedIndex = 0;
  return sel;
}

// Name and priority are offered by every way of adding an account.
function commonFields(p) {
  const name = input({ name: "name", id: "add-name", maxlength: "200", placeholder: p.name });
  const priority = input({ type: "number", name: "priority", id: "add-priority", min: "0", max: "1000000", step: "1",
    placeholder: "0" });
  const values = () => {
    const out = {};
    if (name.value.trim()) out.name = name.value.trim();
    if (priority.value.trim() !== "") out.priority = Number(priority.value);
    return out;
  };
  return {
    nodes: [field("Name (optional)", name, `Shown in lists and logs; defaults to "${p.name}".`),
      field("Priority (optional)", priority, "Lower is tried first; 0 when empty.")],
    values,
  };
}

function keyForm(p, done) {
  const common = commonFields(p);
  const key = input({ type: "password", name: "apiKey", id: "add-api-key", autocomplete: "off", spellcheck: "false",
    required: p.keyRequired, maxlength: "20000" });
  const baseUrl = input({ type: "url", name: "baseUrl", id: "add-base-url", placeholder: p.baseUrl.includes("{") ? "" : p.baseUrl });
  const extra = (p.urlFields || []).map((name) => [name, input({ name: `pd-${name}`, id: `add-pd-${name}` })]);
  const defaultModel = input({ name: "defaultModel", id: "add-default-model", maxlength: "200" });
  const proxy = input({ type: "url", name: "proxy", id: "add-proxy", placeholder: "socks5://user:password@host:1080" });
  const check = h("span", { class: "muted", role: "status" });
  const checkButton = h("button", { type: "button", class: "btn btn-small" }, "Check key");

  const body = () => {
    const out = { provider: p.id, ...common.values() };
    if (key.value) out.apiKey = key.value;
    if (baseUrl.value.trim()) out.baseUrl = baseUrl.value.trim();
    const data = Object.fromEntries(extra.filter(([, el]) => el.value.trim()).map(([n, el]) => [n, el.value.trim()]));
    if (Object.keys(data).length) out.providerData = data;
    if (defaultModel.value.trim()) out.defaultModel = defaultModel.value.trim();
    if (proxy.value.trim()) out.proxy = { url: proxy.value.trim() };
    return out;
  };

  checkButton.addEventListener("click", async () => {
    checkButton.disabled = true;
    check.textContent = "Checking…";
    try {
      const b = body();
      const answer = await post("/api/providers/validate", { provider: p.id, apiKey: b.apiKey, baseUrl: b.baseUrl });
      check.textContent = answer.valid ? "The upstream accepted this key." : `Refused: ${answer.error}`;
      check.className = answer.valid ? "ok" : "bad";
    } catch (err) {
      check.textContent = err.message || String(err);
      check.className = "bad";
    } finally {
      checkButton.disabled = false;
    }
  });

  const keyHint = p.keyRequired ? "Stored encrypted; shown masked from now on."
    : "Optional for this provider; stored encrypted.";
  const el = form([
    field(p.keyRequired ? "API key" : "API key (optional)", key, keyHint),
    ...common.nodes,
    ...extra.map(([name, box]) => field(`${name} (for the URL)`, box, "Or give a whole base URL below.")),
    field("Base URL (optional)", baseUrl, p.baseUrl.includes("{") ? `Default: ${p.baseUrl}` : "Leave empty for the default shown."),
    field("Default model (optional)", defaultModel),
    field("Proxy URL (optional)", proxy, "This account's own outbound proxy (http, https, socks5); replaces the global one."),
    h("div", { class: "row" }, checkButton, check),
  ], async () => {
    const made = await post("/api/providers", body());
    done(made);
  }, "Add account");
  el.id = "add-key-form";
  return el;
}

function browserFlow(p, done, status) {
  const common = commonFields(p);
  const area = h("div", { class: "flow" });
  const start = h("button", { type: "button", class: "btn btn-primary", id: "oauth-start" }, "Start sign-in");
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const started = await get(`/api/oauth/${encodeURIComponent(p.id)}/authorize`);
      const code = input({ name: "code", id: "oauth-code", required: true, autocomplete: "off" });
      const exchange = form([
        field("Code or the address you ended on", code,
          "After approving, paste the code shown, or the whole address of the page the browser landed on."),
      ], async () => {
        const made = await post(`/api/oauth/${encodeURIComponent(p.id)}/exchange`,
          { code: code.value.trim(), state: started.state, ...common.values() });
        done(made);
      }, "Finish sign-in");
      clear(area,
        h("ol", { class: "steps" },
          h("li", {}, "Open the provider's sign-in page and approve: ",
            h("a", { href: started.authUrl, target: "_blank", rel: "noopener noreferrer", id: "oauth-link" }, "open sign-in page"),
            " ", copyButton(started.authUrl, "Copy link")),
          h("li", {}, "Paste what it gives back below (within ", Math.round((started.expiresIn || 600) / 60), " minutes).")),
        exchange);
      code.focus();
    } catch (err) {
      start.disabled = false;
      status(err.message || String(err));
    }
  });
  clear(area, h("p", {}, `${p.name} signs in through your browser.`), start);
  return h("div", {}, ...common.nodes, area);
}

function deviceFlow(p, done, status, setStop) {
  const common = commonFields(p);
  const area = h("div", { class: "flow" });
  const start = h("button", { type: "button", class: "btn btn-primary", id: "oauth-start" }, "Get a sign-in code");
  start.addEventListener("click", async () => {
    start.disabled = true;
    status("");
    let started;
    try {
      started = await post(`/api/oauth/${encodeURIComponent(p.id)}/device-code`);
    } catch (err) {
      start.disabled = false;
      status(err.message || String(err));
      return;
    }
    const link = started.verificationUriComplete || started.verificationUri;
    const waiting = h("p", { id: "oauth-waiting", role: "status", "aria-live": "polite" }, "Waiting for you to approve…");
    clear(area,
      h("ol", { class: "steps" },
        h("li", {}, "Open ", h("a", { href: link, target: "_blank", rel: "noopener noreferrer", id: "oauth-link" }, started.verificationUri),
          " and enter this code:"),
        h("li", { class: "user-code-row" }, h("code", { class: "keyshow user-code", id: "oauth-user-code" }, started.userCode),
          " ", copyButton(started.userCode, "Copy code"))),
      waiting);
    let stopped = false;
    let interval = Math.max(1, Number(started.interval) || 5);
    setStop(() => { stopped = true; });
    const poll = async () => {
      if (stopped) return;
      try {
        const answer = await post(`/api/oauth/${encodeURIComponent(p.id)}/poll`,
          { deviceCode: started.deviceCode, ...common.values() });
        if (answer.status === "complete") {
          stopped = true;
          done(answer.connection);
          return;
        }
        if (answer.status === "slow_down") interval += 5;
        else if (answer.interval) interval = Math.max(1, Number(answer.interval));
        waiting.textContent = answer.status === "slow_down"
          ? "Waiting for you to approve… (the provider asked to check less often)" : "Waiting for you to approve…";
      } catch (err) {
        stopped = true;
        clear(waiting, errorBox(err.message || String(err)));
        start.textContent = "Start again";
        start.disabled = false;
        area.append(start);
        return;
      }
      setTimeout(poll, interval * 1000);
    };
    setTimeout(poll, interval * 1000);
  });
  clear(area, h("p", {}, `${p.name} signs in with a code you enter on its site.`), start);
  return h("div", {}, ...common.nodes, area);
}

export function openAddDialog(ctx, chosen) {
  const sel = providerSelect(ctx, chosen);
  const panel = h("div", { id: "add-panel" });
  const problem = h("div", { class: "form-error", role: "alert", id: "add-problem" });
  const dlg = dialog("Add an account", [field("Provider", sel), problem, panel]);
  dlg.id = "add-dialog";
  let stop = null;
  const setStop = (fn) => { stop = fn; };
  const status = (message) => { problem.textContent = message; };
  const done = async (conn) => {
    stop?.();
    toast(`Added ${conn.name}`);
    dlg.close();
    await ctx.reload();
  };
  const show = () => {
    stop?.();
    stop = null;
    status("");
    const p = ctx.byId.get(sel.value);
    if (!p) return clear(panel);
    if (p.group !== "oauth") return clear(panel, keyForm(p, done));
    if (!p.signIn) return clear(panel, errorBox(`${p.name} has no sign-in flow on this server.`));
    return clear(panel, p.signIn.device ? deviceFlow(p, done, status, setStop) : browserFlow(p, done, status));
  };
  sel.addEventListener("change", show);
  dlg.addEventListener("close", () => stop?.());
  show();
  return dlg;
}
