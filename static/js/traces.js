// The trace explorer's small client: tidy shareable filter URLs, instant filter
// selects, picking traces for an annotation queue, and keyboard moves through the
// span tree. Everything else is HTMX.
(function () {
  "use strict";

  // Leave empty fields (and dates a preset range overrides) out of the request, so
  // the pushed URL holds only the filters in force.
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.id !== "trace-filters") return;
    const params = event.detail.parameters; // htmx 2 hands over a FormData proxy
    if (params.get("range") !== "custom") {
      params.delete("from");
      params.delete("to");
    }
    for (const name of Array.from(params.keys())) {
      if (params.get(name) === "") params.delete(name);
    }
  });

  // A select applies at once; text fields apply on Enter or "Apply".
  document.addEventListener("change", function (event) {
    const form = event.target.closest("#trace-filters");
    if (form && event.target.matches("select") && event.target.value !== "custom") form.requestSubmit();
  });

  // "Add to queue" posts to the chosen queue's add route; the server wrote each queue's URL,
  // with the list's filter in it for "all matching".
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.id !== "queue-add") return;
    const choice = event.detail.elt.querySelector("[data-queue-choice]");
    event.detail.path = choice.selectedOptions[0].dataset.addUrl;
  });

  function rowBoxes() {
    return Array.from(document.querySelectorAll('#trace-rows input[name="trace_ids"]'));
  }

  // Keep the select-all box (checked, mixed or clear) and the "Add selected" count in step.
  function showSelection() {
    const boxes = rowBoxes();
    const ticked = boxes.filter((box) => box.checked).length;
    const all = document.querySelector("[data-select-page]");
    if (all) {
      all.checked = ticked > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    const count = document.querySelector("[data-selected-count]");
    if (count) count.textContent = String(ticked);
  }

  // The queue chosen last, chosen again when a new filter brings a new list (and a new control).
  let chosenQueue = null;

  function keepQueueChoice() {
    const choice = document.querySelector("[data-queue-choice]");
    if (choice && chosenQueue && Array.from(choice.options).some((o) => o.value === chosenQueue)) {
      choice.value = chosenQueue;
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-queue-choice]")) chosenQueue = event.target.value;
    if (event.target.matches("[data-select-page]")) {
      rowBoxes().forEach((box) => { box.checked = event.target.checked; });
    }
    if (event.target.matches('[data-select-page], #trace-rows input[name="trace_ids"]')) showSelection();
  });

  // "Load more" brings unticked rows: the select-all box is then mixed.
  document.addEventListener("htmx:afterSettle", function () {
    showSelection();
    keepQueueChoice();
  });

  // "x" ticks or unticks the row that holds the focus (its link or its box).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "x" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest('input:not([type="checkbox"]), textarea, select, [contenteditable]')) return;
    const row = event.target.closest("#trace-rows tr");
    const box = row && row.querySelector('input[name="trace_ids"]');
    if (!box) return;
    event.preventDefault();
    box.click(); // toggles and fires "change", like a mouse click
  });

  // Mark the span whose panel is shown.
  document.addEventListener("click", function (event) {
    const row = event.target.closest(".span-row");
    if (!row) return;
    document.querySelectorAll(".span-row[aria-current]").forEach((r) => r.removeAttribute("aria-current"));
    row.setAttribute("aria-current", "true");
  });

  // In the span tree, arrow keys (or j/k) select the next or previous span.
  document.addEventListener("keydown", function (event) {
    const row = event.target.closest && event.target.closest("[data-span-tree] .span-row");
    const step = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 }[event.key];
    if (!row || !step) return;
    const rows = Array.from(document.querySelectorAll("[data-span-tree] .span-row"));
    const next = rows[rows.indexOf(row) + step];
    if (next) {
      event.preventDefault();
      next.focus();
      next.click();
    }
  });

  // "/" jumps to the search box, unless one is typing already.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.target.closest("input, textarea, select, [contenteditable]")) return;
    const box = document.querySelector("[data-search-box]");
    if (box) {
      event.preventDefault();
      box.focus();
    }
  });
})();
