// Dialogs of the workflow pages. A <dialog data-modal> that htmx adds to the page
// opens as a modal; links and buttons with data-dialog-close close it, and a
// closed dialog is removed. Forms with data-close-on-success close their dialog
// once their htmx request succeeds. Without JavaScript the same URLs are pages.
//
// Closing gives focus back to what opened the dialog, found by its id when a
// refresh replaced it meanwhile, else to the form's data-return-focus (a
// cancelled run's row has no Cancel button left). cairn:announce events write
// their message into the page's [data-announce] region.
(() => {
  const open = (root) => {
    const found = root.matches?.("dialog[data-modal]")
      ? [root]
      : root.querySelectorAll?.("dialog[data-modal]") ?? [];
    for (const dialog of found) {
      if (!dialog.open) {
        dialog.dataset.opener = document.activeElement?.id ?? "";
        dialog.showModal();
      }
    }
  };
  const lost = () =>
    !document.activeElement || document.activeElement === document.body;
  const returnFocus = (dialog) => {
    const fallback = dialog.querySelector("[data-return-focus]")?.dataset.returnFocus;
    // After the browser's own return of focus, and after a swap that may follow:
    setTimeout(() => {
      if (!lost()) return;
      for (const id of [dialog.dataset.opener, fallback]) {
        const target = id && document.getElementById(id);
        if (target) return target.focus();
      }
    }, 50);
  };
  document.body.addEventListener("cairn:announce", (event) => {
    const region = document.querySelector("[data-announce]");
    if (region) region.textContent = event.detail.message;
  });
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
      if (event.target.matches?.("dialog[data-modal]")) {
        returnFocus(event.target);
        event.target.remove();
      }
    },
    true,
  );
  // Run tiles and the Runs tab's rows change status when their poller swaps
  // them in; say each change out loud, as the run page does. Only those
  // swaps: a row's own Cancel run says what it did already.
  const statuses = () =>
    new Map([...document.querySelectorAll("[data-run]")].map((badge) => [
      badge.dataset.run,
      badge.textContent.trim(),
    ]));
  const announcer = document.createElement("div");
  announcer.className = "visually-hidden";
  announcer.setAttribute("role", "status");
  announcer.dataset.test = "status-announcer";
  document.body.append(announcer);
  let before = null;
  document.addEventListener("htmx:beforeSwap", (event) => {
    // Not for an answer that swaps nothing (an idle poll's 204, an error):
    const swaps = event.detail.shouldSwap;
    before = swaps && event.detail.target?.matches?.("[data-announce-statuses]")
      ? statuses()
      : null;
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (!before) return;
    const said = new Map();
    for (const badge of document.querySelectorAll("[data-run]")) {
      const was = before.get(badge.dataset.run);
      const now = badge.textContent.trim();
      if (was && was !== now) said.set(badge.dataset.run, `${badge.dataset.runLabel}: ${now}`);
    }
    before = null;
    if (said.size) announcer.textContent = [...said.values()].join(". ");
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail.elt.closest?.("[data-close-on-success]");
    if (form && event.detail.successful) form.closest("dialog")?.close();
  });
})();

// The YAML editor's line numbers: as many as the text has lines, scrolled with it.
(() => {
  for (const gutter of document.querySelectorAll(".yaml-gutter")) {
    const editor = gutter.nextElementSibling;
    let lines = 0;
    const number = () => {
      const count = editor.value.split("\n").length;
      if (count !== lines) {
        lines = count;
        gutter.textContent = Array.from({ length: count }, (_, i) => i + 1).join("\n");
      }
      gutter.scrollTop = editor.scrollTop;
    };
    editor.addEventListener("input", number);
    editor.addEventListener("scroll", () => { gutter.scrollTop = editor.scrollTop; });
    gutter.hidden = false;
    number();
    // A problem of the text itself at "line 52, column 19" offers to put the
    // caret there (a JQ or CEL problem's line is one inside its expression).
    for (const problem of document.querySelectorAll("#descriptor-errors li")) {
      const at = problem.textContent.match(/^invalid (?:YAML|JSON): line (\d+), column (\d+)/);
      if (!at) continue;
      const line = Number(at[1]);
      const column = Number(at[2]);
      const go = document.createElement("button");
      go.type = "button";
      go.className = "btn btn-sm btn-outline-danger mb-2 me-2";
      go.textContent = `Go to line ${line}`;
      go.addEventListener("click", () => {
        const before = editor.value.split("\n").slice(0, line - 1);
        const offset = before.reduce((sum, text) => sum + text.length + 1, 0) + column - 1;
        editor.focus();
        editor.setSelectionRange(offset, offset);
        const height = parseFloat(getComputedStyle(editor).lineHeight);
        editor.scrollTop = Math.max(0, (line - 1) * height - editor.clientHeight / 3);
      });
      // After the list, which describes the editor: its text is the problems.
      document.getElementById("descriptor-errors").after(go);
    }
  }
})();

// Links that open a dialog (and, without JavaScript, a page) are buttons to
// assistive tech (role="button"), so Space presses them as it does a button.
document.addEventListener("keydown", (event) => {
  const link = event.target.closest?.('a[role="button"]');
  if (!link || event.key !== " " || event.repeat) return;
  event.preventDefault(); // not a scroll of the page
  link.click();
});
