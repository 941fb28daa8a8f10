// Dialogs of the workflow pages. A <dialog data-modal> that htmx adds to the page
// opens as a modal; links and buttons with data-dialog-close close it, and a
// closed dialog is removed. Forms with data-close-on-success close their dialog
// once their htmx request succeeds. Without JavaScript the same URLs are pages.
(() => {
  const open = (root) => {
    const found = root.matches?.("dialog[data-modal]")
      ? [root]
      : root.querySelectorAll?.("dialog[data-modal]") ?? [];
    for (const dialog of found) {
      if (!dialog.open) dialog.showModal();
    }
  };
  document.addEventListener("htmx:load", (event) => open(event.detail.elt));
  document.addEventListener("click", (event) => {
    const dialog = event.target.closest?.("dialog[data-modal]");
    if (!dialog) return;
    // A click on the backdrop lands on the <dialog> itself:
    if (event.target === dialog || event.target.closest("[data-dialog-close]")) {
      event.preventDefault();
      dialog.close();
    }
  });
  document.addEventListener(
    "close",
    (event) => {
      if (event.target.matches?.("dialog[data-modal]")) event.target.remove();
    },
    true,
  );
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail.elt.closest?.("[data-close-on-success]");
    if (form && event.detail.successful) form.closest("dialog")?.close();
  });
})();
