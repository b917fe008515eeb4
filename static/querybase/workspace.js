/* The query workspace: editor, tabs, schema browser, parameters, results, write requests.
 *
 * An ES module bundled by esbuild (frontend/build.mjs) into build/static/querybase/workspace.js,
 * which is the file the page loads. Heavy parts come on first use: the SQL formatter and the
 * charts are bundles of their own (see bundle()). */
import { createEditor } from "@querybase/editor.js";
import { createSandbox } from "@querybase/sandbox.js";
import { Drafts, titleOf, unsaved } from "@querybase/tabs.js";

const { api, errorMessage, el, statementsTable } = window.QB;
const $ = (id) => document.getElementById(id);
const sources = JSON.parse($("sources-data").textContent);
const initial = JSON.parse($("initial-data").textContent);
const bundles = JSON.parse($("bundle-urls").textContent);
const DEFAULT_SQL = "SELECT * FROM customers LIMIT 50;";
const picker = $("datasource");
const errorBox = $("error");
let result = null; // the run on screen, with what was sent for it (export reads that)
let grid = null; // its Tabulator
window.qbGrid = () => grid; // for tests and the browser console

// Editor and tabs ----------------------------------------------------------------------------
const run = () => submit(false);
const editor = createEditor($("sql"), {
  keys: { run, runStatement: () => submit(false, { statement: true }), format: formatSql },
  onChange: () => {
    if (switching) return; // another tab put on screen: showTab analyses it
    drafts.update({ sql: editor.getValue() });
    editor.clearErrors();
    renderTabs();
    clearTimeout(analyseTimer);
    analyseTimer = setTimeout(renderParams, 200);
  },
});
window.qbEditor = editor; // for tests and the browser console
let analyseTimer = null;

const drafts = new Drafts({ sql: DEFAULT_SQL, datasource: sources[0].id }, document.body.dataset.user);
let switching = false; // true while a tab's content is put on screen (not an edit)

function renderTabs() {
  const active = drafts.active;
  $("tab-list").replaceChildren(
    ...drafts.tabs.map((tab, index) => {
      const selected = tab.id === active.id;
      const title = titleOf(tab, index) + (unsaved(tab) ? " •" : "");
      return el("div", { class: "qtab" + (selected ? " active" : ""), "data-tab": tab.id },
        el("button", { type: "button", class: "qtab-open", "aria-current": String(selected),
                       title: tab.saved ? `Saved query “${tab.saved.name}”` : "Draft", onclick: () => openTab(tab.id) }, title),
        el("button", { type: "button", class: "qtab-close", "aria-label": `Close ${title}`, title: "Close tab",
                       onclick: () => closeTab(tab.id) }, "×"));
    })
  );
  const saved = active.saved;
  $("document-name").textContent = saved ? `Saved query: ${saved.name}${unsaved(active) ? " (edited)" : ""}` : "Draft (not saved)";
  $("save").textContent = saved && saved.mine ? "Save" : "Save…";
  $("save-as").hidden = !(saved && saved.mine);
}

async function openTab(id) {
  drafts.activate(id);
  await showTab();
}

function closeTab(id) {
  const tab = drafts.tab(id);
  if (unsaved(tab) && !window.confirm(`“${tab.saved.name}” has edits that are not saved. Close it anyway?`)) return;
  drafts.close(id, { sql: "", datasource: Number(picker.value) });
  showTab();
}

/** Put the active tab on screen: its source, SQL, parameters and chart. */
async function showTab() {
  const tab = drafts.active;
  switching = true;
  const before = picker.selectedIndex;
  const sourceChanged = tab.datasource && String(tab.datasource) !== picker.value
    && sources.some((item) => item.id === tab.datasource);
  if (sourceChanged) picker.value = String(tab.datasource);
  if (!tab.datasource) drafts.update({ datasource: Number(picker.value) });
  sandbox.show(tab.sandbox); // the real source, my sandbox or one shared with me
  const placeChanged = picker.selectedIndex !== before;
  if (editor.getValue() !== tab.sql) editor.setValue(tab.sql);
  switching = false;
  editor.clearErrors();
  renderTabs();
  clearResult();
  if (placeChanged || !schemaLoaded) loadSchema();
  $("param-fields").replaceChildren(); // the new rows take the tab's values (paramRow)
  await renderParams();
}

$("new-tab").addEventListener("click", () => {
  drafts.add({ sql: "", datasource: Number(picker.value), sandbox: sandbox.place() });
  showTab();
  editor.focus();
});

// Leaving with edits to a saved query that are not saved: the browser asks first. Drafts
// never saved are kept in this browser, so a reload loses nothing and asks nothing.
window.addEventListener("beforeunload", (event) => {
  if (drafts.tabs.some(unsaved)) {
    event.preventDefault();
    event.returnValue = "";
  }
});

// Lazily loaded bundles ------------------------------------------------------------------------
const loading = {};
/** Load a bundle of its own (a script, and its style sheet when it has one) once. */
function bundle(name) {
  if (!loading[name]) {
    loading[name] = new Promise((resolve, reject) => {
      const { script, style } = bundles[name];
      if (style) document.head.append(el("link", { rel: "stylesheet", href: style }));
      const tag = el("script", { src: script });
      tag.addEventListener("load", resolve);
      tag.addEventListener("error", () => {
        delete loading[name];
        reject(new Error(`could not load ${name}`));
      });
      document.head.append(tag);
    });
  }
  return loading[name];
}

async function formatSql() {
  try {
    await bundle("format");
  } catch (failure) {
    showFailure("Could not format", String(failure));
    return;
  }
  const selected = editor.selection();
  try {
    const formatted = window.QBFormat.format(selected ? selected.text : editor.getValue(), source().engine);
    if (selected) editor.replaceSelection(formatted);
    else editor.setValue(formatted);
  } catch (failure) {
    showFailure("Could not format this SQL", failure.message.split("\n")[0]);
  }
}
$("format").addEventListener("click", formatSql);

// Schema browser ------------------------------------------------------------------------
function source() {
  return sources.find((item) => String(item.id) === picker.value);
}

// Sandboxes (the one-click path): frontend/sandbox.js, called at a few points below.
const sandbox = createSandbox({
  $, api, el, errorMessage, picker, source,
  showFailure: (title, message) => showFailure(title, message),
  loadSchema: () => loadSchema(),
  runAgain: () => submit(false),
});

let schemaLoaded = false;
let schemaShown = 0; // the last schema asked for: an older answer arriving late is dropped
async function loadSchema() {
  schemaLoaded = true;
  const ticket = ++schemaShown;
  const list = $("schema");
  list.replaceChildren(el("li", { class: "muted" }, "Loading…"));
  editor.setDialect(source().engine);
  if (!source().can_read) {
    list.replaceChildren(el("li", { class: "muted" }, "You may request writes here, but not read it."));
    editor.setSchema({});
    return;
  }
  // A sandbox has a schema of its own (its tables, and each table's indexes).
  const url = await sandbox.schemaUrl();
  if (ticket !== schemaShown) return;
  if (sandbox.chosen() && !url) {
    list.replaceChildren(el("li", { class: "alert error" }, "Your sandbox could not be prepared."));
    return;
  }
  const answer = await api("GET", url || `/api/v1/datasources/${picker.value}/schema`);
  if (ticket !== schemaShown) return;
  if (!answer.ok) {
    list.replaceChildren(el("li", { class: "alert error" }, errorMessage(answer)));
    return;
  }
  const tables = {};
  list.replaceChildren(
    ...answer.data.tables.map((table) => {
      tables[table.name] = table.columns.map((column) => column.name);
      return schemaItem(table);
    })
  );
  editor.setSchema(tables);
  filterSchema();
}

/** A table of the schema tree. Its name and columns are buttons, so the keyboard opens a
 * table (Enter/Space) and inserts a column as a click does. Views and materialized views
 * are marked ◇; a partitioned table says how many partitions it has (they are not listed
 * as tables), each named in the tooltip with its bound. */
function schemaItem(table) {
  const columns = el("ul", { class: "columns", hidden: "" },
    table.columns.map((column) =>
      el("li", { "data-column": column.name },
        el("button", { type: "button", class: "column", title: `Insert ${column.name}`, onclick: () => insert(column.name) },
          column.name, el("span", { class: "type" }, column.type)))));
  sandbox.addIndexes(table, columns);
  const parts = table.partitions || [];
  const name = el("button", {
    type: "button", class: "table-name", "aria-expanded": "false",
    title: table.kind + parts.map((part) => `\n${part.name}: ${part.bound}`).join(""),
  }, (table.kind.endsWith("view") ? "◇ " : "▸ ") + table.name,
  parts.length ? el("span", { class: "type partitions" }, ` ${parts.length} partition${parts.length === 1 ? "" : "s"}`) : "");
  const add = el("button", { type: "button", class: "insert", title: "Insert the table name",
    "aria-label": `Insert ${table.name}`, onclick: () => insert(table.name) }, "+");
  return el("li", { class: "table", "data-table": table.name, "data-kind": table.kind }, name, add, columns);
}

function insert(text) {
  editor.replaceSelection(text);
  editor.focus();
}

/** Tables whose name matches stay as they are; a table kept for its columns shows only
 * those columns, opened, so "email" finds customers.email. */
function filterSchema() {
  const needle = $("schema-filter").value.trim().toLowerCase();
  document.querySelectorAll("#schema > li.table").forEach((item) => {
    const columns = [...item.querySelectorAll("li[data-column]")];
    const byName = !needle || item.dataset.table.toLowerCase().includes(needle);
    const matching = needle ? columns.filter((column) => column.dataset.column.toLowerCase().includes(needle)) : [];
    item.hidden = !byName && !matching.length;
    columns.forEach((column) => (column.hidden = !byName && !matching.includes(column)));
    const list = item.querySelector("ul.columns");
    list.hidden = byName ? item.dataset.opened !== "true" : false;
    item.querySelector(".table-name").setAttribute("aria-expanded", String(!list.hidden));
    item.classList.toggle("matched-by-column", !byName && matching.length > 0);
  });
}
$("schema").addEventListener("click", (event) => {
  const name = event.target.closest(".table-name");
  if (!name) return;
  const list = name.parentElement.querySelector("ul.columns");
  list.hidden = !list.hidden;
  name.setAttribute("aria-expanded", String(!list.hidden));
  name.parentElement.dataset.opened = String(!list.hidden);
});

// Parameters and verdict: the server's own scanner finds $1, $2 … or :name in code (never
// in strings, comments or dollar quotes) and says whether the SQL runs at once -----------
let analysed = 0;
async function renderParams() {
  const sql = editor.getValue();
  const ticket = ++analysed;
  const keys = [];
  let verdict = "";
  if (sql.trim() && picker.value) {
    const answer = await api("POST", "/api/v1/queries/analyze", { datasource: Number(picker.value), sql });
    if (ticket !== analysed) return; // the text changed meanwhile: a newer answer follows
    if (answer.ok) {
      keys.push(...answer.data.placeholders.map((placeholder) => placeholder.key));
      const classification = answer.data.classification;
      if (unparseable(classification)) verdict = "Could not parse this SQL.";
      else if (classification.verdict === "read") verdict = "Read: runs at once.";
      else if (sandbox.chosen()) verdict = "Not a read: runs at once in the sandbox.";
      else verdict = "Not a read: it will need an approval.";
    }
  }
  const fields = $("param-fields");
  const previous = Object.fromEntries([...fields.querySelectorAll("[data-key]")].map((row) => [row.dataset.key, row]));
  const kept = drafts.active.params || {};
  fields.replaceChildren(...keys.map((key) => previous[key] || paramRow(key, kept[key])));
  $("params").hidden = keys.length === 0;
  $("verdict").textContent = verdict;
}

/** The classifier's reasons for text its scanner could not read (an unterminated string or
 * comment): such SQL fails closed as a write, but what the user needs is to fix it. */
function parseProblems(classification) {
  return classification.statements
    .flatMap((statement) => statement.reasons)
    .filter((reason) => /could not read this|cannot be parsed/.test(reason));
}
const unparseable = (classification) => parseProblems(classification).length > 0;

/** A parameter's row, holding what the tab's draft kept for it ({ value, type }), if anything. */
function paramRow(key, draft) {
  const row = el("div", { class: "param", "data-key": key },
    el("label", {}, key),
    el("input", { type: "text", value: draft ? draft.value : "", "aria-label": key }),
    el("select", { "aria-label": key + " type" },
      el("option", { value: "text" }, "text"), el("option", { value: "number" }, "number"),
      el("option", { value: "boolean" }, "true/false"), el("option", { value: "null" }, "NULL")));
  if (draft) row.querySelector("select").value = draft.type;
  return row;
}

function paramValues() {
  const rows = [...$("param-fields").querySelectorAll("[data-key]")];
  if (!rows.length) return null;
  const value = (row) => {
    const text = row.querySelector("input").value;
    switch (row.querySelector("select").value) {
      case "number": return Number(text);
      case "boolean": return text.trim().toLowerCase() === "true";
      case "null": return null;
      default: return text;
    }
  };
  if (rows[0].dataset.key.startsWith("$")) return rows.map(value);
  return Object.fromEntries(rows.map((row) => [row.dataset.key.slice(1), value(row)]));
}

/** What the parameter fields hold, as typed, for the tab's draft. */
function paramDraft() {
  return Object.fromEntries([...$("param-fields").querySelectorAll("[data-key]")].map((row) =>
    [row.dataset.key, { value: row.querySelector("input").value, type: row.querySelector("select").value }]));
}

$("params").addEventListener("input", () => drafts.update({ params: paramDraft() }));
$("params").addEventListener("change", () => drafts.update({ params: paramDraft() }));

// Running ----------------------------------------------------------------------------------
// The first answer comes after about a second at most: a read that finishes within the
// server's inline budget comes back with its rows, a longer one as a job id, which is what
// Stop needs to reach it. The job is then followed with long polls.
const FIRST_WAIT_SECONDS = 1;
const POLL_WAIT_SECONDS = 10;
let running = null; // the submission in flight: { id, stopRequested, started, ticker }

/** The text a run sends and where it starts in the editor: the selection if there is one;
 * with `statement`, the statement under the cursor; else the whole editor. */
function textToRun(statement) {
  const selected = editor.selection();
  if (selected && selected.text.trim()) return selected;
  const found = statement && editor.statementAtCursor();
  return found || { text: editor.getValue(), from: 0 };
}

/** `again` is a result on screen to read once more (Refresh): its SQL runs where that result
 * was read (its source, or the sandbox it ran in), whatever the picker points at now. */
async function submit(requestApproval, { fresh = false, statement = false, again = null } = {}) {
  if (running) return;
  hideFailure();
  $("run-note").hidden = true;
  $("write-panel").hidden = requestApproval ? $("write-panel").hidden : true;
  const piece = again ? null : textToRun(statement);
  const sent = again ? again.sent : { datasource: Number(picker.value), sql: piece.text, params: paramValues() };
  errorOrigin = piece ? { sql: piece.text, from: piece.from } : null;
  if (!sent.sql.trim()) {
    errorOrigin = null;
    showFailure("Nothing to run", "The editor is empty: write a query first.");
    return;
  }
  const body = { ...sent, ...(again ? again.where : {}), wait: FIRST_WAIT_SECONDS, request_approval: requestApproval, reason: $("reason").value };
  if (fresh) body.max_age = 0; // Refresh: never an answer from the cache
  startRunning();
  try {
    // SQL picked to run in a sandbox goes there; a result read again keeps its own place.
    if (!again && !(await sandbox.prepare(body))) return;
    let answer = await api("POST", "/api/v1/queries", body);
    if (answer.status === 202 && answer.data.approval) {
      window.location.href = `/approvals/${answer.data.approval.id}`;
      return;
    }
    while (answer.status === 202) {
      // A long read became a job: follow it until it finishes, or stop it.
      running.id = answer.data.id;
      if (running.stopRequested) await cancelRun(running.id);
      answer = await api("GET", `/api/v1/queries/${running.id}?wait=${POLL_WAIT_SECONDS}`);
      if (!answer.ok) break;
      if (["queued", "running"].includes(answer.data.status)) {
        answer = { status: 202, ok: true, data: answer.data };
      } else if (answer.data.approval) {
        // Long SQL is classified by a worker, which made this write a request.
        window.location.href = `/approvals/${answer.data.approval}`;
        return;
      } else if (answer.data.status === "cancelled") {
        const previous = $("results").hidden ? "" : " The results below are from the previous run.";
        showNote(`Stopped after ${elapsedText()}.${previous}`);
        return;
      } else if (answer.data.status !== "succeeded") {
        showFailure(failureTitle(answer.data.error), answer.data.error ? answer.data.error.message : `The query ${answer.data.status}.`);
        return;
      }
    }
    if (answer.status === 409 && answer.data.error.code === "approval_required") {
      const classification = answer.data.error.details.classification;
      if (unparseable(classification)) {
        showFailure("Could not parse this SQL", parseProblems(classification).join("\n"));
        $("results").hidden = true;
      } else {
        showWritePanel(classification);
        sandbox.offer(answer.data.error.details.sandbox);
      }
    } else if (!answer.ok) {
      showFailure(failureTitle(answer.data && answer.data.error), errorMessage(answer));
      $("results").hidden = true;
    } else {
      await showResult(answer.data, sent, readIn(body));
      if (!again) sandbox.ran(answer.data); // the promote offer follows a run in the picked sandbox
    }
  } catch (failure) {
    showFailure("Could not reach QueryBase", String(failure));
  } finally {
    stopRunning();
  }
}

const TITLES = {
  query_failed: "The database refused this query",
  query_timeout: "The query ran out of time",
  invalid_sql: "Could not parse this SQL",
  empty_query: "Nothing to run",
  invalid_parameters: "The parameters do not fit this SQL",
  permission_denied: "Not allowed",
  datasource_unavailable: "The data source cannot be reached",
  connection_failed: "The data source cannot be reached",
  connection_timeout: "The data source cannot be reached",
};
function failureTitle(error) {
  return (error && TITLES[error.code]) || "The query failed";
}

let errorOrigin = null; // the SQL of the last run and where it starts in the editor

/** Where in the SQL sent the database's message points, as { line, column, length }
 * (1-based line, 0-based column): PostgreSQL's "LINE n:" context with its caret, MySQL's
 * "near '…' at line n", SQLite's `near "…"`. Null when it names no place. */
function errorPlace(message, sql) {
  const lines = sql.split("\n");
  const context = /LINE (\d+): (.*)\n( *)\^/.exec(message);
  if (context) {
    // The line number is the failing statement's own (several statements run one by one),
    // and a long line is shown cut ("...") around the error: find the line shown instead.
    const caret = context[3].length - `LINE ${context[1]}: `.length;
    const shown = context[2];
    const word = (/^[\w$."]+/.exec(shown.slice(caret)) || [shown.charAt(caret) || " "])[0];
    const cut = shown.startsWith("...") ? 3 : 0;
    const core = shown.slice(cut).replace(/\.\.\.$/, "");
    const from = Number(context[1]) - 1;
    const index = (lines[from] || "").includes(core) ? from : lines.findIndex((text, i) => i >= from && text.includes(core));
    if (index >= 0) return { line: index + 1, column: lines[index].indexOf(core) + caret - cut, length: word.length };
  }
  const near = /near "([^"]*)"|near '([\s\S]*?)' at line (\d+)/.exec(message);
  if (near) {
    const line = near[3] ? Number(near[3]) : 1 + sql.slice(0, Math.max(0, sql.indexOf(near[1]))).split("\n").length - 1;
    const word = (near[1] !== undefined ? near[1] : near[2]).split(/\s/)[0];
    const column = word ? (lines[line - 1] || "").indexOf(word) : -1;
    if (column >= 0) return { line, column, length: word.length };
  }
  return null;
}

/** The titled error panel; where the database's message points is named and underlined. */
function showFailure(title, message) {
  $("error-title").textContent = title;
  $("error-message").textContent = message;
  $("error-place").hidden = true;
  errorBox.hidden = false;
  const place = errorOrigin && errorPlace(message, errorOrigin.sql);
  if (!place) return;
  const lines = errorOrigin.sql.split("\n").slice(0, place.line - 1);
  const at = errorOrigin.from + lines.reduce((sum, text) => sum + text.length + 1, 0) + place.column;
  const editorLine = editor.getValue().slice(0, at).split("\n").length;
  $("error-place").textContent = `Line ${editorLine}, column ${place.column + 1}`;
  $("error-place").hidden = false;
  editor.markError(at, at + Math.max(1, place.length), message);
}

function hideFailure() {
  errorBox.hidden = true;
  editor.clearErrors();
}

function startRunning() {
  running = { id: null, stopRequested: false, started: performance.now() };
  $("run").disabled = true;
  $("run").classList.add("busy");
  $("stop").hidden = false;
  $("stop").disabled = false;
  $("elapsed").hidden = false;
  // The previous result stays readable, but must not look current while a new run is in flight.
  $("results").classList.add("stale");
  $("results").setAttribute("aria-busy", "true");
  const tick = () => { $("elapsed").textContent = (running.stopRequested ? "Stopping… " : "Running… ") + elapsedText(); };
  tick();
  running.ticker = setInterval(tick, 100);
}

function stopRunning() {
  clearInterval(running.ticker);
  running = null;
  $("run").disabled = false;
  $("run").classList.remove("busy");
  $("stop").hidden = true;
  $("elapsed").hidden = true;
  $("results").classList.remove("stale");
  $("results").removeAttribute("aria-busy");
}

function elapsedText() {
  const seconds = (performance.now() - running.started) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")} min`;
}

async function stop() {
  if (!running || running.stopRequested) return;
  running.stopRequested = true;
  $("stop").disabled = true;
  // Before the job id is known, the submission loop cancels it as soon as it arrives.
  if (running.id) await cancelRun(running.id);
}

async function cancelRun(id) {
  const answer = await api("POST", `/api/v1/queries/${id}/cancel`);
  // 409: it finished meanwhile; what it found is shown as usual.
  if (!answer.ok && answer.status !== 409) showFailure("Could not stop the query", errorMessage(answer));
}

function showNote(text) {
  $("run-note").textContent = text;
  $("run-note").hidden = false;
}

function showWritePanel(classification) {
  const kinds = [...new Set(classification.statements.filter((s) => s.verdict === "write").map((s) => s.kind.toUpperCase()))];
  $("write-detail").textContent = `It contains ${kinds.join(", ")} (risk: ${classification.risk}).`;
  // Each statement, what it writes, its risk and why: what the approver will see too.
  $("write-statements").replaceChildren(statementsTable(classification));
  $("reason").removeAttribute("aria-invalid");
  $("reason-error").hidden = true;
  $("write-panel").hidden = false;
  $("results").hidden = true;
  $("reason").focus();
}

// Results ------------------------------------------------------------------------------------
function clearResult() {
  result = null;
  showChart();
  $("results").hidden = true;
  hideFailure();
  $("run-note").hidden = true;
  $("write-panel").hidden = true;
}

/** Where a run read, for its export to read there too: the sandbox it ran in (with the
 * share link's token, in someone else's), or nothing: the source. */
function readIn(body) {
  return body.sandbox ? { sandbox: body.sandbox, share_token: body.share_token || "" } : {};
}

async function showResult(run, sent, where = {}) {
  // SQL of several statements answers with each one's result: a tab per statement, the
  // last one (the run's own result, paged) shown first.
  const last = run.result;
  const statements = last.statements || [];
  result = { ...run, sent, where, last, statements, shown: statements.length ? statements.length : null };
  renderStatementTabs();
  $("results").hidden = false;
  await showStatement(result.shown);
}

/** One tab per statement of the result on screen, with its row count; none for one statement. */
function renderStatementTabs() {
  const tabs = $("statement-tabs");
  tabs.hidden = result.statements.length < 2;
  tabs.replaceChildren(
    ...result.statements.map((entry) => {
      const rows = `${entry.row_count.toLocaleString("en-US")} row${entry.row_count === 1 ? "" : "s"}`;
      const tab = el("button", {
        type: "button",
        role: "tab",
        id: `statement-tab-${entry.statement}`,
        "aria-selected": String(entry.statement === result.shown),
        "aria-controls": "grid",
        tabindex: entry.statement === result.shown ? "0" : "-1",
        title: entry.sql,
      }, `Statement ${entry.statement}`);
      tab.append(el("span", { class: "muted small" }, ` · ${rows}`));
      tab.addEventListener("click", () => chooseStatement(entry.statement));
      return tab;
    }),
  );
}

function chooseStatement(number) {
  if (!result || number === result.shown) return;
  result.shown = number;
  result.sorted = false;
  renderStatementTabs();
  $(`statement-tab-${number}`).focus();
  showStatement(number);
}

// Arrow keys, Home and End move between the statement tabs (the ARIA tabs pattern).
$("statement-tabs").addEventListener("keydown", (event) => {
  if (!result || !result.shown) return;
  const count = result.statements.length;
  const to = { ArrowRight: result.shown + 1, ArrowLeft: result.shown - 1, Home: 1, End: count }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  chooseStatement(((to - 1 + count) % count) + 1);
});

/** Statement `number`'s result in the grid (null: the only one). Earlier statements come
 * with their first page of rows; the last one's further pages load as it scrolls. */
async function showStatement(number) {
  const isLast = number === null || number === result.statements.length;
  const entry = number === null ? null : result.statements[number - 1];
  const data = isLast ? result.last : { ...entry, took_ms: result.last.took_ms };
  result.result = data;
  const shownRows = data.rows.length;
  const partial = !isLast && shownRows < data.row_count ? ` (first ${shownRows.toLocaleString("en-US")} shown; export it for all)` : "";
  const which = number === null ? "" : `Statement ${number} of ${result.statements.length}: `;
  $("result-meta").textContent = `${which}${data.row_count.toLocaleString("en-US")} row${data.row_count === 1 ? "" : "s"}${partial} · ${result.last.took_ms} ms`;
  $("badge-cached").hidden = !result.cached;
  $("badge-cached").title = result.cached ? "computed at " + result.computed_at : "";
  showCachedAge();
  $("badge-truncated").hidden = !data.truncated;
  $("badge-truncated").title = data.truncated ? "more rows exist than the source's row limit" : "";
  try {
    await bundle("grid");
  } catch (failure) {
    showFailure("Could not show the result", String(failure));
    return;
  }
  if (grid) grid.destroy();
  // A new grid for each result: it starts at its first row, with no sort left over.
  grid = window.QBGrid.render($("grid"), data, { onCell: showCell, onNearEnd: loadMore, onSorted: sortedChanged });
  showLoaded();
  window.QB.announce($("result-meta").textContent);
  await showChart();
  if (data.next && window.QBGrid.nearEnd(grid)) loadMore(); // a first page too short to scroll
}

// A large result comes a page at a time (`next`, GET /queries/{id}/results?page=N): the
// grid fetches the next page when it is scrolled near its last row, or every page at once
// with "Load all". A sort sorts the rows loaded so far (the note says so).
let fetching = null; // the page being fetched, if any

function loadMore() {
  const data = result && result.result;
  if (!data || !data.next) return Promise.resolve();
  if (fetching) return fetching;
  const shown = result;
  fetching = (async () => {
    const answer = await api("GET", data.next);
    if (shown !== result) return; // another result replaced this one meanwhile
    if (!answer.ok) {
      showFailure("Could not load more rows", errorMessage(answer));
      return;
    }
    data.rows.push(...answer.data.rows);
    data.next = answer.data.next;
    await window.QBGrid.append(grid, answer.data.rows);
    showLoaded();
  })().finally(() => {
    fetching = null;
  });
  return fetching.then(() => {
    if (shown === result && result.result.next && window.QBGrid.nearEnd(grid)) return loadMore();
    return undefined;
  });
}

async function loadAll() {
  const shown = result;
  $("load-all").disabled = true;
  while (shown === result && result.result.next && errorBox.hidden) await loadMore();
  $("load-all").disabled = false;
}

function sortedChanged(sorted) {
  if (!result) return;
  result.sorted = sorted;
  showLoaded();
}

function showLoaded() {
  const data = result.result;
  const more = Boolean(data.next);
  $("rows-loaded").hidden = !more;
  if (!more) return;
  const sorted = result.sorted ? " (sorted among these)" : "";
  $("rows-loaded-text").textContent =
    `${data.rows.length.toLocaleString("en-US")} of ${data.row_count.toLocaleString("en-US")} rows loaded${sorted}; scroll down for more.`;
}

// Charts: the tab's chart settings ({ type, x, y }) drawn from the result on screen, and
// saved with the query --------------------------------------------------------------------
let chart = null; // its Chart.js object

async function showChart() {
  const config = drafts.active.chart;
  $("toggle-chart").setAttribute("aria-expanded", String(Boolean(config)));
  $("chart-panel").hidden = !config || !result;
  if (chart) {
    chart.destroy();
    chart = null;
  }
  if (!config || !result) return;
  const names = result.result.columns.map((column) => column.name);
  const options = (chosen) => names.map((name) => {
    const option = el("option", { value: name }, name);
    option.selected = chosen(name);
    return option;
  });
  $("chart-type").value = config.type;
  $("chart-x").replaceChildren(...options((name) => name === config.x));
  $("chart-y").replaceChildren(...options((name) => config.y.includes(name)));
  try {
    await bundle("charts");
  } catch (failure) {
    showFailure("Could not draw the chart", String(failure));
    return;
  }
  chart = window.QBCharts.draw($("chart-canvas"), config, result.result);
}

/** A first chart of a result: the first column along x, the first numeric other one up. */
function firstChart() {
  const { columns, rows } = result.result;
  const numeric = (index) => rows.length > 0 && rows.slice(0, 20).every((row) => row[index] === null || !Number.isNaN(Number(row[index])));
  const y = columns.findIndex((_, index) => index > 0 && numeric(index));
  return { type: "bar", x: columns[0].name, y: [columns[y > 0 ? y : Math.min(1, columns.length - 1)].name] };
}

function chartChanged() {
  const y = [...$("chart-y").selectedOptions].map((option) => option.value).slice(0, 5);
  drafts.update({ chart: { type: $("chart-type").value, x: $("chart-x").value, y: y.length ? y : drafts.active.chart.y } });
  renderTabs();
  showChart();
}

$("toggle-chart").addEventListener("click", () => {
  if (!result) return;
  drafts.update({ chart: drafts.active.chart ? null : firstChart() });
  renderTabs();
  showChart();
});
["chart-type", "chart-x", "chart-y"].forEach((id) => $(id).addEventListener("change", chartChanged));

/** A cell's whole value (long text, a JSON document, bytes as hex), to read and copy. */
function showCell({ column, kind, value }) {
  $("cell-dialog-title").textContent = `${column.name} (${column.type || kind})`;
  $("cell-value").textContent = window.QBGrid.fullText(value, kind);
  $("cell-copied").textContent = "";
  $("cell-dialog").showModal();
}

$("cell-copy").addEventListener("click", async () => {
  const text = $("cell-value").textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (ignored) {
    // No clipboard API (an insecure origin): copy the selected text the old way.
    const range = document.createRange();
    range.selectNodeContents($("cell-value"));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    document.execCommand("copy");
  }
  $("cell-copied").textContent = "Copied.";
});
$("cell-close").addEventListener("click", () => $("cell-dialog").close());

function showCachedAge() {
  if (result && result.cached) $("cached-age").textContent = "cached " + age(result.computed_at);
}
setInterval(showCachedAge, 30000); // a result left on screen grows older

function age(timestamp) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(timestamp)) / 1000));
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return `${Math.floor(seconds / 3600)} h ago`;
}

/** The file name the server gives (after the saved query, else the first table the SQL
 * reads): RFC 6266's filename*, else its plain filename, else a neutral one. */
function exportName(answer, format) {
  const header = answer.headers.get("Content-Disposition") || "";
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (encoded) {
    try {
      return decodeURIComponent(encoded[1]);
    } catch (ignored) {
      // a malformed escape: the plain name below
    }
  }
  const plain = /filename="?([^";]+)"?/i.exec(header);
  return plain ? plain[1] : `querybase-export.${format}`;
}

/** Export the result on screen: the SQL, parameters and source it was run with, not
 * whatever the editor holds now; read where it was read (a sandbox's copy, not the source). */
async function download(format) {
  hideFailure();
  if (!result) return;
  const answer = await fetch("/api/v1/queries/export", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] },
    // Of SQL with several statements, the one whose tab is open.
    body: JSON.stringify({ ...result.sent, ...result.where, format, ...(result.shown ? { statement: result.shown } : {}) }),
  });
  if (!answer.ok) {
    showFailure("The export failed", errorMessage({ status: answer.status, data: await answer.json().catch(() => null) }));
    return;
  }
  let file;
  try {
    file = await answer.blob();
  } catch (failure) {
    // The server ends an export that fails part-way as a broken response: keep nothing.
    showFailure("The export failed", "It failed part-way through; nothing was saved. Run it again, or run the query to see the error.");
    return;
  }
  const link = el("a", { href: URL.createObjectURL(file), download: exportName(answer, format) });
  document.body.append(link);
  link.click();
  link.remove();
}

// Saving: the tab is a document. Save updates the saved query it is a copy of (when it is
// the user's own); Save as… (a dialog) makes a new one -----------------------------------------
function savedFields() {
  return {
    datasource: Number(picker.value), sql: editor.getValue(), default_params: paramValues(), chart: drafts.active.chart || null,
    ...sandbox.savedFields(), // saved from my sandbox, it runs there
  };
}

function remember(saved) {
  drafts.update({ saved: { id: saved.id, name: saved.name, sql: saved.sql, mine: true, chart: saved.chart } });
  renderTabs();
}

async function save() {
  const saved = drafts.active.saved;
  if (!saved || !saved.mine) return saveAs();
  const answer = await api("PATCH", `/api/v1/saved-queries/${saved.id}`, savedFields());
  if (!answer.ok) return showFailure("Could not save", errorMessage(answer));
  remember(answer.data);
  announce(`Saved “${answer.data.name}”.`);
}

function saveAs() {
  const dialog = $("save-dialog");
  const current = drafts.active.saved;
  $("save-name").value = current ? `${current.name} (copy)` : "";
  $("save-error").hidden = true;
  dialog.showModal();
  $("save-name").select();
}

$("save-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("save-name").value.trim();
  if (!name) {
    $("save-error").textContent = "Give the query a name.";
    $("save-error").hidden = false;
    return;
  }
  const answer = await api("POST", "/api/v1/saved-queries", { name, ...savedFields() });
  if (!answer.ok) {
    $("save-error").textContent = errorMessage(answer);
    $("save-error").hidden = false;
    return;
  }
  $("save-dialog").close();
  remember(answer.data);
  announce(`Saved as “${answer.data.name}”.`);
});
$("save-cancel").addEventListener("click", () => $("save-dialog").close());

function announce(text) {
  $("classification").textContent = text;
  window.QB.announce(text); // the page's live region: heard without moving the focus
}

// Splitter: the editor's height, dragged or set with the arrow keys, kept for next time --------
const HEIGHT_KEY = "querybase.workspace.editorHeight";
function setEditorHeight(pixels) {
  const height = Math.max(120, Math.min(Math.round(pixels), window.innerHeight - 160));
  $("editor").style.height = `${height}px`;
  $("splitter").setAttribute("aria-valuenow", String(height));
  try {
    window.localStorage.setItem(HEIGHT_KEY, String(height));
  } catch (ignored) {
    // not kept: fine
  }
}
setEditorHeight(Number(window.localStorage.getItem(HEIGHT_KEY)) || 260);
$("splitter").addEventListener("pointerdown", (event) => {
  const startY = event.clientY;
  const startHeight = $("editor").getBoundingClientRect().height;
  const move = (moved) => setEditorHeight(startHeight + moved.clientY - startY);
  const done = () => {
    window.removeEventListener("pointermove", move);
    window.removeEventListener("pointerup", done);
  };
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", done);
  event.preventDefault();
});
$("splitter").addEventListener("keydown", (event) => {
  const step = { ArrowUp: -20, ArrowDown: 20 }[event.key];
  if (!step) return;
  setEditorHeight($("editor").getBoundingClientRect().height + step);
  event.preventDefault();
});

// Wiring -----------------------------------------------------------------------------------
$("run").addEventListener("click", run);
$("run-statement").addEventListener("click", () => submit(false, { statement: true }));
$("stop").addEventListener("click", stop);
$("refresh").addEventListener("click", () => result && submit(false, { fresh: true, again: result }));
// Escape stops a running query, unless something else used it (the completion list closing).
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && running && !event.defaultPrevented) stop();
});
// Enter in a parameter field runs the query, as in the editor; it must not submit the form
// (which reloaded the page and lost the SQL and the results).
$("params").addEventListener("submit", (event) => { event.preventDefault(); run(); });
$("request-approval").addEventListener("click", () => {
  // The server refuses a write request without a reason (reason_required): say so here first.
  const missing = !$("reason").value.trim();
  $("reason").setAttribute("aria-invalid", String(missing));
  $("reason-error").hidden = !missing;
  if (missing) $("reason").focus();
  else submit(true);
});
$("cancel-write").addEventListener("click", () => ($("write-panel").hidden = true));
$("save").addEventListener("click", save);
$("save-as").addEventListener("click", saveAs);
$("download-csv").addEventListener("click", () => download("csv"));
$("download-json").addEventListener("click", () => download("json"));
$("load-all").addEventListener("click", loadAll);
$("schema-filter").addEventListener("input", filterSchema);
picker.addEventListener("change", () => {
  sandbox.show(sandbox.place()); // the sandbox bar follows the option picked
  if (!switching) drafts.update({ datasource: Number(picker.value), sandbox: sandbox.place() });
  loadSchema();
  renderParams();
});

/** A query opened by link (?saved=, ?run=, ?shared=): in a tab of its own, or the tab
 * that already holds that saved query. */
function openInitial(opening) {
  const existing = opening.saved_id && drafts.tabs.find((tab) => tab.saved && tab.saved.id === opening.saved_id);
  if (existing) {
    drafts.activate(existing.id);
    drafts.update({ sandbox: sandbox.placeOf(opening) }); // where the link says it runs
    return;
  }
  const params = {};
  const values = opening.params;
  const keys = values && !Array.isArray(values) ? Object.keys(values).map((key) => ":" + key) : (values || []).map((_, i) => `$${i + 1}`);
  keys.forEach((key, index) => {
    const value = Array.isArray(values) ? values[index] : values[key.slice(1)];
    const type = value === null ? "null" : typeof value === "number" ? "number" : typeof value === "boolean" ? "boolean" : "text";
    params[key] = { value: value === null ? "" : String(value), type };
  });
  const saved = opening.saved_id
    ? { id: opening.saved_id, name: opening.name, sql: opening.sql, mine: Boolean(opening.mine), chart: opening.chart || null }
    : null;
  drafts.add({ sql: opening.sql, datasource: opening.datasource, params, saved, chart: saved ? saved.chart : null,
               sandbox: sandbox.placeOf(opening) });
}

if (initial) {
  openInitial(initial);
  // The tab now holds it: a reload shows the tabs as they are, not one more copy.
  window.history.replaceState(null, "", window.location.pathname);
}
showTab();
