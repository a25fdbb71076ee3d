// Settings › Evals: suites of prompts with expected answers (exact, contains, regex), run through the
// gateway against a model or combo; each run's score, latencies and per-case outputs.
import { del, get, post } from "../api.js";
import {
  ago, badge, busy, checkbox, clear, confirmAction, dialog, errorBox, field, form, h, input, num, section, select, table, when,
} from "../ui.js";

const POLL_MS = 1000;
let listCount = 0;

// A <datalist> of the models (provider/model) and combos the gateway knows, bound to `el`; filled in the
// background (suggestions only: any name may be typed).
export function modelSuggestions(el) {
  listCount += 1;
  const list = h("datalist", { id: `model-suggestions-${listCount}` });
  el.setAttribute("list", list.id);
  Promise.all([get("/api/models/catalog").catch(() => ({ providers: [] })), get("/api/combos").catch(() => ({ combos: [] }))])
    .then(([catalog, combos]) => {
      const names = [];
      for (const c of combos.combos || []) names.push([c.name, "combo"]);
      const providers = (catalog.providers || []).filter((p) => p.active || p.configured)
        .sort((a, b) => Number(b.active) - Number(a.active));
      for (const p of providers) {
        for (const m of p.models?.chat || []) names.push([`${p.prefix || p.id}/${m.id}`, p.name]);
      }
      clear(list, names.map(([value, label]) => h("option", { value }, label)));
    });
  return list;
}

const fmtScore = (score) => (score === null || score === undefined ? "—" : Number(score).toFixed(2));
const fmtMs = (ms) => (ms === null || ms === undefined ? "—" : `${num(ms)} ms`);
const statusBadge = (status) => badge(status, status === "done" ? "ok" : status === "running" ? "warn" : "bad");

function caseRow(index, onRemove) {
  const prompt = h("textarea", { name: "prompt", rows: 2, required: true, maxlength: 32000 });
  const kind = select([["contains", "contains"], ["exact", "exact"], ["regex", "regex"]], { name: "check", value: "contains" });
  const value = input({ name: "value", required: true, maxlength: 2000, autocomplete: "off" });
  const ignore = checkbox("Ignore case", false, { name: "ignoreCase" });
  const legend = h("legend", {});
  const labels = {};
  const promptField = field("Prompt", prompt);
  const kindField = field("Check", kind, "exact: the whole answer (trimmed); contains: a substring; regex: a pattern found in it.");
  const valueField = field("Expected", value);
  const remove = h("button", { type: "button", class: "btn btn-small btn-danger", onclick: () => onRemove(row) }, "Remove case");
  labels.prompt = promptField.querySelector("label");
  labels.kind = kindField.querySelector("label");
  labels.value = valueField.querySelector("label");
  const node = h("fieldset", { class: "case card" }, legend, promptField,
    h("div", { class: "grid2" }, kindField, valueField), h("div", { class: "row spread" }, ignore.node, remove));
  const row = {
    node,
    number(n, count) {
      legend.textContent = `Case ${n}`;
      labels.prompt.textContent = `Prompt (case ${n})`;
      labels.kind.textContent = `Check (case ${n})`;
      labels.value.textContent = `Expected (case ${n})`;
      remove.disabled = count <= 1;
      remove.setAttribute("aria-label", `Remove case ${n}`);
    },
    read: () => ({ prompt: prompt.value, check: { type: kind.value, value: value.value, ignoreCase: ignore.box.checked } }),
  };
  row.number(index, index);
  return row;
}

function suiteEditor(onSaved) {
  const name = input({ name: "name", required: true, maxlength: 200, autocomplete: "off" });
  const description = input({ name: "description", maxlength: 2000, autocomplete: "off" });
  const casesBox = h("div", { class: "cases" });
  const rows = [];
  const renumber = () => rows.forEach((r, i) => r.number(i + 1, rows.length));
  const add = () => {
    const row = caseRow(rows.length + 1, (gone) => {
      rows.splice(rows.indexOf(gone), 1);
      gone.node.remove();
      renumber();
    });
    rows.push(row);
    casesBox.append(row.node);
    renumber();
    return row;
  };
  add();
  const addButton = h("button", { type: "button", class: "btn", onclick: () => add().node.querySelector("textarea").focus() }, "Add case");
  let dlg;
  const editor = form([
    field("Suite name", name),
    field("Description (optional)", description),
    casesBox,
    h("div", { class: "actions" }, addButton),
  ], async () => {
    const suite = { name: name.value.trim(), cases: rows.map((r) => r.read()) };
    if (description.value.trim()) suite.description = description.value.trim();
    const saved = await post("/api/evals", { suite });
    dlg.close();
    await onSaved(saved);
  }, "Create suite");
  dlg = dialog("New eval suite", editor, { wide: true });
  name.focus();
}

function runView(run, suite) {
  const byId = new Map((suite?.cases || []).map((c) => [c.id, c]));
  const results = run.results || [];
  const promptOf = (c) => (typeof c?.prompt === "string" ? c.prompt : (c?.prompt || []).map((m) => `${m.role}: ${m.content}`).join("\n"));
  return h("div", { id: "eval-run", dataset: { run: run.id, status: run.status } },
    h("p", {}, statusBadge(run.status), " ", h("strong", {}, run.suiteName || run.suiteId), " against ", h("code", {}, run.target),
      h("span", { class: "muted" }, ` · started ${when(run.startedAt)}${run.finishedAt ? `, finished ${ago(run.finishedAt)}` : ""}`)),
    h("div", { class: "stats" },
      h("div", { class: "stat", id: "run-score" }, h("div", { class: "stat-value" }, fmtScore(run.score)), h("div", { class: "stat-label" }, "score")),
      h("div", { class: "stat", id: "run-passed" }, h("div", { class: "stat-value" }, `${num(run.passed)} of ${num(run.total)}`),
        h("div", { class: "stat-label" }, "passed")),
      h("div", { class: "stat" }, h("div", { class: "stat-value" }, fmtMs(run.latencyP50Ms)), h("div", { class: "stat-label" }, "p50 latency")),
      h("div", { class: "stat" }, h("div", { class: "stat-value" }, fmtMs(run.latencyMaxMs)), h("div", { class: "stat-label" }, "max latency"))),
    run.status === "running"
      ? h("p", { class: "muted" }, "Running… this view refreshes until the run ends.")
      : table([
        { label: "Case", value: (r) => r.caseId || "—" },
        { label: "Result", value: (r) => (r.passed ? badge("pass", "ok") : badge("fail", "bad")) },
        { label: "Prompt", value: (r) => h("span", { class: "clip" }, promptOf(byId.get(r.caseId)) || "—") },
        { label: "Check", value: (r) => { const c = byId.get(r.caseId)?.check; return c ? `${c.type}${c.ignoreCase ? " (any case)" : ""}: ${c.value}` : "—"; } },
        { label: "Output", value: (r) => (r.error ? h("span", { class: "error-text" }, r.error) : h("code", { class: "clip" }, r.output || "")) },
        { label: "Latency", value: (r) => fmtMs(r.latencyMs), class: "num" },
        { label: "Served by", value: (r) => r.servedBy || "—" },
      ], results, { pageSize: 25, empty: "No results." }));
}

export async function render(container) {
  const suitesBox = h("div", { id: "eval-suites" });
  const runsBox = h("div", { id: "eval-runs" });
  const runBox = h("div", { id: "eval-run-box" }, h("p", { class: "muted" }, "Run a suite, or view one of the recent runs."));
  const suiteSelect = select([], { name: "suiteId", required: true });
  const target = input({ name: "target", required: true, maxlength: 400, autocomplete: "off", placeholder: "openai/gpt-4o-mini or a combo" });
  let suites = [];
  let poll = null;
  const suiteCache = new Map();

  const suiteOf = async (id) => {
    if (!suiteCache.has(id)) {
      try { suiteCache.set(id, await get(`/api/evals/${encodeURIComponent(id)}`)); } catch { suiteCache.set(id, null); }
    }
    return suiteCache.get(id);
  };

  const showRun = async (run) => {
    clearTimeout(poll);
    clear(runBox, runView(run, await suiteOf(run.suiteId)));
    runBox.scrollIntoView({ block: "nearest" });
    if (run.status === "running") {
      poll = setTimeout(async () => {
        if (!container.isConnected) return;
        try {
          const now = await get(`/api/evals/runs/${encodeURIComponent(run.id)}`);
          await showRun(now);
          if (now.status !== "running") await loadLists();
        } catch (err) {
          clear(runBox, errorBox(`Could not read the run: ${err.message}`));
        }
      }, POLL_MS);
    }
  };

  const loadLists = async () => {
    let data;
    try {
      data = await get("/api/evals");
    } catch (err) {
      clear(suitesBox, errorBox(`Could not list the suites: ${err.message}`));
      return;
    }
    suites = data.suites || [];
    const chosen = suiteSelect.value;
    clear(suiteSelect, suites.map((s) => h("option", { value: s.id }, `${s.name} (${s.caseCount} cases)`)));
    if (suites.some((s) => s.id === chosen)) suiteSelect.value = chosen;
    clear(suitesBox, table([
      { label: "Suite", value: (s) => h("strong", {}, s.name) },
      { label: "Description", value: (s) => s.description || "" },
      { label: "Cases", value: (s) => num(s.caseCount), class: "num" },
      { label: "Updated", value: (s) => ago(s.updatedAt) },
      {
        label: "Actions", value: (s) => h("div", { class: "row" },
          h("button", { type: "button", class: "btn btn-small", "aria-label": `Run suite ${s.name}`, onclick: () => {
            suiteSelect.value = s.id;
            target.focus();
          } }, "Run…"),
          h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Delete suite ${s.name}`, onclick: async (e) => {
            const button = e.currentTarget;
            if (!await confirmAction(`Delete the suite "${s.name}" and its runs?`)) return;
            await busy(button, async () => { await del(`/api/evals/${encodeURIComponent(s.id)}`); suiteCache.delete(s.id); await loadLists(); });
          } }, "Delete")),
      },
    ], suites, { pageSize: 10, empty: "No suites yet: create one." }));
    const runs = data.runs || [];
    clear(runsBox, table([
      { label: "Started", value: (r) => when(r.startedAt) },
      { label: "Suite", value: (r) => r.suiteName || r.suiteId },
      { label: "Target", value: (r) => h("code", {}, r.target) },
      { label: "Status", value: (r) => statusBadge(r.status) },
      { label: "Score", value: (r) => fmtScore(r.score), class: "num" },
      { label: "Passed", value: (r) => `${num(r.passed)}/${num(r.total)}`, class: "num" },
      { label: "p50 / max", value: (r) => `${fmtMs(r.latencyP50Ms)} / ${fmtMs(r.latencyMaxMs)}`, class: "num" },
      {
        label: "Actions", value: (r) => h("button", { type: "button", class: "btn btn-small", "aria-label": `View run ${r.id}`,
          onclick: (e) => busy(e.currentTarget, async () => showRun(await get(`/api/evals/runs/${encodeURIComponent(r.id)}`))) }, "View"),
      },
    ], runs, { pageSize: 10, empty: "No runs yet." }));
  };

  const runForm = form([
    h("div", { class: "grid2" },
      field("Suite", suiteSelect),
      field("Target model or combo", target, "Any model as provider/model, or a combo's name.")),
    modelSuggestions(target),
  ], async () => {
    if (!suiteSelect.value) throw new Error("Suite: create a suite first");
    clear(runBox, h("p", { class: "muted" }, "Running…"));
    let run;
    try {
      run = await post("/api/evals", { suiteId: suiteSelect.value, target: target.value.trim() });
    } catch (err) {
      clear(runBox, h("p", { class: "muted" }, "The run did not start."));
      throw err;
    }
    await showRun(run);
    await loadLists();
  }, "Run");

  const newSuite = h("button", { type: "button", class: "btn btn-primary", id: "eval-new-suite" }, "New suite");
  newSuite.addEventListener("click", () => suiteEditor(async (saved) => {
    suiteCache.set(saved.id, saved);
    await loadLists();
    suiteSelect.value = saved.id;
  }));

  clear(container,
    section("Suites",
      h("p", { class: "muted" }, "Each case is one chat request at temperature 0 through the gateway (usage recorded, "
        + "cache bypassed); its answer is checked."),
      h("div", { class: "actions" }, newSuite), suitesBox),
    section("Run a suite", runForm),
    section("Run", runBox),
    section("Recent runs", runsBox));
  await loadLists();
}
