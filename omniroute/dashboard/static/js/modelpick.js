// A searchable model picker over GET /api/models/catalog (plus combo names), and a list of picked
// names with remove buttons. Used by the combos and API keys pages. Anything typed can be added too:
// the API decides whether a name is valid and says why not.
import { get } from "./api.js";
import { badge, clear, h } from "./ui.js";

const MAX_SHOWN = 40;
let catalogPromise = null;

// Every model as {id: "provider/model", provider, configured, kind}, configured providers first.
export function loadCatalog() {
  if (!catalogPromise) {
    catalogPromise = get("/api/models/catalog").then((data) => {
      const out = [];
      for (const p of data.providers || []) {
        for (const [kind, models] of Object.entries(p.models || {})) {
          for (const m of models) out.push({ id: `${p.id}/${m.id}`, provider: p.id, configured: p.configured, kind });
        }
      }
      out.sort((a, b) => Number(b.configured) - Number(a.configured) || a.id.localeCompare(b.id));
      return out;
    }).catch((err) => {
      catalogPromise = null;
      throw err;
    });
  }
  return catalogPromise;
}

// A search box with matching models as buttons. `onPick(name)` receives the chosen name; Enter in the
// box (or the "Add" button) adds exactly what was typed. `options`: {catalog, combos, kinds, label, exclude()}.
export function modelSearch(onPick, { catalog = [], combos = [], kinds = null, label = "Add a model",
                                     exclude = () => [], idPrefix = "pick" } = {}) {
  const entries = [
    ...combos.map((name) => ({ id: name, provider: "combo", configured: true, kind: "combo" })),
    ...catalog.filter((m) => !kinds || kinds.includes(m.kind)),
  ];
  const seen = new Set();
  const unique = entries.filter((m) => (seen.has(m.id) ? false : seen.add(m.id)));
  const box = h("input", { type: "search", id: `${idPrefix}-search`, autocomplete: "off",
    placeholder: "search the catalog, or type any model or combo name", "aria-controls": `${idPrefix}-results` });
  const onlyConfigured = h("input", { type: "checkbox", id: `${idPrefix}-configured`,
    checked: unique.some((m) => m.configured && m.kind !== "combo") });
  const results = h("ul", { class: "pick-results", id: `${idPrefix}-results`, "aria-label": "matching models" });
  const addTyped = h("button", { type: "button", class: "btn btn-small" }, "Add typed name");

  const pick = (name) => {
    const value = name.trim();
    if (!value) return;
    onPick(value);
    box.value = "";
    draw();
    box.focus();
  };

  const draw = () => {
    const q = box.value.trim().toLowerCase();
    const taken = new Set(exclude());
    const matches = unique.filter((m) => !taken.has(m.id)
      && (!onlyConfigured.checked || m.configured)
      && (!q || m.id.toLowerCase().includes(q)));
    clear(results, matches.slice(0, MAX_SHOWN).map((m) => h("li", {},
      h("button", { type: "button", class: "pick-option", dataset: { model: m.id }, onclick: () => pick(m.id) },
        h("span", { class: "mono" }, m.id), " ",
        m.kind === "combo" ? badge("combo") : m.kind !== "chat" ? badge(m.kind) : null))));
    if (!matches.length) results.append(h("li", { class: "muted" }, q ? "No match in the catalog; add the typed name."
      : "No models."));
    else if (matches.length > MAX_SHOWN) {
      results.append(h("li", { class: "muted" }, `${matches.length - MAX_SHOWN} more: refine the search.`));
    }
  };
  box.addEventListener("input", draw);
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault(); // never submits the surrounding form
      pick(box.value);
    }
  });
  onlyConfigured.addEventListener("change", draw);
  addTyped.addEventListener("click", () => pick(box.value));
  draw();

  return h("div", { class: "picker" },
    h("label", { for: box.id, class: "pick-label" }, label),
    h("div", { class: "row pick-row" }, box, addTyped),
    h("label", { class: "check" }, onlyConfigured, " only providers with an account"),
    results);
}

// Picked names as removable chips; returns {node, values(), set(list)}.
export function chipList(initial = [], { empty = "none", onChange = () => {} } = {}) {
  let values = [...initial];
  const node = h("ul", { class: "chips", "aria-label": "chosen" });
  const draw = () => {
    clear(node, values.length ? values.map((v) => h("li", { class: "chip" }, h("span", { class: "mono" }, v),
      h("button", { type: "button", class: "btn btn-small", "aria-label": `Remove ${v}`,
        onclick: () => { values = values.filter((x) => x !== v); draw(); onChange(values); } }, "✕")))
      : h("li", { class: "muted" }, empty));
  };
  draw();
  return {
    node,
    values: () => [...values],
    add: (v) => { if (!values.includes(v)) { values.push(v); draw(); onChange(values); } },
    set: (list) => { values = [...list]; draw(); },
  };
}
