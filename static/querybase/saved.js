/* Saved queries: search, rename, share with groups or by link, copy the link, delete.
   Every change goes through the API and updates the row in place: no page reload. */
"use strict";
(function () {
  const { api, showError, announce, el } = window.QB;
  const $ = (id) => document.getElementById(id);
  const errorBox = $("error");
  const rows = () => [...document.querySelectorAll("#saved-list tr[data-id]")];

  async function call(method, url, body) {
    errorBox.hidden = true;
    const answer = await api(method, url, body);
    if (!answer.ok) {
      showError(errorBox, answer);
      return null;
    }
    return answer;
  }

  // Search: every word must appear in the name, SQL, source or owner.
  const search = $("saved-search");
  function applySearch() {
    const words = search ? search.value.toLowerCase().split(/\s+/).filter(Boolean) : [];
    let shown = 0;
    rows().forEach((row) => {
      row.hidden = !words.every((word) => row.dataset.search.includes(word));
      if (!row.hidden) shown += 1;
    });
    $("saved-empty").hidden = rows().length > 0;
    $("saved-no-match").hidden = !(rows().length > 0 && shown === 0);
    $("saved-count").textContent = words.length ? `${shown} of ${rows().length} saved queries match.` : "";
  }
  if (search) search.addEventListener("input", applySearch);

  function shareLinkOf(answer) {
    // The API names the link by its token; the page for people is /shared/<token>/.
    const token = answer.data.share_url ? answer.data.share_url.split("/").pop() : "";
    return token ? `${window.location.origin}/shared/${encodeURIComponent(token)}/` : "";
  }

  async function copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (failure) {
      // No clipboard access (an insecure origin, a refused permission): select the text so
      // Ctrl+C copies it, and say so.
      const input = button.parentElement.querySelector(".share-url");
      input.focus();
      input.select();
      button.textContent = "Press Ctrl+C to copy";
      announce("Link selected: press Control C to copy it.");
      return;
    }
    button.textContent = "Copied ✓";
    button.classList.add("done");
    announce("Link copied to the clipboard.");
    setTimeout(() => {
      button.textContent = "Copy link";
      button.classList.remove("done");
    }, 2000);
  }

  // One dialog per kind of question, opened for the row in hand.
  let current = null;
  const renameDialog = $("rename-dialog");
  const deleteDialog = $("delete-dialog");

  renameDialog.querySelector("form").addEventListener("submit", async (event) => {
    if (!event.submitter || event.submitter.value !== "save") return; // Cancel closes it
    event.preventDefault();
    const name = $("rename-input").value.trim();
    if (!name) return;
    const answer = await api("PATCH", `/api/v1/saved-queries/${current.dataset.id}`, { name });
    if (!answer.ok) {
      showError($("rename-error"), answer);
      return;
    }
    const link = current.querySelector(".query-name");
    current.dataset.search = current.dataset.search.replace(link.textContent.toLowerCase(), answer.data.name.toLowerCase());
    link.textContent = answer.data.name;
    renameDialog.close();
    announce(`Renamed to ${answer.data.name}.`);
    link.focus();
  });

  deleteDialog.addEventListener("close", async () => {
    if (deleteDialog.returnValue !== "delete" || !current) return;
    const row = current;
    if (!(await call("DELETE", `/api/v1/saved-queries/${row.dataset.id}`))) return;
    const name = row.querySelector(".query-name").textContent;
    row.remove();
    applySearch();
    announce(`Deleted ${name}.`);
    (search || $("main")).focus();
  });

  rows().forEach((row) => {
    const url = `/api/v1/saved-queries/${row.dataset.id}`;
    const on = (selector, event, handler) => {
      const element = row.querySelector(selector);
      if (element) element.addEventListener(event, handler);
    };
    const linkBox = row.querySelector(".share-link-box");
    const showLink = (link) => {
      linkBox.querySelector(".share-url").value = link;
      linkBox.hidden = !link;
      row.querySelector(".unlink").hidden = !link;
      row.querySelector(".link-create").hidden = Boolean(link);
    };

    on(".rename", "click", () => {
      current = row;
      $("rename-input").value = row.querySelector(".query-name").textContent;
      $("rename-error").hidden = true;
      renameDialog.showModal();
      $("rename-input").select();
    });
    on(".share-groups", "submit", async (event) => {
      event.preventDefault();
      const boxes = [...event.target.querySelectorAll("input[name=group]:checked")];
      const answer = await call("PATCH", url, { shared_with_groups: boxes.map((box) => Number(box.value)) });
      if (!answer) return;
      const chips = boxes.map((box) => el("span", { class: "chip" }, box.dataset.name));
      row.querySelector(".group-chips").replaceChildren(...(chips.length ? chips : [el("span", { class: "muted" }, "—")]));
      announce(chips.length ? `Shared with ${boxes.map((box) => box.dataset.name).join(", ")}.` : "Shared with no group.");
    });
    on(".link-create", "click", async () => {
      const answer = await call("POST", `${url}/share-link`);
      if (!answer) return;
      showLink(shareLinkOf(answer));
      announce("Share link created.");
      linkBox.querySelector(".copy-link").focus();
    });
    on(".unlink", "click", async () => {
      if (!(await call("DELETE", `${url}/share-link`))) return;
      showLink("");
      announce("Share link revoked: it no longer opens this query.");
      row.querySelector(".link-create").focus();
    });
    on(".copy-link", "click", (event) => copy(linkBox.querySelector(".share-url").value, event.currentTarget));
    on(".delete", "click", () => {
      current = row;
      $("delete-name").textContent = row.querySelector(".query-name").textContent;
      deleteDialog.returnValue = "";
      deleteDialog.showModal();
    });
  });
})();
