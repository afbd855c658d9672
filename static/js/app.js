// Confirmation boxes: a button with data-open-dialog="ID" opens <dialog id="ID">;
// buttons with data-close-dialog close it without doing anything.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-open-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.openDialog);
    if (dialog) dialog.showModal();
    return;
  }
  const closer = event.target.closest("[data-close-dialog]");
  if (closer) closer.closest("dialog").close();
});

// Copy buttons: data-copy="#selector" copies that element's text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch (err) {
    window.getSelection().selectAllChildren(source);  // fall back to a selection to copy by hand
  }
});

// --- HTMX ----------------------------------------------------------------------------
// A refused form comes back as 400 with the refusals next to their fields: swap it in.
if (window.htmx) {
  // New content is wired up at once (no 20 ms settle gap in which a change is missed).
  htmx.config.defaultSettleDelay = 0;
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "400", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];
}

// Polled fragments (job rows, the job card) wait while a menu or a confirmation box is
// open, so what a person is about to click is never replaced under the pointer.
window.batchstudio = {
  quiet: () => !document.querySelector("dialog[open], details.menu[open]"),
};

// --- wizard: hub windows -----------------------------------------------------------------
// <select data-hub="model" data-hub-url="..."> has a "Select from model hub" option
// (value "hub"): it opens the hub window instead of refreshing the form, and the select
// keeps its previous value until "Use model" picks one.
document.addEventListener("focusin", (event) => {
  const select = event.target.closest("select[data-hub]");
  if (select && select.value !== "hub") select.dataset.previous = select.value;
});

document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-hub]");
  if (!select || select.value !== "hub" || !window.htmx) return;
  select.value = select.dataset.previous || "";
  const dialog = document.getElementById(`${select.dataset.hub}-hub-dialog`);
  if (!dialog) return;
  const body = dialog.querySelector("[data-hub-body]");
  const mlApp = document.getElementById("id_ml_app");
  const values = { pick: "1" };
  if (mlApp && mlApp.value) values.hub_ml_app = mlApp.value;
  dialog.showModal();
  htmx.ajax("GET", select.dataset.hubUrl, { target: body, swap: "innerHTML", values });
});

document.addEventListener("click", (event) => {
  const use = event.target.closest("[data-hub-use]");
  if (!use) return;
  const hub = use.closest(".hub");
  const select = document.getElementById(use.dataset.hubUse);
  if (!hub || !select || !use.closest("dialog")) return;  // no window: the form posts it
  event.preventDefault();
  const chosen = hub.querySelector("input[type=radio][name^=use_]:checked");
  const warning = hub.querySelector(".hub-none");
  if (!chosen) {
    if (warning) warning.hidden = false;
    return;
  }
  if (![...select.options].some((o) => o.value === chosen.value)) {
    select.add(new Option(chosen.dataset.label, chosen.value));
  }
  select.value = chosen.value;
  use.closest("dialog").close();
  select.focus();
  select.dispatchEvent(new Event("change", { bubbles: true }));
});

// --- wizard: the Inference settings pane keeps its open/closed state across refreshes --
document.addEventListener("toggle", (event) => {
  const pane = event.target;
  if (!(pane instanceof HTMLDetailsElement) || pane.id !== "settings-pane") return;
  const flag = pane.closest("form")?.querySelector("[data-settings-open]");
  if (flag) flag.value = pane.open ? "1" : "";
}, true);

// --- ⋮ Actions menus ----------------------------------------------------------------------
// <details class="menu">: one open at a time, closed by a choice, a click outside or Escape.
document.addEventListener("click", (event) => {
  const inMenu = event.target.closest("details.menu");
  document.querySelectorAll("details.menu[open]").forEach((menu) => {
    if (menu !== inMenu) menu.open = false;
  });
  if (inMenu && event.target.closest("[role=menuitem]")) inMenu.open = false;
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  document.querySelectorAll("details.menu[open]").forEach((menu) => {
    menu.open = false;
    menu.querySelector("summary")?.focus();
  });
});

// --- wizard: a refresh never eats what was typed while it was on its way -----------------
// The refresh re-renders the whole form from the values it sent; a text field changed
// since then gets the newer value back (and the path is checked again).
(() => {
  const typed = (form) => Object.fromEntries(
    [...form.querySelectorAll("input:not([type=hidden]):not([type=radio]):not([type=checkbox])")]
      .map((input) => [input.name, input.value]),
  );
  // Swap events fire on the target: the requesting element is in requestConfig.
  const fromRefresher = (event) => event.detail.requestConfig?.elt?.id === "wizard-refresher";
  let sent = null;
  let before = null;
  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = document.getElementById("job-form");
    if (fromRefresher(event) && form) sent = typed(form);
  });
  document.addEventListener("htmx:beforeSwap", (event) => {
    const form = document.getElementById("job-form");
    if (fromRefresher(event) && form) before = typed(form);
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    if (!fromRefresher(event) || !sent || !before) return;
    const form = document.getElementById("job-form");
    for (const [name, value] of Object.entries(before)) {
      if (value === sent[name]) continue;
      const input = form && form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (!input || input.value === value) continue;
      input.value = value;
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }
    sent = before = null;
  });
})();

// A polled job row whose job was deleted meanwhile (another tab, the CLI) leaves the list.
document.addEventListener("htmx:responseError", (event) => {
  const elt = event.detail.elt;
  if (event.detail.xhr.status === 404 && elt.matches("tr[data-job]")) elt.remove();
});
