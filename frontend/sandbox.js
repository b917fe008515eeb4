import { openUploadDialog } from "@querybase/upload.js";

// Sandboxes in the workspace (the one-click path). "<source> — my sandbox" in the picker
// has the source's id and data-sandbox="1": SQL then runs in the caller's own copy (got or
// made with POST /datasources/{id}/sandbox), where writes run at once. A write the real
// source refuses offers to run there; what ran there can be promoted to one write request.
// A saved query or share link may point at someone else's sandbox: an option of its own,
// data-sandbox="shared", where reads run with the link's token.
//
// workspace.js calls this at a few hook points (picking, running, the schema tree, saving,
// tabs); each tab remembers where it runs as a "place": null (the real source),
// { mine: true } or { id, owner, share_token } (a sandbox shared with the user).
//
// With the pool empty, the copy is made by the server's worker (?background=1): the bar
// follows it (what is being done, seconds so far) and switches to it when it is ready; a
// copy that failed says why, with "Try again". In my sandbox, "Upload CSV…" makes a table
// from a file (frontend/upload.js).

// How often a copy being made is looked at.
const COPY_POLL_MS = 500;

/**
 * @param {object} hooks what the workspace lends: its element getter, the API client, the
 *   picked source, showFailure, and loadSchema / runAgain to call back.
 */
export function createSandbox({ $, api, el, errorMessage, picker, source, showFailure, loadSchema, runAgain }) {
  const mine = {}; // datasource id → { id, sampled } of the caller's own sandbox there
  const asking = {}; // datasource id → the request for it in flight
  const failures = {}; // datasource id → why its copy could not be made

  const option = () => picker.selectedOptions[0];
  const chosen = () => Boolean(option() && option().dataset.sandbox);
  const sharedChosen = () => chosen() && option().dataset.sandbox === "shared";
  const ownChosen = () => chosen() && !sharedChosen();
  const datasource = () => Number(picker.value);

  /** Where the picked option runs, as a tab keeps it. */
  function place() {
    if (!chosen()) return null;
    if (!sharedChosen()) return { mine: true };
    const { sandboxId, shareToken, owner } = option().dataset;
    return { id: Number(sandboxId), share_token: shareToken || "", owner: owner || "" };
  }

  function sharedOption(shared) {
    const found = [...picker.options].find((item) => item.dataset.sandbox === "shared" && item.dataset.sandboxId === String(shared.id));
    if (found) return found;
    const name = source() ? source().name : "";
    const added = el("option", { value: picker.value, "data-sandbox": "shared", "data-sandbox-id": String(shared.id),
      "data-share-token": shared.share_token || "", "data-owner": shared.owner || "" },
      `${name} — ${shared.owner}'s sandbox (read-only)`);
    picker.append(added);
    return added;
  }

  /** Select the option for a tab's place on the source picker.value names (a place
   * that is no longer offered falls back to the real source). */
  function show(where) {
    const value = picker.value;
    let target = null;
    if (where && where.mine) {
      target = [...picker.options].find((item) => item.value === value && item.dataset.sandbox === "1");
    } else if (where && where.id) {
      target = sharedOption(where);
    }
    target = target || [...picker.options].find((item) => item.value === value && !item.dataset.sandbox);
    if (target) target.selected = true;
    bar();
  }

  /** The bar above the editor says where SQL runs; the offers of the last run go. */
  function bar() {
    $("sandbox-bar").hidden = !chosen();
    $("sandbox-promote").hidden = true;
    $("run-in-sandbox").hidden = true;
    $("sandbox-upload").hidden = !(ownChosen() && mine[datasource()] && mine[datasource()].uploads);
    $("sandbox-progress").hidden = !(ownChosen() && asking[datasource()]);
    showCopyFailure(ownChosen() ? failures[datasource()] : null);
    if (sharedChosen()) {
      $("sandbox-state").textContent = `${option().dataset.owner || "Someone"}'s sandbox, shared with you: you can run reads here; the real source is not used.`;
    } else if (ownChosen()) {
      const known = mine[datasource()];
      $("sandbox-state").textContent = known ? ownText(known) : "Your sandbox: a private copy where writes run at once. The real source is not touched.";
    }
  }

  /** Why my sandbox could not be made, in the bar, with "Try again" (null: nothing failed). */
  function showCopyFailure(reason) {
    $("sandbox-failure").hidden = !reason;
    $("sandbox-failure-reason").textContent = reason || "";
  }

  const showing = (id) => ownChosen() && datasource() === id;

  function ownText(known) {
    const sampled = known.sampled.length ? ` Sampled tables: ${known.sampled.join(", ")}.` : "";
    return `Your sandbox #${known.id}: a private copy where writes run at once; the real source is not touched.${sampled}`;
  }

  /** The caller's sandbox on `id`: theirs, a pooled copy, or a copy the server's worker
   * makes now, followed until it is ready (null if it could not be had: the bar says why).
   * The schema and a run may both ask at once: they share one request. */
  function ensure(id) {
    if (mine[id]) return Promise.resolve(mine[id]);
    if (!asking[id]) asking[id] = obtain(id).finally(() => {
      delete asking[id];
      if (showing(id)) $("sandbox-progress").hidden = true;
    });
    return asking[id];
  }

  async function obtain(id) {
    delete failures[id];
    if (showing(id)) {
      showCopyFailure(null);
      $("sandbox-progress").hidden = false;
      $("sandbox-state").textContent = "Preparing your sandbox (a copy of the data)…";
    }
    let answer = await api("POST", `/api/v1/datasources/${id}/sandbox?background=1`);
    const started = performance.now();
    while (answer.ok && answer.data.state === "creating") {
      if (showing(id)) {
        const seconds = Math.round((performance.now() - started) / 1000);
        $("sandbox-state").textContent = `Your sandbox #${answer.data.id} is being made: ${answer.data.progress || "copying"}… ${seconds} s`;
      }
      await new Promise((resolve) => setTimeout(resolve, COPY_POLL_MS));
      answer = await api("GET", `/api/v1/sandboxes/${answer.data.id}`);
    }
    const reason = !answer.ok ? errorMessage(answer)
      : answer.data.state === "failed" ? answer.data.error_message || "The copy failed." : null;
    if (reason) {
      failures[id] = reason;
      if (showing(id)) {
        showCopyFailure(reason);
        $("sandbox-state").textContent = "Your sandbox: a private copy where writes run at once. The real source is not touched.";
      }
      return null;
    }
    // An upload makes a table: offered only where the source lets sandboxes change schemas.
    const uploads = (answer.data.write_kinds || []).includes("ddl");
    mine[id] = { id: answer.data.id, sampled: answer.data.sampled_tables || [], uploads };
    if (showing(id)) {
      $("sandbox-state").textContent = ownText(mine[id]);
      $("sandbox-upload").hidden = !uploads;
    }
    return mine[id];
  }

  /** Adds where to run to a submission when a sandbox is picked; false if none could be had. */
  async function prepare(body) {
    if (!chosen()) return true;
    body.request_approval = false; // a write runs at once in a sandbox
    if (sharedChosen()) {
      body.sandbox = Number(option().dataset.sandboxId);
      body.share_token = option().dataset.shareToken || "";
      return true;
    }
    const own = await ensure(body.datasource);
    if (!own) return false;
    body.sandbox = own.id;
    return true;
  }

  /** The schema to show: the picked sandbox's own (its tables and indexes), else null. */
  async function schemaUrl() {
    if (sharedChosen()) {
      const { sandboxId, shareToken } = option().dataset;
      return `/api/v1/sandboxes/${sandboxId}/schema?share_token=${encodeURIComponent(shareToken || "")}`;
    }
    if (!ownChosen()) return null;
    const own = await ensure(datasource());
    return own ? `/api/v1/sandboxes/${own.id}/schema` : null;
  }

  /** Under each table: its indexes; in my own sandbox, "+ index". */
  function addIndexes(table, columns) {
    const items = (table.indexes || []).map((index) =>
      el("li", { class: "index", title: index.primary ? "primary key" : index.unique ? "unique index" : "index" },
        `${index.primary ? "🔑" : "⚡"} ${index.name}`, el("span", { class: "type" }, index.columns.join(", "))));
    if (ownChosen() && table.kind === "table" && mine[datasource()]) {
      items.push(el("li", {}, el("button", { type: "button", class: "link add-index", "data-table": table.name,
        onclick: () => indexDialog(table, mine[datasource()].id) }, "+ index")));
    }
    columns.append(...items);
  }

  function indexDialog(table, sandboxId) {
    const error = el("p", { class: "alert error", role: "alert", hidden: "" });
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
    const close = () => {
      dialog.close();
      dialog.remove();
    };
    const create = async () => {
      const answer = await api("POST", `/api/v1/sandboxes/${sandboxId}/indexes`,
        { table: table.name, schema: table.schema, columns: order, unique: unique.checked, name: name.value.trim() });
      if (!answer.ok) {
        error.textContent = errorMessage(answer);
        error.hidden = false;
        return;
      }
      close();
      $("sandbox-promote").hidden = !source().can_write;
      loadSchema();
    };
    const dialog = el("dialog", { id: "index-dialog", class: "dialog", "aria-labelledby": "index-dialog-title" },
      el("h2", { id: "index-dialog-title" }, `New index on ${table.name}`),
      el("p", { class: "small muted" }, "Runs CREATE INDEX in your sandbox; the real source is not touched."),
      el("fieldset", {}, el("legend", {}, "Columns, in the order you tick them"), ...boxes),
      el("label", { class: "check" }, unique, " unique"), el("label", { for: "index-name" }, "Name"), name, error,
      el("div", { class: "actions" },
        el("button", { type: "button", class: "primary", id: "index-create", onclick: create }, "Create index"),
        el("button", { type: "button", onclick: close }, "Cancel")));
    dialog.addEventListener("cancel", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  /** The place a query opened by link runs in ({ sandbox } from the server), or null. */
  function placeOf(initial) {
    const shared = initial && initial.sandbox;
    if (!shared) return null;
    if (shared.mine) return { mine: true };
    return { id: shared.id, owner: shared.owner, share_token: shared.share_token || "" };
  }

  /** A write the real source refused: offer my sandbox when the server says there is one. */
  function offer(hint) {
    $("run-in-sandbox").hidden = !hint || chosen();
  }

  /** After a run: a write (or a new index) in my sandbox can be requested on the real source. */
  function ran(run) {
    if (ownChosen() && run.verdict === "write" && source().can_write) $("sandbox-promote").hidden = false;
  }

  async function runThere() {
    const own = [...picker.options].find((item) => item.value === picker.value && item.dataset.sandbox === "1");
    if (!own) return;
    own.selected = true;
    picker.dispatchEvent(new Event("change")); // the workspace keeps the tab's place and reloads the schema
    $("write-panel").hidden = true;
    await runAgain();
  }

  async function promote() {
    const own = mine[datasource()];
    if (!own) return;
    const reason = window.prompt("Why is this change needed? (The approver sees it with the SQL.)", $("reason").value);
    if (reason === null) return;
    const answer = await api("POST", `/api/v1/sandboxes/${own.id}/promote`, { reason });
    if (!answer.ok) showFailure("Could not request this on the real source", errorMessage(answer));
    else window.location.href = `/approvals/${answer.data.id}`;
  }

  /** Saved from my sandbox, a query runs there (and can be shared to be read there). */
  function savedFields() {
    const own = ownChosen() && mine[datasource()];
    return own ? { sandbox: own.id } : {};
  }

  $("run-in-sandbox").addEventListener("click", runThere);
  $("sandbox-promote").addEventListener("click", promote);
  $("sandbox-upload").addEventListener("click", () => {
    if (mine[datasource()]) openUploadDialog({ api, el, errorMessage, loadSchema }, mine[datasource()].id);
  });
  $("sandbox-retry").addEventListener("click", () => {
    showCopyFailure(null);
    loadSchema(); // asks for my sandbox again: a new copy is made
  });

  return { chosen, place, show, prepare, schemaUrl, addIndexes, placeOf, offer, ran, savedFields };
}
