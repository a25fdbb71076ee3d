// Custom provider nodes: the operator's own OpenAI- or Anthropic-compatible upstreams.
import { del, get, post } from "../api.js";
import { busy, clear, confirmAction, field, form, h, input, select, table, toast } from "../ui.js";

const TYPES = [["openai-compatible", "OpenAI-compatible"], ["anthropic-compatible", "Anthropic-compatible"]];
const NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9._\\-]*";

export function nodesSection(ctx) {
  const list = h("div", { id: "nodes-list" }, h("p", { class: "muted" }, "Loading…"));
  let nodes = [];

  const columns = [
    { label: "Name", value: (n) => h("strong", {}, n.name) },
    { label: "Prefix", value: (n) => h("code", {}, `${n.prefix}/…`) },
    { label: "Type", value: (n) => (TYPES.find(([t]) => t === n.type) || [n.type, n.type])[1] },
    { label: "Base URL", value: (n) => h("code", { class: "wrap" }, n.baseUrl) },
    { label: "Accounts", value: (n) => String(ctx.byId.get(n.id)?.connections ?? 0), class: "num" },
    { label: "Actions", value: (n) => h("div", { class: "row" },
      h("button", { type: "button", class: "btn btn-small", "aria-label": `Add account on ${n.name}`,
        onclick: () => ctx.add(n.id) }, "Add account"),
      h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Delete node ${n.name}`,
        onclick: (e) => busy(e.currentTarget, async () => {
          if (!(await confirmAction(`Delete the node "${n.name}"? Its accounts must be deleted first.`))) return;
          await del(`/api/provider-nodes/${encodeURIComponent(n.id)}`);
          toast(`Deleted node ${n.name}`);
          await ctx.reload();
        }) }, "Delete")) },
  ];

  function draw() {
    clear(list, table(columns, nodes, { pageSize: 10, empty: "No custom nodes yet." }));
  }

  async function load() {
    nodes = (await get("/api/provider-nodes")).nodes;
    draw();
  }

  const type = select(TYPES, { name: "type", id: "node-type", required: true });
  const name = input({ name: "name", id: "node-name", required: true, maxlength: "200", placeholder: "My vLLM box" });
  const prefix = input({ name: "prefix", id: "node-prefix", required: true, maxlength: "100", pattern: NAME_PATTERN,
    placeholder: "mybox" });
  const baseUrl = input({ type: "url", name: "baseUrl", id: "node-base-url", required: true,
    placeholder: "https://llm.example.com/v1" });
  const models = input({ name: "models", id: "node-models", placeholder: "llama-3.1-70b, qwen2.5-coder" });
  const addForm = form([
    h("div", { class: "grid2" },
      field("Type", type),
      field("Name", name),
      field("Prefix", prefix, "Clients ask for <prefix>/<model>; letters, digits, '.', '_' and '-'."),
      field("Base URL", baseUrl, "Including the version path, e.g. …/v1."),
      field("Models (optional)", models, "Comma-separated; otherwise the node's own model list is used.")),
  ], async () => {
    const body = { type: type.value, name: name.value.trim(), prefix: prefix.value.trim(), baseUrl: baseUrl.value.trim() };
    const names = models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (names.length) body.models = names;
    const made = await post("/api/provider-nodes", body);
    toast(`Added node ${made.name} (${made.prefix}/…)`);
    for (const el of [name, prefix, baseUrl, models]) el.value = "";
    await ctx.reload();
  }, "Add node");
  addForm.id = "node-form";

  const node = h("section", { class: "card", id: "nodes", "aria-labelledby": "nodes-title" },
    h("h2", { id: "nodes-title" }, "Custom nodes"),
    list,
    h("h3", {}, "Add a node"),
    addForm);
  return { node, load };
}
