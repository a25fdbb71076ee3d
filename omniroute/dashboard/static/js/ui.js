// Small building blocks every page uses: elements, notices, copy buttons, paginated tables, forms,
// dialogs, number formats and SVG charts. No framework: plain DOM.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// --- notices -------------------------------------------------------------------------------------

export function toast(message, kind = "ok") {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = h("div", { class: `toast toast-${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

export function errorBox(message) {
  return h("div", { class: "error-box", role: "alert" }, message);
}

// Run an async action from a button: disabled while it runs, its error shown as a notice.
export async function busy(button, action) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (err) {
    toast(err.message || String(err), "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "btn btn-small", "aria-label": `${label} to clipboard` }, label);
  button.addEventListener("click", async () => {
    const value = typeof text === "function" ? text() : text;
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      const area = h("textarea", { class: "offscreen" }, value);
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = label), 1500);
  });
  return button;
}

// --- tables --------------------------------------------------------------------------------------

// columns: [{label, value: row => node|string, class?}]; rows: array. Paginates client-side.
export function table(columns, rows, { pageSize = 25, empty = "Nothing here yet.", caption } = {}) {
  const wrap = h("div", { class: "table-wrap" });
  let page = 0;
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  const draw = () => {
    const body = rows.slice(page * pageSize, (page + 1) * pageSize);
    const tbl = h("table", { class: "data" },
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)))),
      h("tbody", {}, body.length
        ? body.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.class, "data-label": c.label },
          c.value(row)))))
        : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty))));
    clear(wrap, tbl, pages > 1 ? pager(page, pages, (p) => { page = p; draw(); }) : null);
  };
  draw();
  return wrap;
}

export function pager(page, pages, go, total) {
  return h("nav", { class: "pager", "aria-label": "pages" },
    h("button", { type: "button", class: "btn btn-small", disabled: page <= 0, onclick: () => go(page - 1) }, "‹ Prev"),
    h("span", {}, `Page ${page + 1} of ${pages}${total !== undefined ? ` · ${total} rows` : ""}`),
    h("button", { type: "button", class: "btn btn-small", disabled: page >= pages - 1, onclick: () => go(page + 1) },
      "Next ›"));
}

// --- forms ---------------------------------------------------------------------------------------

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("small", {}, hint) : null);
}

export const input = (attrs = {}) => h("input", { type: "text", ...attrs });

export function select(options, attrs = {}) {
  const el = h("select", attrs);
  for (const opt of options) {
    const [value, label] = Array.isArray(opt) ? opt : [opt, opt];
    el.append(h("option", { value }, label));
  }
  if (attrs.value !== undefined) el.value = attrs.value;
  return el;
}

export function checkbox(label, checked, attrs = {}) {
  const box = h("input", { type: "checkbox", checked, ...attrs });
  return { box, node: h("label", { class: "check" }, box, " ", label) };
}

// A form whose submit runs `action(form)`; the API's error message shows inside the form.
export function form(children, action, submitLabel = "Save") {
  const errors = h("div", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, submitLabel);
  const el = h("form", { class: "form", novalidate: true }, children, errors, h("div", { class: "actions" }, submit));
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.textContent = "";
    if (!el.checkValidity()) {
      const bad = el.querySelector(":invalid");
      errors.textContent = `${bad?.labels?.[0]?.textContent || bad?.name || "a field"}: ${bad?.validationMessage || "invalid"}`;
      bad?.focus();
      return;
    }
    submit.disabled = true;
    try {
      await action(el);
    } catch (err) {
      errors.textContent = err.message || String(err);
    } finally {
      submit.disabled = false;
    }
  });
  return el;
}

// --- dialogs -------------------------------------------------------------------------------------

export function dialog(title, body, { wide = false } = {}) {
  const close = h("button", { type: "button", class: "btn btn-small", "aria-label": "Close" }, "✕");
  const dlg = h("dialog", { class: wide ? "dialog wide" : "dialog" },
    h("header", {}, h("h2", {}, title), close), h("div", { class: "dialog-body" }, body));
  close.addEventListener("click", () => dlg.close());
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

export function confirmAction(message) {
  return new Promise((resolve) => {
    const yes = h("button", { type: "button", class: "btn btn-danger" }, "Confirm");
    const no = h("button", { type: "button", class: "btn" }, "Cancel");
    const dlg = dialog("Please confirm", [h("p", {}, message), h("div", { class: "actions" }, no, yes)]);
    let answer = false;
    yes.addEventListener("click", () => { answer = true; dlg.close(); });
    no.addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => resolve(answer));
  });
}

// --- formats -------------------------------------------------------------------------------------

export function money(value) {
  const n = Number(value || 0);
  if (n === 0) return "$0";
  if (Math.abs(n) < 0.01) return `$${n.toFixed(6)}`;
  return `$${n.toFixed(n < 100 ? 4 : 2)}`;
}

export function num(value) {
  return Number(value || 0).toLocaleString("en-US");
}

export function when(seconds) {
  if (!seconds) return "—";
  const d = new Date(seconds * 1000);
  return d.toLocaleString("sv-SE", { hour12: false }).replace("T", " ");
}

export function ago(seconds) {
  if (!seconds) return "—";
  const s = Math.round(Date.now() / 1000 - seconds);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind ? `badge-${kind}` : ""}` }, text);
}

// --- charts (SVG, drawn here: nothing from a CDN) ----------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// series: [{name, points: [[label, value], ...]}]; one colour each; labels shared on the x axis.
export function lineChart(series, { height = 220, format = num, title = "" } = {}) {
  const width = 640;
  const pad = { l: 56, r: 12, t: 12, b: 28 };
  const labels = series[0]?.points.map((p) => p[0]) || [];
  const max = Math.max(1e-9, ...series.flatMap((x) => x.points.map((p) => Number(p[1]) || 0)));
  const x = (i) => pad.l + (labels.length <= 1 ? 0 : (i * (width - pad.l - pad.r)) / (labels.length - 1));
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v / max);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  for (const frac of [0, 0.5, 1]) {
    const v = max * frac;
    svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: pad.l - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, format(v)));
  }
  const step = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % step === 0) svg.append(s("text", { x: x(i), y: height - 8, "text-anchor": "middle", class: "axis" }, label));
  });
  series.forEach((serie, k) => {
    const d = serie.points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(Number(p[1]) || 0).toFixed(1)}`).join("");
    svg.append(s("path", { d, class: `line c${k % 6}` }, s("title", {}, serie.name)));
  });
  const legend = h("div", { class: "legend" }, series.map((serie, k) => h("span", { class: `key c${k % 6}` }, serie.name)));
  return h("figure", { class: "chart-box" }, title ? h("figcaption", {}, title) : null, svg, series.length > 1 ? legend : null);
}

// bars: [[label, value], ...] as horizontal bars.
export function barChart(bars, { format = num, title = "" } = {}) {
  const max = Math.max(1e-9, ...bars.map((b) => Number(b[1]) || 0));
  return h("figure", { class: "chart-box" }, title ? h("figcaption", {}, title) : null,
    h("div", { class: "bars" }, bars.length ? bars.map(([label, value]) => h("div", { class: "bar-row" },
      h("span", { class: "bar-label", title: label }, label),
      h("span", { class: "bar-track" }, h("span", { class: "bar", style: `width:${(100 * (Number(value) || 0)) / max}%` })),
      h("span", { class: "bar-value" }, format(value)))) : h("p", { class: "muted" }, "No data yet.")));
}

export function stat(label, value, id) {
  return h("div", { class: "stat", id }, h("div", { class: "stat-value" }, value), h("div", { class: "stat-label" }, label));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}
