/* Notifications page: opening one marks it read; "mark all read". */
"use strict";
(function () {
  const { api, refreshBell } = window.QB;
  document.querySelectorAll("#notification-list li[data-id]").forEach((item) => {
    item.querySelector(".note-link").addEventListener("click", () => {
      if (item.classList.contains("unread")) api("POST", `/api/v1/notifications/${item.dataset.id}/read`);
    });
  });
  document.getElementById("read-all").addEventListener("click", async () => {
    await api("POST", "/api/v1/notifications/read-all");
    document.querySelectorAll("#notification-list li.unread").forEach((item) => item.classList.remove("unread"));
    refreshBell();
  });
})();
