// The annotation workbench's keyboard: every key stands for a button or field on the page,
// so anything done by key can be done by mouse too. The workbench (#workbench) is replaced
// by HTMX after every action; handlers therefore look elements up when a key is pressed.
(function () {
  "use strict";

  // Focus in any form control (a text field, but also a checkbox or a radio) means the
  // person is working that control: letters must not act as commands there. An annotator
  // who tabbed onto a failure-mode checkbox and typed a new mode's name once fired "s".
  function inFormControl(element) {
    if (!element || element === document.body) return false;
    if (element.isContentEditable) return true;
    return ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName);
  }

  function workbench() {
    return document.getElementById("workbench");
  }

  function overlay() {
    return document.getElementById("shortcuts");
  }

  function toggleShortcuts(show) {
    const box = overlay();
    if (!box) return;
    box.hidden = show === undefined ? !box.hidden : !show;
    if (!box.hidden) box.querySelector("button").focus();
  }

  function chooseVerdict(value) {
    const radio = workbench().querySelector('input[name="verdict"][value="' + value + '"]');
    if (radio) {
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function toggleFailureMode(number) {
    const box = workbench().querySelector('input[data-shortcut="' + number + '"]');
    if (!box) return;
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function focusField(selector) {
    const field = workbench().querySelector(selector);
    if (field) field.focus();
  }

  function click(action) {
    const button = workbench().querySelector('[data-action="' + action + '"]');
    if (button && !button.disabled) button.click();
  }

  function submit() {
    const form = document.getElementById("judgement");
    if (!form) return;
    // A form swapped in a moment ago may not be bound by htmx yet; unbound, it would
    // submit natively (a GET that loses the judgement). process() binds it now.
    if (window.htmx) window.htmx.process(form);
    form.requestSubmit();
  }

  // Keys that work anywhere on the workbench, as long as no text field has the focus.
  const COMMANDS = {
    p: () => chooseVerdict("pass"),
    f: () => chooseVerdict("fail"),
    i: () => focusField("#feedback"),
    n: () => focusField('input[name="new_issue"]'),
    s: () => click("skip"),
    ArrowLeft: () => click("previous"),
    "?": () => toggleShortcuts(),
  };

  function onKeydown(event) {
    if (!workbench() || event.defaultPrevented || event.isComposing) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
      return;
    }
    if (event.key === "Escape") {
      if (overlay() && !overlay().hidden) toggleShortcuts(false);
      else if (inFormControl(document.activeElement)) document.activeElement.blur();
      return;
    }
    if (inFormControl(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (overlay() && !overlay().hidden && event.key !== "?") return;
    const command = /^[1-9]$/.test(event.key) ? () => toggleFailureMode(event.key) : COMMANDS[event.key];
    if (command) {
      event.preventDefault(); // "i" must not also type an "i" into the field it focuses
      command();
    }
  }

  // A failure mode implies a fail: ticking one with no verdict yet chooses fail.
  function onChange(event) {
    const target = event.target;
    if (target.name !== "issue_ids" || !target.checked || !workbench()) return;
    const chosen = workbench().querySelector('input[name="verdict"]:checked');
    if (!chosen) chooseVerdict("fail");
  }

  function onClick(event) {
    if (event.target.closest("[data-shortcuts-toggle]")) toggleShortcuts();
    else if (event.target === overlay()) toggleShortcuts(false);
  }

  // The instructions open with the first item; after that they stay as the annotator left them.
  let instructionsOpen = null;

  function onToggle(event) {
    if (event.target.classList && event.target.classList.contains("wb-instructions")) {
      instructionsOpen = event.target.open;
    }
  }

  // After a swap the old focus is gone: keep the keys working from the page, and put the
  // cursor where the server asked (a refused feedback comes back with autofocus).
  function onSwapped(event) {
    if (!event.detail.target || event.detail.target.id !== "workbench") return;
    const instructions = workbench() && workbench().querySelector(".wb-instructions");
    if (instructions && instructionsOpen !== null) instructions.open = instructionsOpen;
    const wanted = workbench() && workbench().querySelector("[autofocus]");
    if (wanted) wanted.focus();
    else if (inFormControl(document.activeElement)) document.activeElement.blur();
    window.scrollTo({ top: 0 });
  }

  // Time on the item, for the annotator's pace and the team's annotation hours: counted
  // from when the item appeared, paused while the tab is hidden.
  let visibleSince = Date.now();
  let counted = 0;

  function resetClock() {
    counted = 0;
    visibleSince = document.hidden ? null : Date.now();
  }

  function onVisibility() {
    if (document.hidden && visibleSince !== null) {
      counted += Date.now() - visibleSince;
      visibleSince = null;
    } else if (!document.hidden && visibleSince === null) {
      visibleSince = Date.now();
    }
  }

  function onSubmitJudgement(event) {
    if (event.target.id !== "judgement") return;
    const field = event.target.querySelector('input[name="seconds"]');
    const running = visibleSince === null ? 0 : Date.now() - visibleSince;
    if (field) field.value = String(Math.round((counted + running) / 1000));
  }

  // A refused submit keeps the item: only a new item restarts the clock.
  let itemOnScreen = workbench() && workbench().getAttribute("data-item-id");
  function onItemSwapped(event) {
    if (!event.detail.target || event.detail.target.id !== "workbench") return;
    const id = workbench() && workbench().getAttribute("data-item-id");
    if (id !== itemOnScreen) {
      itemOnScreen = id;
      resetClock();
    }
  }

  document.addEventListener("keydown", onKeydown);
  document.addEventListener("visibilitychange", onVisibility);
  // Capture phase: the value must be in place before htmx reads the form on "submit".
  document.addEventListener("submit", onSubmitJudgement, true);
  document.addEventListener("htmx:afterSettle", onItemSwapped);
  document.addEventListener("change", onChange);
  document.addEventListener("click", onClick);
  document.addEventListener("toggle", onToggle, true); // "toggle" does not bubble
  document.addEventListener("htmx:afterSettle", onSwapped);
})();
