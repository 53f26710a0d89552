// The issue board: drag a card to another column to move the issue, or use its
// "Move to…" menu (plain HTMX buttons). Both post the same transition, so the server's
// state machine decides; a refused move shows the server's message (#flash) and the
// board is reloaded so the card returns to where it belongs. Moves that need a reason
// (resolve, ignore) first open a small form in a dialog.
(function () {
  "use strict";

  function board() { return document.getElementById("board"); }
  function dialog() { return document.getElementById("move-dialog"); }

  // The filter form's fields, as HTMX request values (repeated names as arrays).
  function filterValues() {
    const form = document.getElementById("board-filters");
    const values = {};
    if (!form) return values;
    for (const [name, value] of new FormData(form)) {
      (values[name] = values[name] || []).push(value);
    }
    return values;
  }

  function refreshBoard() {
    const current = board();
    if (!current) return;
    const form = document.getElementById("board-filters");
    const query = form ? new URLSearchParams(new FormData(form)).toString() : "";
    htmx.ajax("GET", current.dataset.boardUrl + (query ? "?" + query : ""), { target: "#board", swap: "outerHTML" });
  }

  function openMoveForm(card, target) {
    const url = card.dataset.moveUrl + "?to=" + encodeURIComponent(target) + "&view=board";
    htmx.ajax("GET", url, { target: "#move-dialog-body", swap: "innerHTML" });
  }

  function cardDropped(event) {
    if (event.from === event.to) return;
    const card = event.item;
    const target = event.to.dataset.state;
    const needsReason = (card.dataset.reasons || "").split(" ").includes(target);
    if (needsReason) {
      openMoveForm(card, target);
      return;
    }
    const values = Object.assign(filterValues(), { to_state: target, view: "board" });
    htmx.ajax("POST", card.dataset.transitionUrl, { values: values, target: "#board", swap: "outerHTML" });
  }

  function makeSortable(root) {
    if (typeof Sortable === "undefined") return;
    root.querySelectorAll(".board-cards[data-droppable]").forEach(function (list) {
      if (list.dataset.sortableReady) return;
      list.dataset.sortableReady = "1";
      Sortable.create(list, {
        group: "issue-board",
        sort: false, // order within a column comes from the sort filter, not from dragging
        draggable: ".issue-card",
        filter: "a, button, summary, input, textarea, select",
        preventOnFilter: false,
        animation: 120,
        // Pointer events rather than native drag and drop: the same behaviour in every
        // browser and on touch screens, and links inside a card do not hijack the drag.
        forceFallback: true,
        onEnd: cardDropped,
      });
    });
  }

  // Page scripts run before htmx (base.html loads it after the page's own head):
  // wait for the document, by which time every deferred script has run.
  function init() {
    htmx.onLoad(makeSortable);
    makeSortable(document.body);
    document.body.addEventListener("issue-moved", closeAfterMove);
  }

  document.addEventListener("DOMContentLoaded", init);

  // Show the reason form once it has arrived; focus its text box.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "move-dialog-body" && dialog() && !dialog().open) {
      dialog().dataset.moved = "";
      dialog().showModal();
      const reason = dialog().querySelector("textarea");
      if (reason) reason.focus();
    }
  });

  // The server answers a successful move with an "issue-moved" trigger.
  function closeAfterMove() {
    const d = dialog();
    if (d && d.open) {
      d.dataset.moved = "1";
      d.close();
    }
  }

  document.addEventListener("click", function (event) {
    if (event.target.matches("[data-close-dialog]")) dialog().close();
  });

  // Closing the reason form without moving (Cancel, Escape) puts a dragged card back.
  document.addEventListener("close", function (event) {
    if (event.target === dialog() && !event.target.dataset.moved) refreshBoard();
  }, true);

  // A refused move (409 and the like): the message is in #flash; put the card back.
  document.addEventListener("htmx:responseError", function (event) {
    const path = (event.detail.pathInfo && event.detail.pathInfo.requestPath) || "";
    const d = dialog();
    if (path.endsWith("/transition") && !(d && d.open)) refreshBoard();
  });
})();
