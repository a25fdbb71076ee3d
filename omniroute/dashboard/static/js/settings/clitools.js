// Settings › CLI tools: the coding tools found on the gateway's machine, and pointing the configurable
// ones at this gateway (a new `cli:<tool>` key is made; the old config file is kept as a backup).
import { get, post } from "../api.js";
import { badge, clear, dialog, errorBox, field, form, h, input, section, table } from "../ui.js";
import { modelSuggestions } from "./evals.js";

const yesNo = (value, yes, no, kind = "warn") => (value ? badge(yes, "ok") : badge(no, kind));

function configure(tool, reload) {
  const model = input({ name: "model", autocomplete: "off", placeholder: "openai/gpt-4o-mini", maxlength: 300 });
  const result = h("div", { class: "configure-result", role: "status" });
  const body = form([
    h("p", {}, "Writes this gateway's address and a new API key named ", h("code", {}, `cli:${tool.id}`),
      " into ", h("code", {}, tool.configPath || "the tool's config"), ", merged with what is there; the current "
      + "file is kept as a backup next to it."),
    field("Model (optional)", model, "A model or combo the tool should use; when empty, the first chat model "
      + "the gateway serves (for tools whose config must name one)."),
    result,
  ], async () => {
    clear(result);
    const answer = await post(`/api/cli-tools/${encodeURIComponent(tool.id)}-settings`,
      model.value.trim() ? { model: model.value.trim() } : {});
    clear(result,
      h("p", {}, badge("configured", "ok"), ` ${tool.name} now points at `, h("code", {}, answer.baseUrl), "."),
      h("dl", { class: "facts" },
        h("dt", {}, "Config written"), h("dd", {}, h("code", { class: "config-path" }, answer.configPath)),
        h("dt", {}, "Previous file kept as"), h("dd", {}, answer.backupPath
          ? h("code", { class: "backup-path" }, answer.backupPath) : h("span", { class: "muted" }, "(there was no previous file)")),
        h("dt", {}, "API key"), h("dd", {}, h("code", {}, answer.apiKeyHint || "—"),
          answer.apiKeyCreated ? " (new key)" : " (the key it already had)"),
        h("dt", {}, "Model"), h("dd", {}, answer.model || h("span", { class: "muted" }, "the tool's own default"))));
    reload();
  }, "Configure");
  return dialog(`Configure ${tool.name}`, [body, modelSuggestions(model)]);
}

function actions(tool, reload) {
  if (!tool.configurable) {
    return h("span", { class: "muted detect-only" }, "Detection only: the gateway does not write this tool's "
      + "configuration; set its base URL and key by hand (see Home for snippets).");
  }
  return h("div", {},
    h("button", { type: "button", class: "btn btn-small", "aria-label": `Configure ${tool.name}`,
      dataset: { tool: tool.id }, onclick: () => configure(tool, reload) }, "Configure"),
    tool.configError ? h("div", { class: "muted" }, `Config problem: ${tool.configError}`) : null);
}

export async function render(container) {
  const list = h("div", { id: "cli-tools" });
  const load = async () => {
    let tools;
    try {
      ({ tools = [] } = await get("/api/cli-tools"));
    } catch (err) {
      clear(list, errorBox(`Could not list the CLI tools: ${err.message}`));
      return;
    }
    clear(list, table([
      { label: "Tool", value: (t) => h("span", { dataset: { toolRow: t.id } }, h("strong", {}, t.name), " ", h("code", {}, t.command || t.id)) },
      { label: "Installed", value: (t) => yesNo(t.installed, "installed", "not installed", "") },
      { label: "Runnable", value: (t) => (t.installed ? yesNo(t.runnable, "runs", "does not run", "bad") : "—") },
      { label: "Runtime", value: (t) => t.runtimeMode || "—" },
      { label: "Version", value: (t) => t.version || "—" },
      { label: "Configured", value: (t) => yesNo(t.configured, "points here", "no", "") },
      { label: "Notes", value: (t) => [t.reason || "", t.commandPath ? h("div", { class: "muted" }, t.commandPath) : null] },
      { label: "Actions", value: (t) => actions(t, load) },
    ], tools, { pageSize: 20, empty: "No known tools." }));
  };
  clear(container,
    section("Coding tools",
      h("p", { class: "muted" }, "Tools looked for on the gateway machine's PATH. Configuring one writes its config "
        + "file in the home directory of the user the gateway runs as."),
      list));
  await load();
}
