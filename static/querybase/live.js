/* Live updates from GET /api/v1/events: the bell counts, run statuses and an open request
   page change without a reload, and a request page shows who else has it open.
   Self-contained: other scripts may listen for the "qb:live" DOM event (detail: {kind, data}). */
"use strict";
(function () {
  const bell = document.getElementById("unread-count");
  if (!window.EventSource || !bell) return; // signed-in pages only
  const { api, refreshBell } = window.QB;
  const page = document.getElementById("approval");
  const requestId = page ? Number(page.dataset.id) : null;
  const me = (document.querySelector(".usernav .who") || { textContent: "" }).textContent.trim();

  function on(kind, handler) {
    events.addEventListener(kind, (message) => {
      const data = JSON.parse(message.data);
      handler(data);
      document.dispatchEvent(new CustomEvent("qb:live", { detail: { kind, data } }));
    });
  }

  // EventSource reconnects by itself and sends Last-Event-ID, so nothing is missed.
  const events = new EventSource("/api/v1/events");
  window.addEventListener("pagehide", () => events.close());
  // A notification about the request this page shows has been seen: it is read at once
  // (the page's own load marks those already there; this one came after it).
  on("notification", async (data) => {
    if (requestId && data.link === `/approvals/${requestId}`) {
      await api("POST", `/api/v1/notifications/${data.notification}/read`);
    }
    refreshBell();
  });
  on("run.status", (data) => {
    document.querySelectorAll(`[data-run-id="${data.run}"] .status`).forEach((badge) => {
      badge.textContent = data.status;
      badge.className = `status ${data.status}`;
    });
  });
  if (!requestId) return;

  // The request page: take the changed parts from a fresh copy of the page.
  // One fetch at a time; an event arriving meanwhile asks for one more after it.
  let refreshing = false;
  let again = false;
  async function refreshRequest() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      do {
        again = false;
        const response = await fetch(window.location.href, { credentials: "same-origin" });
        if (!response.ok) return;
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const selector of ["#approval-status", "#approval .facts", "#timeline"]) {
          const now = document.querySelector(selector);
          const then = fresh.querySelector(selector);
          if (now && then) now.replaceWith(document.importNode(then, true));
        }
        for (const selector of ["#review-form", "#cancel-request", "#waiting-note"]) {
          if (!fresh.querySelector(selector)) document.querySelectorAll(selector).forEach((node) => node.remove());
        }
      } while (again);
    } finally {
      refreshing = false;
    }
  }
  for (const kind of ["approval.status", "approval.reviewed"]) {
    on(kind, (data) => data.request === requestId && refreshRequest());
  }

  // Presence: who else has this page open ("pat is reviewing").
  const line = document.createElement("p");
  line.id = "presence";
  line.className = "muted small";
  line.hidden = true;
  page.querySelector(".title-row").after(line);
  function showViewers(viewers) {
    const others = viewers.filter((viewer) => viewer.username !== me);
    line.textContent = others.map((viewer) => `${viewer.username} is ${viewer.activity}`).join(" · ");
    line.hidden = others.length === 0;
  }
  on("presence", (data) => data.request === requestId && showViewers(data.viewers));
  const presenceUrl = `/api/v1/approvals/${requestId}/presence`;
  async function heartbeat() {
    const answer = await api("POST", presenceUrl);
    if (answer.ok) showViewers(answer.data.viewers);
  }
  heartbeat();
  setInterval(heartbeat, 20000); // presence lasts a minute without one
  window.addEventListener("pagehide", () => {
    const token = (document.cookie.match(/(?:^|; )csrftoken=([^;]*)/) || [])[1] || "";
    fetch(presenceUrl, {
      method: "DELETE",
      keepalive: true,
      credentials: "same-origin",
      headers: { "X-CSRFToken": decodeURIComponent(token) },
    });
  });
})();
