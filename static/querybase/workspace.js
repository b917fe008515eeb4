/* The query workspace: editor, schema browser, parameters, results, write requests. */
"use strict";
(function () {
  const { api, showError, errorMessage, el } = window.QB;
  const sources = JSON.parse(document.getElementById("sources-data").textContent);
  const initial = JSON.parse(document.getElementById("initial-data").textContent);
  const MODES = { postgresql: "text/x-pgsql", mysql: "text/x-mysql", sqlite: "text/x-sqlite" };
  const PAGE_ROWS = 100;
  const $ = (id) => document.getElementById(id);
  const picker = $("datasource");
  const errorBox = $("error");
  let schemaTables = {};
  let result = null;
  let page = 0;

  const run = () => submit(false);
  const editor = CodeMirror.fromTextArea($("sql"), {
    mode: MODES.postgresql,
    lineNumbers: true,
    indentWithTabs: false,
    smartIndent: true,
    extraKeys: { "Ctrl-Enter": run, "Cmd-Enter": run, "Ctrl-Space": "autocomplete" },
    hintOptions: { tables: schemaTables, completeSingle: false },
  });
  window.qbEditor = editor; // for tests and the browser console

  function source() {
    return sources.find((item) => String(item.id) === picker.value);
  }

  // Schema browser ------------------------------------------------------------------------
  async function loadSchema() {
    const list = $("schema");
    list.replaceChildren(el("li", { class: "muted" }, "Loading…"));
    editor.setOption("mode", MODES[source().engine]);
    if (!source().can_read) {
      list.replaceChildren(el("li", { class: "muted" }, "You may request writes here, but not read it."));
      return;
    }
    const answer = await api("GET", sandbox.schemaUrl() || `/api/v1/datasources/${picker.value}/schema`);
    if (!answer.ok) {
      list.replaceChildren(el("li", { class: "alert error" }, errorMessage(answer)));
      return;
    }
    schemaTables = {};
    list.replaceChildren(
      ...answer.data.tables.map((table) => {
        schemaTables[table.name] = table.columns.map((column) => column.name);
        const columns = el(
          "ul",
          { class: "columns", hidden: "" },
          table.columns.map((column) =>
            el("li", { class: "column", title: "Insert", onclick: () => insert(column.name) },
              column.name, el("span", { class: "type" }, column.type))
          )
        );
        const name = el("span", { class: "table-name", onclick: () => (columns.hidden = !columns.hidden) },
          (table.kind === "view" ? "◇ " : "▸ ") + table.name);
        const add = el("button", { class: "insert", title: "Insert the table name", onclick: () => insert(table.name) }, "+");
        sandbox.addIndexes(table, columns);
        return el("li", { class: "table", "data-table": table.name }, name, add, columns);
      })
    );
    editor.setOption("hintOptions", { tables: schemaTables, completeSingle: false });
    filterSchema();
  }

  function insert(text) {
    editor.replaceSelection(text);
    editor.focus();
  }

  function filterSchema() {
    const needle = $("schema-filter").value.toLowerCase();
    document.querySelectorAll("#schema > li.table").forEach((item) => {
      item.hidden = needle && !item.dataset.table.toLowerCase().includes(needle);
    });
  }

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
        verdict = answer.data.classification.verdict === "read"
          ? "Read: runs at once."
          : "Not a read: it will need an approval.";
      }
    }
    const fields = $("param-fields");
    const previous = Object.fromEntries([...fields.querySelectorAll("[data-key]")].map((row) => [row.dataset.key, row]));
    fields.replaceChildren(...keys.map((key) => previous[key] || paramRow(key)));
    $("params").hidden = keys.length === 0;
    $("verdict").textContent = verdict;
  }

  function paramRow(key, value) {
    return el("div", { class: "param", "data-key": key },
      el("label", {}, key),
      el("input", { type: "text", value: value === undefined || value === null ? "" : String(value), "aria-label": key }),
      el("select", { "aria-label": key + " type" },
        el("option", { value: "text" }, "text"), el("option", { value: "number" }, "number"),
        el("option", { value: "boolean" }, "true/false"), el("option", { value: "null" }, "NULL")));
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

  // Running ----------------------------------------------------------------------------------
  // The first answer comes after about a second at most: a read that finishes within the
  // server's inline budget comes back with its rows, a longer one as a job id, which is what
  // Stop needs to reach it. The job is then followed with long polls.
  const FIRST_WAIT_SECONDS = 1;
  const POLL_WAIT_SECONDS = 10;
  let running = null; // the submission in flight: { id, stopRequested, started, ticker }

  async function submit(requestApproval, { fresh = false } = {}) {
    if (running) return;
    errorBox.hidden = true;
    $("run-note").hidden = true;
    $("write-panel").hidden = requestApproval ? $("write-panel").hidden : true;
    const body = { datasource: Number(picker.value), sql: editor.getValue(), params: paramValues(),
                   wait: FIRST_WAIT_SECONDS, request_approval: requestApproval, reason: $("reason").value };
    if (fresh) body.max_age = 0; // Refresh: never an answer from the cache
    startRunning();
    try {
      if (!(await sandbox.prepare(body))) return;
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
          showError(errorBox, answer.data.error ? answer.data.error.message : `The query ${answer.data.status}.`);
          return;
        }
      }
      if (answer.status === 409 && answer.data.error.code === "approval_required") {
        showWritePanel(answer.data.error.details.classification);
        sandbox.offer(answer.data.error.details.sandbox);
      } else if (!answer.ok) {
        showError(errorBox, answer);
        $("results").hidden = true;
      } else {
        showResult(answer.data);
        sandbox.ran(answer.data);
      }
    } catch (failure) {
      showError(errorBox, "Could not reach QueryBase: " + failure);
    } finally {
      stopRunning();
    }
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
    if (!answer.ok && answer.status !== 409) showError(errorBox, answer);
  }

  function showNote(text) {
    $("run-note").textContent = text;
    $("run-note").hidden = false;
  }

  function showWritePanel(classification) {
    const kinds = [...new Set(classification.statements.filter((s) => s.verdict === "write").map((s) => s.kind.toUpperCase()))];
    $("write-detail").textContent = `It contains ${kinds.join(", ")} (risk: ${classification.risk}).`;
    $("write-panel").hidden = false;
    $("results").hidden = true;
    $("reason").focus();
  }

  function showResult(run) {
    result = run;
    page = 0;
    const data = run.result;
    $("result-meta").textContent = `${data.row_count} row${data.row_count === 1 ? "" : "s"} · ${data.took_ms} ms`;
    $("badge-cached").hidden = !run.cached;
    $("badge-cached").title = run.cached ? "computed at " + run.computed_at : "";
    showCachedAge();
    $("badge-truncated").hidden = !data.truncated;
    $("badge-truncated").title = data.truncated ? "more rows exist than the source's row limit" : "";
    $("results").hidden = false;
    renderPage();
  }

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

  function cell(value) {
    if (value === null) return el("td", { class: "null" }, "NULL");
    if (typeof value === "object") return el("td", { class: "json" }, JSON.stringify(value));
    return el("td", { class: typeof value === "number" ? "num" : "" }, String(value));
  }

  function renderPage() {
    const data = result.result;
    const rows = data.rows.slice(page * PAGE_ROWS, (page + 1) * PAGE_ROWS);
    const head = el("thead", {}, el("tr", {}, data.columns.map((column) =>
      el("th", {}, column.name, el("span", { class: "type" }, column.type || "")))));
    const body = el("tbody", {}, rows.map((row) => el("tr", {}, row.map(cell))));
    $("grid").replaceChildren(head, body);
    $("grid").parentElement.scrollTop = 0; // a new result or page starts at its first row
    const pages = Math.max(1, Math.ceil(data.rows.length / PAGE_ROWS));
    $("page-info").textContent = `Page ${page + 1} of ${pages}`;
    $("prev-page").disabled = page === 0;
    $("next-page").disabled = page + 1 >= pages;
  }

  async function download(format) {
    errorBox.hidden = true;
    const answer = await fetch("/api/v1/queries/export", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] },
      body: JSON.stringify({ datasource: Number(picker.value), sql: editor.getValue(), params: paramValues(), format }),
    });
    if (!answer.ok) {
      showError(errorBox, { status: answer.status, data: await answer.json().catch(() => null) });
      return;
    }
    let file;
    try {
      file = await answer.blob();
    } catch (failure) {
      // The server ends an export that fails part-way as a broken response: keep nothing.
      showError(errorBox, "The export failed part-way through; nothing was saved. Run it again, or run the query to see the error.");
      return;
    }
    const link = el("a", { href: URL.createObjectURL(file), download: `querybase-export.${format}` });
    document.body.append(link);
    link.click();
    link.remove();
  }

  async function save() {
    const name = window.prompt("Name for this query:");
    if (!name) return;
    const answer = await api("POST", "/api/v1/saved-queries",
      { name, datasource: Number(picker.value), sql: editor.getValue(), default_params: paramValues(), ...sandbox.savedFields() });
    if (!answer.ok) showError(errorBox, answer);
    else $("classification").textContent = `Saved as “${answer.data.name}”.`;
  }

  // Sandboxes (the one-click path) -----------------------------------------------------------
  // "<source> — my sandbox" in the picker has the source's id and data-sandbox: SQL then runs
  // in the caller's own copy (got or made with POST /datasources/{id}/sandbox), writes at
  // once. A refused write offers it; writes that ran there can be promoted to one request.
  const sandbox = (function () {
    let current = null; // { id, datasource } of the caller's sandbox on the picked source

    const chosen = () => picker.selectedOptions[0] && Boolean(picker.selectedOptions[0].dataset.sandbox);
    const sharedChosen = () => chosen() && picker.selectedOptions[0].dataset.sandbox === "shared";

    async function picked() {
      $("sandbox-bar").hidden = !chosen();
      $("sandbox-promote").hidden = true;
      $("run-in-sandbox").hidden = true;
      if (chosen() && !sharedChosen()) await ensure(Number(picker.value));
    }

    // The caller's sandbox on `datasource`: theirs, a pooled copy, or one made now.
    async function ensure(datasource) {
      if (current && current.datasource === datasource) return true;
      $("sandbox-state").textContent = "Preparing your sandbox (a copy of the data)…";
      // A copy to make is made by a worker; follow it, saying what it is doing.
      let answer = await api("POST", `/api/v1/datasources/${datasource}/sandbox?background=1`);
      const started = performance.now();
      while (answer.ok && answer.data.state === "creating") {
        const seconds = ((performance.now() - started) / 1000).toFixed(0);
        $("sandbox-state").textContent = `${answer.data.progress || "Copying"}… ${seconds} s`;
        await new Promise((resolve) => setTimeout(resolve, 500));
        answer = await api("GET", `/api/v1/sandboxes/${answer.data.id}`);
      }
      if (answer.ok && answer.data.state === "failed") {
        showError(errorBox, `Your sandbox could not be made: ${answer.data.error_message}`);
        return false;
      }
      if (!answer.ok) {
        showError(errorBox, answer.status === 404 ? "Your sandbox could not be made; try again." : answer);
        return false;
      }
      current = { id: answer.data.id, datasource };
      const sampled = answer.data.sampled_tables.length ? ` Sampled tables: ${answer.data.sampled_tables.join(", ")}.` : "";
      $("sandbox-state").textContent = `Your sandbox #${answer.data.id}: a private copy where writes run at once; the real source is not touched.${sampled}`;
      return true;
    }

    // Adds the sandbox to a submission when one is picked; false if none could be had.
    async function prepare(body) {
      if (!chosen()) return true;
      body.request_approval = false;
      if (sharedChosen()) {
        // Someone's sandbox, shared with me by a saved query: reads only.
        const option = picker.selectedOptions[0];
        body.sandbox = Number(option.dataset.sandboxId);
        body.share_token = option.dataset.shareToken || "";
        return true;
      }
      if (!(await ensure(body.datasource))) return false;
      body.sandbox = current.id;
      return true;
    }

    // The schema of the picked sandbox (its own tables and indexes), if one is picked.
    function schemaUrl() {
      if (!chosen()) return null;
      if (sharedChosen()) {
        const option = picker.selectedOptions[0];
        return `/api/v1/sandboxes/${option.dataset.sandboxId}/schema?share_token=${encodeURIComponent(option.dataset.shareToken || "")}`;
      }
      return current && current.datasource === Number(picker.value) ? `/api/v1/sandboxes/${current.id}/schema` : null;
    }

    // Under each table: its indexes; in my own sandbox, "+ index".
    function addIndexes(table, columns) {
      const indexes = (table.indexes || []).map((index) =>
        el("li", { class: "column index", title: index.primary ? "primary key" : index.unique ? "unique index" : "index" },
          `${index.primary ? "🔑" : "⚡"} ${index.name}`, el("span", { class: "type" }, index.columns.join(", "))));
      if (chosen() && !sharedChosen() && table.kind === "table") {
        indexes.push(el("li", {}, el("button", { type: "button", class: "link add-index", "data-table": table.name,
          onclick: () => indexDialog(table) }, "+ index")));
      }
      columns.append(...indexes);
    }

    function indexDialog(table) {
      const error = el("p", { class: "alert error", hidden: "" });
      const order = []; // the key's columns in the order they were ticked
      const tick = (event) => {
        const at = order.indexOf(event.target.value);
        if (event.target.checked && at < 0) order.push(event.target.value);
        if (!event.target.checked && at >= 0) order.splice(at, 1);
      };
      const boxes = table.columns.map((column) => el("label", { class: "check" },
        el("input", { type: "checkbox", value: column.name, name: "index-column", onchange: tick }), " ", column.name));
      const unique = el("input", { type: "checkbox", id: "index-unique" });
      const name = el("input", { type: "text", id: "index-name", placeholder: "made from the table and columns" });
      const dialog = el("dialog", { id: "index-dialog", class: "card" },
        el("h3", {}, `New index on ${table.name}`), el("p", { class: "small muted" }, "Runs CREATE INDEX in your sandbox; the real source is not touched."),
        el("fieldset", {}, el("legend", {}, "Columns, in the order you tick them"), ...boxes),
        el("label", { class: "check" }, unique, " unique"), el("label", { for: "index-name" }, "Name"), name, error,
        el("div", { class: "actions" },
          el("button", { type: "button", class: "primary", id: "index-create", onclick: async () => {
            const answer = await api("POST", `/api/v1/sandboxes/${current.id}/indexes`,
              { table: table.name, schema: table.schema, columns: order, unique: unique.checked, name: name.value.trim() });
            if (!answer.ok) { showError(error, answer); return; }
            dialog.close(); dialog.remove();
            $("sandbox-promote").hidden = !source().can_write;
            loadSchema();
          } }, "Create index"),
          el("button", { type: "button", onclick: () => { dialog.close(); dialog.remove(); } }, "Cancel")));
      document.body.append(dialog);
      dialog.showModal();
    }

    // A saved query (or share link) pointing at a sandbox opens there.
    function restore(initial) {
      const shared = initial && initial.sandbox;
      if (!shared) return;
      const own = [...picker.options].find((item) => item.value === String(initial.datasource) && item.dataset.sandbox === "1");
      if (shared.mine && own) {
        own.selected = true;
      } else if (!shared.mine) {
        const name = source() ? source().name : "";
        const option = el("option", { value: String(initial.datasource), "data-sandbox": "shared",
          "data-sandbox-id": String(shared.id), "data-share-token": shared.share_token || "" },
          `${name} — ${shared.owner}'s sandbox (read-only)`);
        picker.append(option);
        option.selected = true;
      }
      picked();
      if (!shared.mine) $("sandbox-state").textContent = `${shared.owner}'s sandbox, shared with you: you can run reads here; the real source is not used.`;
    }

    function offer(hint) {
      $("run-in-sandbox").hidden = !hint;
    }

    function ran(run) {
      if (chosen() && run.verdict === "write" && source().can_write) $("sandbox-promote").hidden = false;
    }

    async function runThere() {
      const option = [...picker.options].find((item) => item.value === picker.value && item.dataset.sandbox === "1");
      if (!option) return;
      option.selected = true;
      await picked();
      loadSchema();
      $("write-panel").hidden = true;
      await submit(false);
    }

    async function promote() {
      errorBox.hidden = true;
      const reason = window.prompt("Why is this change needed? (The approver sees it with the SQL.)", $("reason").value);
      if (reason === null) return;
      const answer = await api("POST", `/api/v1/sandboxes/${current.id}/promote`, { reason });
      if (!answer.ok) showError(errorBox, answer);
      else window.location.href = `/approvals/${answer.data.id}`;
    }

    $("run-in-sandbox").addEventListener("click", runThere);
    $("sandbox-promote").addEventListener("click", promote);
    // Saved from my sandbox, a query runs there (and can be shared to be read there).
    const savedFields = () => (chosen() && !sharedChosen() && current ? { sandbox: current.id } : {});

    return { picked, prepare, offer, ran, restore, savedFields, schemaUrl, addIndexes };
  })();

  // Wiring -----------------------------------------------------------------------------------
  $("run").addEventListener("click", run);
  $("stop").addEventListener("click", stop);
  $("refresh").addEventListener("click", () => submit(false, { fresh: true }));
  // Escape stops a running query, unless something else used it (the completion list closing).
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && running && !event.defaultPrevented) stop();
  });
  // Enter in a parameter field runs the query, as in the editor; it must not submit the form
  // (which reloaded the page and lost the SQL and the results).
  $("params").addEventListener("submit", (event) => { event.preventDefault(); run(); });
  $("request-approval").addEventListener("click", () => submit(true));
  $("cancel-write").addEventListener("click", () => ($("write-panel").hidden = true));
  $("save").addEventListener("click", save);
  $("download-csv").addEventListener("click", () => download("csv"));
  $("download-json").addEventListener("click", () => download("json"));
  $("prev-page").addEventListener("click", () => { page -= 1; renderPage(); });
  $("next-page").addEventListener("click", () => { page += 1; renderPage(); });
  $("schema-filter").addEventListener("input", filterSchema);
  picker.addEventListener("change", async () => { await sandbox.picked(); loadSchema(); renderParams(); });
  let timer = null;
  editor.on("change", () => { clearTimeout(timer); timer = setTimeout(renderParams, 200); });

  async function restore(initial) {
    if (sources.some((item) => item.id === initial.datasource)) picker.value = String(initial.datasource);
    sandbox.restore(initial);
    editor.setValue(initial.sql);
    await renderParams();
    const values = initial.params;
    if (values) {
      $("param-fields").querySelectorAll("[data-key]").forEach((row, index) => {
        const key = row.dataset.key;
        const value = Array.isArray(values) ? values[index] : values[key.slice(1)];
        if (value !== undefined) {
          row.querySelector("input").value = value === null ? "" : String(value);
          row.querySelector("select").value = value === null ? "null" : typeof value === "number" ? "number" : typeof value === "boolean" ? "boolean" : "text";
        }
      });
    }
  }

  if (initial) restore(initial);
  else renderParams();
  loadSchema();
})();
