// The trace explorer's small client: tidy shareable filter URLs, instant filter
// selects, and keyboard moves through the span tree. Everything else is HTMX.
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
