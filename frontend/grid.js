// The results grid (Tabulator): sort by header, resizable columns, virtual scrolling, values
// shown as a database person reads them (NULL apart, numbers right-aligned with thousands
// separators, bytes as hex, JSON as text), a click on a cell to see and copy all of it.
// A bundle of its own, loaded with the first result (the workspace's first load stays light).
import "tabulator-tables/dist/css/tabulator_simple.min.css";
import {
  FormatModule,
  InteractionModule,
  ResizeColumnsModule,
  SortModule,
  Tabulator,
} from "tabulator-tables";

Tabulator.registerModule([FormatModule, InteractionModule, ResizeColumnsModule, SortModule]);

const NUMERIC = /^(tiny|small|medium|big)?int|integer|numeric|decimal|real|double|float|money|serial|number|^oid$/i;
const BYTES = /bytea|blob|binary|bytes/i;
const DECIMAL_TEXT = /^-?\d+(\.\d+)?$/;

/** What a column holds, from its engine type and, failing that, its first values. */
function kindOf(column, index, rows) {
  const type = column.type || "";
  if (BYTES.test(type)) return "bytes";
  if (NUMERIC.test(type)) return "number";
  const sample = rows.slice(0, 50).map((row) => row[index]).filter((value) => value !== null);
  if (sample.length && sample.every((value) => typeof value === "number")) return "number";
  return "text";
}

/** Thousands separators on the integer part only, as text: big integers and decimals come
 * as exact strings and must not pass through a float. */
function groupDigits(text) {
  const [whole, fraction] = text.split(".");
  const sign = whole.startsWith("-") ? "-" : "";
  const digits = sign ? whole.slice(1) : whole;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + grouped + (fraction === undefined ? "" : "." + fraction);
}

/** Bytes (base64 in the API's JSON) as PostgreSQL writes them: \x followed by hex. */
export function hexOf(base64) {
  try {
    const raw = atob(base64);
    let hex = "\\x";
    for (let i = 0; i < raw.length; i++) hex += raw.charCodeAt(i).toString(16).padStart(2, "0");
    return hex;
  } catch (ignored) {
    return String(base64);
  }
}

/** The full text of a value, as the cell dialog shows it. */
export function fullText(value, kind) {
  if (value === null) return "NULL";
  if (typeof value === "object") return JSON.stringify(value, null, 2);
  if (kind === "bytes") return hexOf(value);
  return String(value);
}

function display(value, kind) {
  if (value === null) return null;
  if (typeof value === "object") return JSON.stringify(value);
  if (kind === "bytes") return hexOf(value);
  if (kind === "number" && (typeof value === "number" || DECIMAL_TEXT.test(value))) {
    return typeof value === "number" && !Number.isInteger(value) ? value.toLocaleString("en-US", { maximumFractionDigits: 20 }) : groupDigits(String(value));
  }
  return String(value);
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function numericSorter(a, b) {
  if (a === null || b === null) return (a === null) - (b === null);
  return Number(a) - Number(b);
}

const asRows = (rows) => rows.map((row) => Object.fromEntries(row.map((value, index) => [`c${index}`, value])));

/** The grid of a result. `onNearEnd` hears a scroll close to the last row (to fetch the
 * server's next page), `onSorted` whether the rows are now sorted by a header. */
function render(element, data, { onCell, onNearEnd = () => {}, onSorted = () => {} }) {
  const kinds = data.columns.map((column, index) => kindOf(column, index, data.rows));
  const columns = data.columns.map((column, index) => {
    const kind = kinds[index];
    const field = `c${index}`;
    return {
      title: column.name,
      field,
      titleFormatter: () =>
        `${escapeHtml(column.name)}<span class="type">${escapeHtml(column.type || "")}</span>`,
      hozAlign: kind === "number" ? "right" : "left",
      headerHozAlign: kind === "number" ? "right" : "left",
      sorter: kind === "number" ? numericSorter : "string",
      resizable: true,
      maxInitialWidth: 420,
      formatter: (cell) => {
        const shown = display(cell.getValue(), kind);
        const node = cell.getElement();
        node.classList.toggle("null", shown === null);
        node.classList.toggle("num", kind === "number");
        node.dataset.kind = kind;
        return shown === null ? "NULL" : escapeHtml(shown);
      },
      cellClick: (event, cell) => onCell({ column, kind, value: cell.getValue() }),
    };
  });
  const rows = asRows(data.rows);
  element.replaceChildren();
  const table = new Tabulator(element, {
    data: rows,
    columns,
    layout: "fitDataFill",
    // A fixed height makes Tabulator draw only the rows in view (virtual scrolling).
    height: rows.length > 15 ? "min(55vh, 560px)" : false,
    renderVertical: "virtual",
    headerSortClickElement: "header",
    columnHeaderVertAlign: "bottom",
    placeholder: "No rows",
  });
  // Tabulator builds itself asynchronously: its sort functions exist once it is built.
  table.qbBuilt = new Promise((resolve) => table.on("tableBuilt", resolve));
  table.qbBuilt.then(() => {
    // Tabulator makes its scrolling box focusable (arrows scroll it) but gives it no role,
    // which role=grid does not allow (axe: aria-required-children): the box becomes the
    // rows' group, the table inside it only a wrapper.
    const holder = element.querySelector(".tabulator-tableholder");
    const rows = holder && holder.querySelector(".tabulator-table");
    if (!holder || !rows) return;
    holder.setAttribute("role", "rowgroup");
    rows.setAttribute("role", "none");
  });
  table.on("scrollVertical", () => {
    if (nearEnd(table)) onNearEnd();
  });
  table.on("dataSorted", (sorters) => onSorted(sorters.length > 0));
  return table;
}

/** Rows of the server's next page, after those shown; a sort in force sorts them in too. */
async function append(table, rows) {
  await table.qbBuilt;
  await table.addData(asRows(rows), false);
  const sorters = table.getSorters();
  if (sorters.length) table.setSort(sorters.map((sorter) => ({ column: sorter.field, dir: sorter.dir })));
}

/** Whether the view is within a few rows of the grid's end (or shows all of it). */
function nearEnd(table) {
  const holder = table.element.querySelector(".tabulator-tableholder");
  if (!holder) return false;
  return holder.scrollTop + holder.clientHeight >= holder.scrollHeight - 200;
}

window.QBGrid = { render, fullText, append, nearEnd };
