// Settings › Sync: this instance's sync identity (its token shown once), and push or pull with another
// OmniRoute instance (connections, nodes, combos, aliases, API keys and shared settings).
import { get, post } from "../api.js";
import { ago, badge, busy, clear, confirmAction, copyButton, dialog, errorBox, field, h, input, num, section, table, when } from "../ui.js";

function countsView(counts) {
  if (!counts) return h("span", { class: "muted" }, "—");
  const kinds = Object.entries(counts.byKind || {});
  return h("div", {},
    h("div", { class: "stats" },
      ["added", "updated", "deleted", "skipped"].map((k) => h("div", { class: "stat", dataset: { count: k } },
        h("div", { class: "stat-value" }, num(counts[k])), h("div", { class: "stat-label" }, k)))),
    kinds.length ? table([
      { label: "Kind", value: ([kind]) => kind },
      { label: "Added", value: ([, c]) => num(c.added), class: "num" },
      { label: "Updated", value: ([, c]) => num(c.updated), class: "num" },
      { label: "Deleted", value: ([, c]) => num(c.deleted), class: "num" },
      { label: "Skipped", value: ([, c]) => num(c.skipped), class: "num" },
    ], kinds, { pageSize: 20 }) : null);
}

function lastRun(label, record) {
  if (!record) return h("p", {}, h("strong", {}, `${label}: `), h("span", { class: "muted" }, "never"));
  const c = record.counts || {};
  return h("p", {}, h("strong", {}, `${label}: `), `${when(record.at)} (${ago(record.at)}) with `,
    h("code", {}, record.remote || "—"),
    ` — ${num(c.added)} added, ${num(c.updated)} updated, ${num(c.deleted)} deleted, ${num(c.skipped)} skipped`);
}

export async function render(container) {
  const statusBox = h("div", { id: "sync-status" });
  const resultBox = h("div", { id: "sync-result", role: "status" });
  const errors = h("div", { class: "form-error", role: "alert", id: "sync-error" });
  let status = null;

  const showToken = (answer) => {
    const token = answer.token;
    dialog(answer.rotated ? "New sync token" : "Sync token", [
      h("p", {}, answer.message || "It is shown only this once."),
      h("div", { class: "row" }, h("code", { class: "keyshow", id: "sync-token" }, token), copyButton(token, "Copy token")),
      h("p", { class: "muted" }, `Instance ${answer.instanceId}. Another instance uses this token with this `
        + `instance's URL (${location.origin}) to push here or pull from here.`),
    ]);
  };

  const loadStatus = async () => {
    try {
      status = await get("/api/sync/cloud");
    } catch (err) {
      clear(statusBox, errorBox(`Could not read the sync status: ${err.message}`));
      return;
    }
    const initButton = h("button", { type: "button", class: status.initialized ? "btn" : "btn btn-primary", id: "sync-init" },
      status.initialized ? "Rotate token" : "Initialize sync");
    initButton.addEventListener("click", async () => {
      if (status.initialized && !await confirmAction("Rotate the sync token? The current token stops working at "
        + "once; instances that sync with this one need the new token.")) return;
      await busy(initButton, async () => {
        const answer = await post("/api/sync/initialize");
        showToken(answer);
        await loadStatus();
      });
    });
    clear(statusBox,
      h("p", {}, status.initialized ? badge("initialized", "ok") : badge("not initialized", "warn"),
        status.initialized ? [" Instance ", h("code", {}, status.instanceId)] : " This instance has no sync token yet: "
          + "initialize it so another instance can push to or pull from it."),
      status.initialized ? h("p", {}, "Token: ", h("code", {}, status.token || "—"),
        status.tokenRotatedAt ? h("span", { class: "muted" }, ` (set ${when(status.tokenRotatedAt)})`) : null) : null,
      status.remote ? h("p", {}, "Remote: ", h("code", {}, status.remote.url), " with token ", h("code", {}, status.remote.token))
        : h("p", { class: "muted" }, "No remote used yet."),
      lastRun("Last push", status.lastPush),
      lastRun("Last pull", status.lastPull),
      h("div", { class: "actions" }, initButton));
    if (status.remote && !url.value) url.placeholder = status.remote.url;
  };

  const url = input({ type: "url", name: "url", placeholder: "http://other-host:20128", autocomplete: "off" });
  const token = input({ type: "password", name: "token", autocomplete: "off", placeholder: "the other instance's sync token" });
  const run = async (action, button) => {
    errors.textContent = "";
    clear(resultBox);
    const remoteUrl = url.value.trim();
    const remoteToken = token.value.trim();
    let remote;
    if (remoteUrl || remoteToken) {
      if (!remoteUrl) { errors.textContent = "Remote URL: required with a token"; url.focus(); return; }
      if (!remoteToken) { errors.textContent = "Remote token: required with a URL"; token.focus(); return; }
      if (!/^https?:\/\/\S+$/i.test(remoteUrl)) { errors.textContent = "Remote URL: an http(s) URL like http://host:20128"; url.focus(); return; }
      remote = { url: remoteUrl, token: remoteToken };
    } else if (!status?.remote) {
      errors.textContent = "Remote URL and token: required (no remote has been used yet)";
      url.focus();
      return;
    }
    button.disabled = true;
    try {
      const answer = await post("/api/sync/cloud", remote ? { action, remote } : { action });
      clear(resultBox, h("p", {}, badge(action === "push" ? "pushed" : "pulled", "ok"),
        action === "push" ? " The remote merged this instance's data: its counts." : " This instance merged the remote's data."),
      countsView(answer.counts));
      token.value = "";
      await loadStatus();
    } catch (err) {
      errors.textContent = err.message || String(err);
    } finally {
      button.disabled = false;
    }
  };
  const pushButton = h("button", { type: "submit", class: "btn btn-primary", value: "push", id: "sync-push" }, "Push to remote");
  const pullButton = h("button", { type: "submit", class: "btn", value: "pull", id: "sync-pull" }, "Pull from remote");
  const syncForm = h("form", { class: "form", novalidate: true, id: "sync-form" },
    h("div", { class: "grid2" },
      field("Remote URL", url, "The other instance's address (its dashboard's origin)."),
      field("Remote token", token, "The token its Sync tab showed when it was initialized. Leave both empty to use the last remote.")),
    errors,
    h("div", { class: "actions" }, pushButton, pullButton));
  syncForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = event.submitter === pullButton ? pullButton : pushButton;
    run(button.value, button);
  });

  clear(container,
    section("This instance", statusBox),
    section("Push or pull",
      h("p", { class: "muted" }, "Merges connections, custom nodes, combos, aliases, API keys and shared settings, "
        + "last writer wins per item (deletions included). Instance-local settings (password, login rules, IP filter, "
        + "budgets, backup schedule) never travel."),
      syncForm, resultBox));
  await loadStatus();
}
