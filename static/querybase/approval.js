/* The request page: highlighted SQL, decisions, dry-run, cancel, resubmit. */
"use strict";
(function () {
  const { api, showError } = window.QB;
  const page = document.getElementById("approval");
  const id = page.dataset.id;
  const errorBox = document.getElementById("error");
  const MODES = { postgresql: "text/x-pgsql", mysql: "text/x-mysql", sqlite: "text/x-sqlite" };
  const $ = (elementId) => document.getElementById(elementId);

  const sql = $("exact-sql");
  if (window.CodeMirror && CodeMirror.runMode) {
    const text = sql.textContent;
    sql.textContent = "";
    CodeMirror.runMode(text, MODES[page.dataset.engine] || "text/x-sql", sql);
  }

  const buttons = () => document.querySelectorAll("#review-form button, #cancel-request");
  async function act(url, body) {
    errorBox.hidden = true;
    buttons().forEach((button) => (button.disabled = true));
    const answer = await api("POST", url, body);
    if (!answer.ok) {
      showError(errorBox, answer);
      buttons().forEach((button) => (button.disabled = false));
      return;
    }
    window.location.reload();
  }

  const comment = () => ($("comment") || { value: "" }).value;
  const on = (elementId, handler) => {
    const element = $(elementId);
    if (element) element.addEventListener("click", handler);
  };
  const review = (decision) => act(`/api/v1/approvals/${id}/review`, { decision, comment: comment() });

  // Approving a high-risk write takes typing its number: a deliberate act, not a stray click.
  const confirmDialog = $("confirm-approve");
  if (confirmDialog) {
    const typed = $("confirm-id");
    typed.addEventListener("input", () => ($("confirm-approve-button").disabled = typed.value.trim() !== id));
    confirmDialog.addEventListener("close", () => {
      if (confirmDialog.returnValue === "approve" && typed.value.trim() === id) review("approve");
      typed.value = "";
      $("confirm-approve-button").disabled = true;
    });
  }
  on("approve", () => {
    if (confirmDialog) {
      confirmDialog.returnValue = "";
      confirmDialog.showModal();
    } else {
      review("approve");
    }
  });

  // A rejection says why (the server refuses one without a comment: comment_required).
  on("reject", () => {
    const missing = !comment().trim();
    $("comment").setAttribute("aria-invalid", String(missing));
    $("comment-error").hidden = !missing;
    if (missing) $("comment").focus();
    else review("reject");
  });
  on("dry-run", () => act(`/api/v1/approvals/${id}/dry-run`));
  on("cancel-request", () => {
    if (window.confirm("Cancel this request?")) act(`/api/v1/approvals/${id}/cancel`);
  });

  // Resubmit: a new request with the same SQL and parameters, and a reason (prefilled).
  const resubmitDialog = $("resubmit-dialog");
  if (resubmitDialog) {
    on("resubmit", () => resubmitDialog.showModal());
    resubmitDialog.querySelector("form").addEventListener("submit", async (event) => {
      if (event.submitter && event.submitter.value !== "send") return; // Cancel closes it
      event.preventDefault();
      const reason = $("resubmit-reason").value;
      if (!reason.trim()) {
        showError($("resubmit-error"), "Say why this change is needed: the reason is required.");
        $("resubmit-reason").focus();
        return;
      }
      $("resubmit-send").disabled = true;
      // The exact stored text, not the page's display of it (which marks hidden characters).
      const original = JSON.parse($("resubmission").textContent);
      const answer = await api("POST", "/api/v1/queries", { ...original, reason, request_approval: true });
      $("resubmit-send").disabled = false;
      if (answer.status === 202 && answer.data.approval) window.location.href = `/approvals/${answer.data.approval.id}`;
      else showError($("resubmit-error"), answer);
    });
  }

  // While it is approved or executing, follow it until the outcome is known.
  const status = $("approval-status").textContent.trim();
  if (status === "approved" || status === "executing") {
    const poll = async () => {
      const answer = await api("GET", `/api/v1/approvals/${id}`);
      if (answer.ok && answer.data.status !== status) window.location.reload();
      else setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }
})();
