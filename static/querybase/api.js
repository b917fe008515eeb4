/* QueryBase dashboard: calls to the REST API with the session and CSRF token. */
"use strict";
window.QB = (function () {
  function cookie(name) {
    const match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(method, url, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body instanceof FormData) {
      options.body = body; // multipart (a file): the browser writes the type with its boundary
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (method !== "GET") options.headers["X-CSRFToken"] = cookie("csrftoken");
    const response = await fetch(url, options);
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("application/json")) data = await response.json();
    return { status: response.status, ok: response.ok, data, response };
  }

  function errorMessage(result) {
    const error = result.data && result.data.error;
    if (!error) return "Unexpected answer from the server (HTTP " + result.status + ").";
    let text = error.message;
    if (error.details && typeof error.details === "object" && !error.details.classification && !error.details.run) {
      const parts = Object.entries(error.details).map(([key, value]) => key + ": " + [].concat(value).join(" "));
      if (parts.length) text += " (" + parts.join("; ") + ")";
    }
    return text;
  }

  function showError(element, result) {
    element.textContent = typeof result === "string" ? result : errorMessage(result);
    element.hidden = false;
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([key, value]) => {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    });
    children.flat().forEach((child) => node.append(child instanceof Node ? child : String(child)));
    return node;
  }

  async function refreshBell() {
    const badge = document.getElementById("unread-count");
    if (!badge) return;
    const result = await api("GET", "/api/v1/notifications/unread-count");
    if (!result.ok) return;
    badge.textContent = result.data.unread;
    badge.dataset.count = result.data.unread;
    badge.hidden = result.data.unread === 0;
    const words = document.getElementById("unread-words");
    if (words) words.hidden = badge.hidden;
  }

  // Screen readers hear what changed without the focus moving: results, saved changes.
  // Errors go to the page's role="alert" boxes (showError), which are live regions too.
  function announce(text) {
    const region = document.getElementById("announcer");
    if (!region) return;
    region.textContent = "";
    // A new text node in a cleared region is announced even when the words are the same.
    setTimeout(() => (region.textContent = text), 50);
  }
  if (document.getElementById("unread-count")) setInterval(refreshBell, 30000);

  // The server's classification of SQL as a table: each statement, whether it writes and
  // of what kind, its risk and the classifier's reasons. The workspace shows it before a
  // write request is sent; it is what the approver will see on the request page.
  function statementsTable(classification) {
    const short = (text) => (text.length > 160 ? text.slice(0, 159) + "…" : text);
    const rows = classification.statements.map((statement, index) =>
      el("tr", { class: statement.verdict === "write" ? "writes" : "reads" },
        el("td", {}, String(index + 1)),
        el("td", {}, el("code", { class: "sql-snippet" }, short(statement.visible_text || statement.text))),
        el("td", { class: "statement-kind" }, statement.verdict === "write" ? statement.kind.toUpperCase() : "read"),
        el("td", {}, el("span", { class: `risk ${statement.risk}` }, statement.risk)),
        el("td", { class: "small" }, (statement.reasons || []).join("; "))));
    return el("div", { class: "table-scroll" },
      el("table", { class: "list statements" },
        el("caption", { class: "visually-hidden" }, "Statements of this SQL: which write, of what kind, their risk and why"),
        el("thead", {}, el("tr", {}, ["#", "Statement", "Writes", "Risk", "Why"].map((name) => el("th", { scope: "col" }, name)))),
        el("tbody", {}, rows)));
  }

  return { api, errorMessage, showError, el, refreshBell, announce, statementsTable };
})();
