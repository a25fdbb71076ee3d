// Providers: the operator's upstream accounts (status, cooldowns, tests, model lists), the catalog of
// providers to add one for (grouped and searchable), and the custom provider nodes.
import { get } from "../api.js";
import { clear, h } from "../ui.js";
import { accountsSection } from "../providers/accounts.js";
import { openAddDialog } from "../providers/add.js";
import { catalogSection } from "../providers/catalog.js";
import { nodesSection } from "../providers/nodes.js";

export async function render(root) {
  // Shared by the sections: the catalog, and one way to reload everything after a change.
  const ctx = { catalog: [], byId: new Map(), testResults: new Map() };
  const accounts = accountsSection(ctx);
  const catalog = catalogSection(ctx);
  const nodes = nodesSection(ctx);

  ctx.loadCatalog = async () => {
    ctx.catalog = (await get("/api/providers/catalog")).providers;
    ctx.byId = new Map(ctx.catalog.map((p) => [p.id, p]));
    catalog.draw();
  };
  ctx.reload = async () => {
    await ctx.loadCatalog();
    await Promise.all([accounts.load(), nodes.load()]);
  };
  ctx.add = (providerId) => openAddDialog(ctx, providerId);

  clear(root,
    h("div", { class: "spread" },
      h("h1", {}, "Providers"),
      h("button", { type: "button", class: "btn btn-primary", id: "add-account", onclick: () => ctx.add() },
        "Add account")),
    accounts.node, catalog.node, nodes.node);
  await ctx.reload();
}
