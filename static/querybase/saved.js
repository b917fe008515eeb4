/* Saved queries: rename, share with groups or by link, delete. */
"use strict";
(function () {
  const { api, showError } = window.QB;
  const errorBox = document.getElementById("error");

  async function call(method, url, body) {
    const answer = await api(method, url, body);
    if (!answer.ok && answer.status !== 204) {
      showError(errorBox, answer);
      return false;
    }
    window.location.reload();
    return true;
  }

  document.querySelectorAll("tr[data-id]").forEach((row) => {
    const url = `/api/v1/saved-queries/${row.dataset.id}`;
    const on = (selector, event, handler) => {
      const element = row.querySelector(selector);
      if (element) element.addEventListener(event, handler);
    };
    on(".rename", "click", () => {
      const name = window.prompt("New name:", row.querySelector("a.strong").textContent);
      if (name) call("PATCH", url, { name });
    });
    on(".share-groups", "submit", (event) => {
      event.preventDefault();
      const groups = [...event.target.querySelectorAll("input[name=group]:checked")].map((box) => Number(box.value));
      call("PATCH", url, { shared_with_groups: groups });
    });
    on(".link-create", "click", () => call("POST", `${url}/share-link`));
    on(".unlink", "click", () => call("DELETE", `${url}/share-link`));
    on(".delete", "click", () => {
      if (window.confirm("Delete this saved query?")) call("DELETE", url);
    });
  });
})();
