/* The request page: highlighted SQL, decisions, dry-run, cancel. */
"use strict";
(function () {
  const { api, showError } = window.QB;
  const page = document.getElementById("approval");
  const id = page.dataset.id;
  const errorBox = document.getElementById("error");
  const MODES = { postgresql: "text/x-pgsql", mysql: "text/x-mysql", sqlite: "text/x-sqlite" };

  const sql = document.getElementById("exact-sql");
  if (window.CodeMirror && CodeMirror.runMode) {
    const text = sql.textContent;
    sql.textContent = "";
    CodeMirror.runMode(text, MODES[page.dataset.engine] || "text/x-sql", sql);
  }

  async function act(url, body) {
    errorBox.hidden = true;
    document.querySelectorAll("#review-form button, #cancel-request").forEach((button) => (button.disabled = true));
    const answer = await api("POST", url, body);
    if (!answer.ok) {
      showError(errorBox, answer);
      document.querySelectorAll("#review-form button, #cancel-request").forEach((button) => (button.disabled = false));
      return;
    }
    window.location.reload();
  }

  const comment = () => (document.getElementById("comment") || { value: "" }).value;
  const on = (elementId, handler) => {
    const element = document.getElementById(elementId);
    if (element) element.addEventListener("click", handler);
  };
  on("approve", () => act(`/api/v1/approvals/${id}/review`, { decision: "approve", comment: comment() }));
  on("reject", () => act(`/api/v1/approvals/${id}/review`, { decision: "reject", comment: comment() }));
  on("dry-run", () => act(`/api/v1/approvals/${id}/dry-run`));
  on("cancel-request", () => {
    if (window.confirm("Cancel this request?")) act(`/api/v1/approvals/${id}/cancel`);
  });

  // While it is approved or executing, follow it until the outcome is known.
  const status = document.getElementById("approval-status").textContent.trim();
  if (status === "approved" || status === "executing") {
    const poll = async () => {
      const answer = await api("GET", `/api/v1/approvals/${id}`);
      if (answer.ok && answer.data.status !== status) window.location.reload();
      else setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }
})();
