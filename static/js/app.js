// Sextant's small client: CSRF header on every HTMX request, error display, flash dismissal.
(function () {
  "use strict";

  function cookie(name) {
    const match = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return match ? decodeURIComponent(match.slice(name.length + 1)) : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = cookie("sextant_csrf");
  });

  // Swap error responses too: forms re-render with their message in place, and
  // other errors arrive re-targeted at #flash by the server.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "[45]..", swap: true, error: true },
  ];

  document.addEventListener("htmx:sendError", function () {
    const flash = document.getElementById("flash");
    if (flash) {
      flash.innerHTML = '<div class="flash flash-error"><span>The server cannot be reached. Check your connection and try again.</span></div>';
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.matches("[data-dismiss-flash]")) {
      event.target.closest(".flash").remove();
    }
    const copier = event.target.closest("[data-copy]");
    if (copier) copyText(copier);
  });

  // "Copy" beside a key or a snippet. The Clipboard API needs a secure context (HTTPS or
  // localhost); elsewhere the text is selected and copied the old way.
  function copyText(button) {
    const source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    const text = source.textContent;
    const done = () => { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => selectAndCopy(source, done));
    } else {
      selectAndCopy(source, done);
    }
  }

  function selectAndCopy(source, done) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    if (document.execCommand("copy")) done();
  }
})();
