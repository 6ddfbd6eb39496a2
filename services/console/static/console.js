// Progressive enhancement only: every page works without this file.
// A form sends once: its one-time token would refuse a second send (a double click), so
// the button is disabled as soon as the first send starts.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") {
    return;
  }
  if (form.dataset.sent === "yes") {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "yes";
  form.querySelectorAll("button[type=submit]").forEach(function (button) {
    button.disabled = true;
  });
});
