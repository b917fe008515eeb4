// The results grid (Tabulator): sort by header, resizable columns, virtual scrolling, values
// shown as a database person reads them (NULL apart, numbers right-aligned with thousands
// separators, bytes as hex, JSON as text), a click on a cell to see and copy all of it, and
// keyboard cell navigation (arrows, Home/End, PageUp/PageDown, Enter, Ctrl+C).
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
        // Out of the Tab order unless it is the grid's one Tab stop (cellKeyboard).
        if (!node.hasAttribute("tabindex")) node.setAttribute("tabindex", "-1");
        node.classList.toggle("null", shown === null);
        node.classList.toggle("num", kind === "number");
        node.dataset.kind = kind;
        return shown === null ? "NULL" : escapeHtml(shown);
      },
      cellClick: (event, cell) => onCell({ column, kind, value: cell.getValue() }),
    };
  });
  // What a cell holds, by its column's field: what Enter and Ctrl+C act on.
  const described = Object.fromEntries(data.columns.map((column, index) => [`c${index}`, { column, kind: kinds[index] }]));
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
    // The keyboard reaches the rows through their cells (below), not the scrolling box.
    holder.setAttribute("tabindex", "-1");
    element.setAttribute("aria-rowcount", String(table.getDataCount() + 1));
    // The header row is row 1 of the count; the data rows are numbered from 2 (below).
    const header = element.querySelector(".tabulator-headers");
    if (header) header.setAttribute("aria-rowindex", "1");
  });
  cellKeyboard(table, element, described, onCell);
  table.on("scrollVertical", () => {
    if (nearEnd(table)) onNearEnd();
  });
  table.on("dataSorted", (sorters) => onSorted(sorters.length > 0));
  return table;
}

/** Keyboard cell navigation (the ARIA grid pattern): one cell of the grid is in the Tab
 * order at a time (roving tabindex), arrows move it, Home/End go along its row (with Ctrl,
 * to the grid's first/last cell), PageUp/PageDown a screenful of rows, Enter or Space opens
 * the value viewer and Ctrl+C copies the value. Tabulator draws only the rows in view, so
 * the active cell is kept as a position (among the rows as sorted) and drawn into view
 * before it takes focus; when it is out of view, the first drawn cell is the Tab stop. */
function cellKeyboard(table, element, described, onCell) {
  let active = { row: 0, col: 0 };
  const rowsShown = () => table.getRows("active");
  const fields = () => table.getColumns().map((column) => column.getField());
  const cellAt = ({ row, col }) => {
    const found = rowsShown()[row];
    return found ? found.getCell(fields()[col]) : null;
  };

  function markTabStop() {
    // Only the rows in view exist. Tabulator's public getElement() builds a row not drawn
    // yet (building them all made every column as wide as maxInitialWidth), so drawn rows
    // are told apart by the element a row holds, which builds nothing.
    const drawn = new Set(element.querySelectorAll(".tabulator-row"));
    const isDrawn = (row) => Boolean(row) && drawn.has(row._row.element);
    const rows = rowsShown();
    rows.forEach((row, index) => {
      // Where each drawn row stands (the header is row 1).
      if (isDrawn(row)) row._row.element.setAttribute("aria-rowindex", String(index + 2));
    });
    element.querySelectorAll('.tabulator-cell[tabindex="0"]').forEach((node) => node.setAttribute("tabindex", "-1"));
    const activeRow = rows[active.row];
    const node = isDrawn(activeRow)
      ? activeRow.getCell(fields()[active.col]).getElement()
      : element.querySelector(".tabulator-row .tabulator-cell");
    if (node) node.setAttribute("tabindex", "0");
  }

  async function moveTo(row, col) {
    const rows = rowsShown();
    if (!rows.length) return;
    const clamp = (value, high) => Math.max(0, Math.min(value, high));
    active = { row: clamp(row, rows.length - 1), col: clamp(col, fields().length - 1) };
    try {
      // Draws the row if it is out of view. (Not Tabulator's scrollToColumn, whose promise
      // never settles for a column already in view: focus() scrolls sideways.)
      await rows[active.row].scrollTo("nearest", false);
    } catch (ignored) {
      // A row Tabulator cannot scroll to is focused where it is drawn, if it is.
    }
    markTabStop();
    cellAt(active).getElement().focus();
  }

  /** The position of a drawn cell (a click, or Tab onto the first drawn cell). */
  function positionOf(node) {
    const rowNode = node.closest(".tabulator-row");
    const row = rowsShown().findIndex((candidate) => candidate._row.element === rowNode); // builds nothing (markTabStop)
    const col = [...rowNode.querySelectorAll(".tabulator-cell")].indexOf(node);
    return row < 0 || col < 0 ? null : { row, col };
  }

  function pageRows() {
    const holder = element.querySelector(".tabulator-tableholder");
    const drawn = element.querySelector(".tabulator-row");
    return Math.max(1, Math.floor((holder ? holder.clientHeight : 300) / (drawn ? drawn.offsetHeight || 24 : 24)) - 1);
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (ignored) {
      // No clipboard API (an insecure origin): a hidden text area and the old command.
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("aria-hidden", "true");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    if (window.QB && window.QB.announce) window.QB.announce("Copied the cell's value.");
  }

  element.addEventListener("focusin", (event) => {
    const node = event.target.closest && event.target.closest(".tabulator-cell");
    if (!node || !element.contains(node)) return;
    const position = positionOf(node);
    if (position) active = position;
    markTabStop();
  });

  element.addEventListener("keydown", (event) => {
    const node = event.target.closest && event.target.closest(".tabulator-row .tabulator-cell");
    if (!node) return;
    const { row, col } = active;
    const last = rowsShown().length - 1;
    const ctrl = event.ctrlKey || event.metaKey;
    const moves = {
      ArrowUp: [row - 1, col],
      ArrowDown: [row + 1, col],
      ArrowLeft: [row, col - 1],
      ArrowRight: [row, col + 1],
      Home: ctrl ? [0, 0] : [row, 0],
      End: ctrl ? [last, fields().length - 1] : [row, fields().length - 1],
      PageUp: [row - pageRows(), col],
      PageDown: [row + pageRows(), col],
    };
    if (event.key in moves && !event.altKey) {
      event.preventDefault();
      moveTo(...moves[event.key]);
      return;
    }
    const cell = cellAt(active);
    if (!cell) return;
    const { column, kind } = described[cell.getField()];
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onCell({ column, kind, value: cell.getValue() });
    } else if (ctrl && event.key.toLowerCase() === "c" && !String(window.getSelection())) {
      event.preventDefault();
      copy(fullText(cell.getValue(), kind));
    }
  });

  // Drawn rows change as the grid scrolls or sorts: the Tab stop follows, once the frame
  // is laid out (touching cells while Tabulator lays out its columns made them all as wide
  // as maxInitialWidth).
  const later = () => requestAnimationFrame(markTabStop);
  table.on("renderComplete", later);
  table.on("scrollVertical", later);
  table.on("dataSorted", () => {
    active = { row: 0, col: active.col };
  });
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
