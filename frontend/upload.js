// The CSV upload dialog of my sandbox (POST /api/v1/sandboxes/{id}/uploads/preview, then
// …/uploads): frontend/sandbox.js opens it from the sandbox bar.

/** "Upload CSV…": a file into my sandbox as a new table. Preview first (the columns with
 * the types the server inferred, the first rows, the lines it would leave out); Import
 * is offered only once the preview of this very file is shown.
 * @param {object} hooks what the workspace lends: the API client, el, errorMessage, and
 *   loadSchema to show the new table.
 */
export function openUploadDialog({ api, el, errorMessage, loadSchema }, sandboxId) {
  const file = el("input", { type: "file", id: "upload-file", accept: ".csv,.tsv,.txt,text/csv,text/plain" });
  const table = el("input", { type: "text", id: "upload-table", maxlength: "63", autocomplete: "off",
    "aria-describedby": "upload-table-hint" });
  const error = el("p", { id: "upload-error", class: "alert error", role: "alert", hidden: "" });
  const status = el("p", { id: "upload-status", role: "status" });
  const preview = el("div", { id: "upload-preview" });
  const previewButton = el("button", { type: "button", id: "upload-preview-button", onclick: () => look() }, "Preview");
  const importButton = el("button", { type: "button", class: "primary", id: "upload-import", disabled: "",
    onclick: () => load() }, "Import");
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
  };
  const form = () => {
    const data = new FormData();
    data.append("file", file.files[0]);
    if (table.value.trim()) data.append("table", table.value.trim());
    return data;
  };
  file.addEventListener("change", () => {
    importButton.disabled = true; // a new file: its own preview first
    preview.replaceChildren();
    status.textContent = "";
    error.hidden = true;
    if (file.files[0] && !table.value.trim()) table.value = tableNameFrom(file.files[0].name);
  });
  async function look() {
    error.hidden = true;
    if (!file.files[0]) return fail("Choose a CSV file first.");
    status.textContent = "Reading the file…";
    const answer = await api("POST", `/api/v1/sandboxes/${sandboxId}/uploads/preview`, form());
    status.textContent = "";
    if (!answer.ok) return fail(errorMessage(answer));
    const shown = answer.data;
    status.textContent = `${shown.row_count} row(s) to import` +
      (shown.error_count ? `; ${shown.error_count} line(s) would be left out.` : ".");
    preview.replaceChildren(columnsTable(el, shown), firstRows(el, shown), linesLeftOut(el, shown));
    importButton.disabled = false;
  }
  async function load() {
    error.hidden = true;
    if (!table.value.trim()) {
      table.focus();
      return fail("Name the new table.");
    }
    importButton.disabled = true;
    status.textContent = "Importing…";
    const answer = await api("POST", `/api/v1/sandboxes/${sandboxId}/uploads`, form());
    if (!answer.ok) {
      status.textContent = "";
      importButton.disabled = false;
      return fail(errorMessage(answer));
    }
    const done = answer.data;
    status.textContent = `Imported ${done.rows_loaded} row(s) into table ${done.table}.` +
      (done.error_count ? ` ${done.error_count} line(s) were left out:` : "");
    preview.replaceChildren(linesLeftOut(el, done));
    loadSchema(); // the new table appears in the schema list
  }
  const dialog = el("dialog", { id: "upload-dialog", class: "dialog wide", "aria-labelledby": "upload-dialog-title" },
    el("h2", { id: "upload-dialog-title" }, "Upload a CSV into your sandbox"),
    el("p", { class: "small muted" }, "It becomes a new table in your sandbox only; the real source is not touched."),
    el("label", { for: "upload-file" }, "CSV file (UTF-8, a header line first)"), file,
    el("label", { for: "upload-table" }, "Table name"), table,
    el("p", { id: "upload-table-hint", class: "small muted" }, "Letters, digits and _, not starting with a digit."),
    error, status, preview,
    el("div", { class: "actions" }, previewButton, importButton,
      el("button", { type: "button", id: "upload-close", onclick: close }, "Close")));
  dialog.addEventListener("cancel", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

/** A file name as a table name the server takes: `Sales 2024.csv` → `sales_2024`. */
function tableNameFrom(fileName) {
  const name = fileName.replace(/\.[^.]*$/, "").toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "");
  return (/^[0-9]/.test(name) ? `t_${name}` : name || "upload").slice(0, 63);
}

function simpleTable(el, id, caption, headers, rows) {
  return el("div", { class: "table-scroll" },
    el("table", { id, class: "list" },
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, headers.map((name) => el("th", { scope: "col" }, name)))),
      el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell === null ? "NULL" : String(cell))))))));
}

const columnsTable = (el, shown) => simpleTable(el, "upload-columns", "Columns, with the types they will have",
  ["Column", "Type"], shown.columns.map((column) => [column.name, column.type]));

const firstRows = (el, shown) => simpleTable(el, "upload-rows", "First rows",
  shown.columns.map((column) => column.name), shown.rows.slice(0, 5));

/** The lines the server left out (or would), each with its number and why. */
function linesLeftOut(el, shown) {
  if (!shown.errors.length) return el("span", {});
  const more = shown.error_count - shown.errors.length;
  return el("ul", { id: "upload-errors", class: "upload-errors", "aria-label": "Lines left out" },
    shown.errors.map((problem) => el("li", {}, `Line ${problem.line}: ${problem.message}`)),
    more > 0 ? [el("li", {}, `… and ${more} more`)] : []);
}
