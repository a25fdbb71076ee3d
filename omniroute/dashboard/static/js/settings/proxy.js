// Outbound proxy (GET/PUT /api/settings/proxy, POST /api/settings/proxy/test). The URL comes back
// with its password masked; sending it back unchanged keeps the stored password.
import { get, post, put } from "../api.js";
import { badge, busy, clear, form, h, section, toast } from "../ui.js";
import { checkField, intro, textField, value } from "./common.js";

const noProxyText = (v) => (Array.isArray(v) ? v.join(", ") : v || "");

export async function render(container) {
  const current = await get("/api/settings/proxy");

  const el = form([
    checkField("Send upstream calls through this proxy", "enabled", current.enabled),
    textField("Proxy URL", "url", current.url,
      "http://, https://, socks5://, socks5h:// or socks4://, e.g. http://user:password@proxy.lan:3128. "
      + "A masked password (****) left as it is keeps the stored one.",
      { autocomplete: "off", spellcheck: "false", placeholder: "http://proxy.lan:3128" }),
    textField("Bypass (no proxy for)", "noProxy", noProxyText(current.noProxy),
      "Comma-separated hosts (and their subdomains), IPs, CIDRs, host:port, or * — as curl's NO_PROXY.",
      { spellcheck: "false", placeholder: "localhost, 10.0.0.0/8, .internal" }),
  ], async (f) => {
    const url = value(f, "url").trim();
    const noProxy = value(f, "noProxy").trim();
    const answer = await put("/api/settings/proxy", {
      enabled: value(f, "enabled"), url: url || null, noProxy: noProxy || null,
    });
    f.elements.namedItem("enabled").checked = answer.enabled;
    f.elements.namedItem("url").value = answer.url || "";
    f.elements.namedItem("noProxy").value = noProxyText(answer.noProxy);
    toast(answer.enabled ? "Proxy saved and in use" : "Proxy saved (not in use)");
  });
  el.id = "proxy-form";

  // The test fetches a page through the URL in the form (or the stored one when the field is empty).
  const target = h("input", { type: "text", id: "proxy-test-target", placeholder: "default test page",
    spellcheck: "false" });
  const result = h("div", { id: "proxy-test-result", role: "status", "aria-live": "polite" });
  const testButton = h("button", { type: "button", class: "btn" }, "Test");
  testButton.addEventListener("click", () => busy(testButton, async () => {
    clear(result, h("span", { class: "muted" }, "Testing…"));
    const url = el.elements.namedItem("url").value.trim();
    const body = {};
    if (url) body.url = url;
    if (target.value.trim()) body.target = target.value.trim();
    try {
      const answer = await post("/api/settings/proxy/test", body);
      clear(result, answer.ok
        ? [badge("ok", "ok"), ` reached the target through the proxy in ${answer.latencyMs} ms`]
        : [badge("failed", "bad"), " ", answer.error || "the request through the proxy failed"]);
    } catch (err) {
      clear(result, [badge("error", "bad"), " ", err.message || String(err)]);
    }
  }));

  container.append(
    intro("Every call to an upstream goes through this proxy while it is enabled; an account's own proxy "
      + "(set on the Providers page) replaces it for that account."),
    section("Outbound proxy", el),
    section("Test the proxy",
      h("p", { class: "muted" }, "Makes a real request through the URL in the form above (without saving it)."),
      h("div", { class: "field" }, h("label", { for: "proxy-test-target" }, "Target URL (optional)"), target),
      h("div", { class: "row" }, testButton, result)),
  );
}
