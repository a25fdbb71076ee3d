// The catalog of providers one can add an account for, grouped by how they sign in, with a search box.
import { badge, clear, h, input } from "../ui.js";

export const GROUPS = [
  ["oauth", "Subscriptions (sign in)", "Use a subscription you already pay for: sign in once, tokens are refreshed for you."],
  ["apikey", "API key", "Pay-as-you-go providers: paste a key from the provider's console."],
  ["local", "Local servers", "Servers on your own machine or network; a key is usually not needed."],
  ["custom", "Custom nodes", "Your own OpenAI- or Anthropic-compatible endpoints (see Custom nodes below)."],
];

function matches(p, q) {
  if (!q) return true;
  return [p.id, p.name, p.prefix, ...(p.aliases || []), ...(p.capabilities || [])]
    .some((v) => String(v).toLowerCase().includes(q));
}

export function catalogSection(ctx) {
  const search = input({ type: "search", id: "catalog-search", placeholder: "Search providers (name, prefix, capability)",
    "aria-label": "Search providers" });
  const groups = h("div", { id: "catalog-groups" });
  // Which groups are unfolded when not searching; the long API-key list starts folded.
  const opened = { oauth: true, apikey: false, local: true, custom: true };

  const card = (p) => h("li", { class: "prov-card", dataset: { provider: p.id } },
    h("div", { class: "prov-head" }, h("strong", {}, p.name),
      p.connections ? badge(`${p.connections} account${p.connections > 1 ? "s" : ""}`, "ok") : null),
    h("small", { class: "muted" }, h("code", {}, `${p.prefix}/…`), " · ", (p.capabilities || []).join(", ")),
    h("button", { type: "button", class: "btn btn-small", "aria-label": p.group === "oauth" ? `Sign in to ${p.name}` : `Add ${p.name} account`,
      onclick: () => ctx.add(p.id) }, p.group === "oauth" ? "Sign in" : "Add"));

  function draw() {
    const q = search.value.trim().toLowerCase();
    let total = 0;
    clear(groups, GROUPS.map(([id, title, hint]) => {
      const items = ctx.catalog.filter((p) => p.group === id && matches(p, q));
      total += items.length;
      if (!items.length && (q || id !== "custom")) return null;
      const group = h("details", { class: "prov-group", dataset: { group: id }, open: Boolean(q) || opened[id] },
        h("summary", {}, h("h3", {}, title, " ", h("span", { class: "muted" }, `(${items.length})`))),
        h("p", { class: "muted" }, hint),
        items.length ? h("ul", { class: "prov-grid" }, items.map(card)) : h("p", { class: "muted" }, "None yet."));
      group.addEventListener("toggle", () => { if (!q) opened[id] = group.open; });
      return group;
    }));
    if (!total && q) groups.append(h("p", { class: "muted" }, `No provider matches "${search.value.trim()}".`));
  }
  search.addEventListener("input", draw);

  const node = h("section", { class: "card", id: "catalog", "aria-labelledby": "catalog-title" },
    h("div", { class: "spread" }, h("h2", { id: "catalog-title" }, "Add a provider"), search),
    groups);
  return { node, draw };
}
