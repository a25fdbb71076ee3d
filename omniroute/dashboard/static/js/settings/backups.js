// Settings › Backups: the database backups (take one, restore one), export and import of the database,
// the data directory archive, and the backup schedule (the "backups" section of /api/settings).
import { api, get, post, put } from "../api.js";
import { badge, busy, checkbox, clear, confirmAction, errorBox, field, form, h, input, section, table, toast, when } from "../ui.js";

export function bytes(n) {
  const value = Number(n || 0);
  if (value < 1024) return `${value} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = value;
  let i = -1;
  do { v /= 1024; i += 1; } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export async function render(container) {
  const listBox = h("div", { id: "backup-list" });
  const scheduleBox = h("div", { id: "backup-schedule" });

  const loadList = async () => {
    try {
      const { backups = [], lastSkipped = null } = await get("/api/db-backups");
      // The shrink guard refused an automatic backup: the database looks wiped next to the newest backup.
      const skipped = lastSkipped ? h("p", { class: "warn-box", role: "alert", id: "backup-skipped" },
        `The ${lastSkipped.reason} backup of ${when(lastSkipped.at)} was skipped: ${lastSkipped.why}.`) : null;
      clear(listBox, skipped, table([
        { label: "Created", value: (b) => when(b.createdAt) },
        { label: "Reason", value: (b) => badge(b.reason, b.reason === "manual" ? "ok" : "") },
        { label: "Size", value: (b) => bytes(b.size), class: "num" },
        { label: "Backup", value: (b) => h("code", { class: "mono" }, b.id) },
        {
          label: "Actions", value: (b) => h("button", {
            type: "button", class: "btn btn-small btn-danger", dataset: { backup: b.id },
            "aria-label": `Restore backup ${b.id}`, onclick: (e) => restore(e.currentTarget, b.id),
          }, "Restore"),
        },
      ], backups, { pageSize: 10, empty: "No backups yet.", caption: `${backups.length} backup(s), newest first` }));
    } catch (err) {
      clear(listBox, errorBox(`Could not list the backups: ${err.message}`));
    }
  };

  const restore = async (button, id) => {
    const ok = await confirmAction(`Restore backup ${id}? The current state is backed up first, then the `
      + "restored data replaces it and is live at once (keys, accounts, combos, settings and usage made since "
      + "this backup are gone).");
    if (!ok) return;
    await busy(button, async () => {
      const result = await post("/api/db-backups", { backupId: id });
      const before = result.backup?.id;
      toast(`Restored ${id}.${before ? ` The state before it was saved as ${before}.` : ""}`);
      await loadList();
    });
  };

  const backUpNow = h("button", { type: "button", class: "btn btn-primary", id: "backup-now" }, "Back up now");
  backUpNow.addEventListener("click", () => busy(backUpNow, async () => {
    const { backup } = await put("/api/db-backups");
    toast(`Backup ${backup.id} made (${bytes(backup.size)}).`);
    await loadList();
  }));

  // Import: the file goes as the raw request body; the API checks it before anything is replaced.
  const file = input({ type: "file", accept: ".sqlite,.sqlite3,.db,application/vnd.sqlite3", required: true, name: "file" });
  const importResult = h("div", { id: "import-result", role: "status" });
  const importForm = form([
    field("Database file (.sqlite)", file, "An export of this or another OmniRoute. It is checked (SQLite header, "
      + "integrity, schema version) before anything is replaced; the current state is backed up first."),
  ], async () => {
    clear(importResult);
    const chosen = file.files?.[0];
    if (!chosen) throw new Error("choose a .sqlite file to import");
    const ok = await confirmAction(`Import ${chosen.name}? It replaces the whole database; the current state is `
      + "backed up first.");
    if (!ok) return;
    const result = await api("POST", "/api/db-backups/import", chosen);
    clear(importResult, h("p", {}, badge("imported", "ok"), ` ${chosen.name}. The state before was saved as `,
      h("code", {}, result.backup?.id || "—"),
      result.migratedFrom ? `; the file was migrated from schema ${result.migratedFrom}.` : "."));
    file.value = "";
    await loadList();
  }, "Import");
  importForm.id = "import-form";

  const loadSchedule = async () => {
    try {
      const settings = await get("/api/settings");
      const cfg = settings.backups || { enabled: true, intervalHours: 24, keep: 10 };
      const enabled = checkbox("Take backups on a schedule", cfg.enabled);
      const interval = input({ type: "number", min: 1, max: 720, step: 1, required: true, value: cfg.intervalHours, name: "intervalHours" });
      const keep = input({ type: "number", min: 1, max: 1000, step: 1, required: true, value: cfg.keep, name: "keep" });
      clear(scheduleBox, form([
        enabled.node,
        h("div", { class: "grid2" },
          field("Interval (hours)", interval, "A backup is taken when the newest is older than this (1–720)."),
          field("Backups kept", keep, "The newest this many are kept, of every kind (1–1000).")),
      ], async () => {
        const saved = await put("/api/settings", {
          backups: { enabled: enabled.box.checked, intervalHours: Number(interval.value), keep: Number(keep.value) },
        });
        const now = saved.backups || {};
        toast(`Backup schedule saved${now.enabled === false ? " (off)" : `: every ${now.intervalHours ?? interval.value} h, `
          + `keeping ${now.keep ?? keep.value}`}.`);
      }, "Save schedule"));
    } catch (err) {
      clear(scheduleBox, errorBox(`Could not read the settings: ${err.message}`));
    }
  };

  clear(container,
    section("Backups",
      h("p", { class: "muted" }, "Backups of the database, kept in the data directory's backups folder. "
        + "A restore backs up the current state first."),
      h("div", { class: "actions" }, backUpNow),
      listBox),
    section("Export",
      h("p", { class: "muted" }, "The database as one SQLite file, or the whole data directory (with the "
        + "encryption key the stored upstream keys need) as a .tar.gz archive."),
      h("div", { class: "actions" },
        h("a", { class: "btn", href: "/api/db-backups/export", download: "", id: "export-db" }, "Download database (.sqlite)"),
        h("a", { class: "btn", href: "/api/db-backups/exportAll", download: "", id: "export-all" }, "Download data directory (.tar.gz)"))),
    section("Import", importForm, importResult),
    section("Schedule", scheduleBox));
  await Promise.all([loadList(), loadSchedule()]);
}
