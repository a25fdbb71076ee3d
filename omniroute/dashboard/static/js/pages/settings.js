// Settings: one tab per area; each tab is its own module in ../settings/<id>.js with render(container).
// The tab shown follows the address's #fragment, so every tab can be linked to and reloaded.
import { clear, errorBox, h } from "../ui.js";

const TABS = [
  ["general", "General"],
  ["security", "Login & password"],
  ["proxy", "Proxy"],
  ["ipfilter", "IP filter"],
  ["thinking", "Thinking budget"],
  ["prompt", "System prompt"],
  ["resilience", "Resilience"],
  ["backups", "Backups"],
  ["sync", "Sync"],
  ["clitools", "CLI tools"],
  ["evals", "Evals"],
];

export async function render(root) {
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "settings" });
  const panel = h("div", { id: "settings-panel", role: "tabpanel", tabindex: "-1" });
  clear(root, h("h1", {}, "Settings"), tabs, panel);

  const show = async (id) => {
    const known = TABS.some(([tab]) => tab === id) ? id : TABS[0][0];
    for (const button of tabs.children) button.setAttribute("aria-selected", String(button.dataset.tab === known));
    clear(panel, h("p", { class: "muted" }, "Loading…"));
    try {
      const mod = await import(`../settings/${known}.js`);
      clear(panel);
      await mod.render(panel);
    } catch (err) {
      clear(panel, errorBox(`This tab could not load: ${err.message || err}`));
    }
  };
  for (const [id, label] of TABS) {
    tabs.append(h("button", {
      type: "button", role: "tab", id: `tab-${id}`, dataset: { tab: id },
      onclick: () => { history.replaceState(null, "", `#${id}`); show(id); },
    }, label));
  }
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  await show(location.hash.slice(1));
}
