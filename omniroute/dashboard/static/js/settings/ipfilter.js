// IP filter (GET/PUT /api/settings/ip-filter): which client addresses may reach the gateway at all,
// and which reverse proxies' X-Forwarded-For is believed. One network per line.
import { get, put } from "../api.js";
import { form, h, section, toast } from "../ui.js";
import { areaField, checkField, fill, intro, lines, selectField, value } from "./common.js";

export async function render(container) {
  const current = await get("/api/settings/ip-filter");
  const cidrHint = "One IPv4 or IPv6 address or CIDR a line (e.g. 192.168.1.0/24, 2001:db8::/32); # starts a comment.";

  const el = form([
    checkField("Filter client addresses", "enabled", current.enabled,
      "Runs before anything else on every route; refused clients get 403."),
    selectField("Mode", "mode", [
      ["blocklist", "blocklist — everyone except the blocked networks"],
      ["allowlist", "allowlist — only the allowed networks (minus the blocked ones)"],
    ], current.mode),
    h("div", { class: "grid2" },
      areaField("Allowed networks", "allow", current.allow, cidrHint, { placeholder: "192.168.1.0/24" }),
      areaField("Blocked networks", "block", current.block, cidrHint, { placeholder: "203.0.113.0/24" })),
    areaField("Trusted reverse proxies", "trustedProxies", current.trustedProxies,
      "X-Forwarded-For is read only from these; the rightmost address that is not one of them is the client.",
      { rows: 3, placeholder: "127.0.0.1" }),
  ], async (f) => {
    const answer = await put("/api/settings/ip-filter", {
      enabled: value(f, "enabled"), mode: value(f, "mode"),
      allow: lines(f, "allow"), block: lines(f, "block"), trustedProxies: lines(f, "trustedProxies"),
    });
    fill(f, answer);
    toast(answer.enabled ? `IP filter saved and on (${answer.mode})` : "IP filter saved (off)");
  });
  el.id = "ipfilter-form";

  container.append(
    intro("A filter that would lock out the address you are saving it from is refused."),
    section("IP filter", el),
  );
}
