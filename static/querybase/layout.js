/* The page frame on small screens: the collapsed navigation and the workspace's sidebar
   drawer (at most 768 px wide, see app.css). Both are plain disclosure buttons. */
"use strict";
(function () {
  function disclosure(button, panel, openClass) {
    if (!button || !panel) return;
    const set = (open) => {
      button.setAttribute("aria-expanded", String(open));
      panel.classList.toggle(openClass, open);
    };
    button.addEventListener("click", () => set(button.getAttribute("aria-expanded") !== "true"));
    // Escape closes it and gives the focus back to its button, as a menu would.
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        set(false);
        button.focus();
      }
    });
    return set;
  }

  disclosure(document.getElementById("nav-toggle"), document.getElementById("site-nav"), "open");

  const sidebar = document.querySelector("main .sidebar");
  if (sidebar) {
    sidebar.id = sidebar.id || "sidebar";
    const toggle = document.getElementById("drawer-toggle");
    const setDrawer = disclosure(toggle, sidebar, "open");
    // Picking a table or column from the drawer puts it in the editor: close the drawer so
    // the editor is visible again.
    sidebar.addEventListener("click", (event) => {
      if (setDrawer && event.target.closest(".column, .insert") && window.matchMedia("(max-width: 768px)").matches) {
        setDrawer(false);
      }
    });
  }
})();
