// Form pieces shared by the settings tabs (not a tab itself). Inputs carry `name` so a form's
// submit handler reads them back with `value(form, name)`; ranges are left to the API, whose
// 400 message the form shows, so the page and the server never disagree about a limit.
import { checkbox, field, h, input, select, toast } from "../ui.js";

// A whole-number (or, with step "any", decimal) input in a labelled field.
export function numberField(label, name, value, hint, { step = "1", unit } = {}) {
  const el = input({ type: "number", name, step, required: true, inputmode: step === "1" ? "numeric" : "decimal",
    value: value ?? "" });
  return field(unit ? `${label} (${unit})` : label, el, hint);
}

export function textField(label, name, value, hint, attrs = {}) {
  return field(label, input({ name, value: value ?? "", ...attrs }), hint);
}

export function selectField(label, name, options, value, hint) {
  return field(label, select(options, { name, value }), hint);
}

export function checkField(label, name, checked, hint) {
  const { node } = checkbox(label, checked, { name });
  return h("div", { class: "field" }, node, hint ? h("small", {}, hint) : null);
}

export function areaField(label, name, lines, hint, attrs = {}) {
  const area = h("textarea", { name, rows: 4, spellcheck: "false", ...attrs });
  area.value = (lines || []).join("\n");
  return field(label, area, hint);
}

// Read a named control back: numbers as numbers, checkboxes as booleans, the rest as text.
export function value(form, name) {
  const el = form.elements.namedItem(name);
  if (!el) throw new Error(`no field named ${name}`);
  if (el.type === "checkbox") return el.checked;
  if (el.type === "number") return Number(el.value);
  return el.value;
}

// A textarea's entries: one a line, blank lines and "#" comments skipped.
export function lines(form, name) {
  return value(form, name).split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
}

// Put the values an API answer holds back into the form's named controls.
export function fill(form, values, prefix = "") {
  for (const [key, v] of Object.entries(values || {})) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (v && typeof v === "object" && !Array.isArray(v)) {
      fill(form, v, name);
      continue;
    }
    const el = form.elements.namedItem(name);
    if (!el) continue;
    if (el.type === "checkbox") el.checked = Boolean(v);
    else if (Array.isArray(v)) el.value = v.join("\n");
    else el.value = v ?? "";
  }
}

export const saved = (what) => toast(`${what} saved`);

export function intro(text) {
  return h("p", { class: "muted" }, text);
}
