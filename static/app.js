// SKU Bridge front-end glue: one listener for toasts raised by HX-Trigger: {"showMessage": …}.
(function () {
  "use strict";

  function showMessage(message, level) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "info");
    toast.setAttribute("role", level === "error" ? "alert" : "status");
    toast.textContent = message;
    box.appendChild(toast);
    setTimeout(function () { toast.classList.add("toast-leaving"); }, 4500);
    setTimeout(function () { toast.remove(); }, 5000);
  }

  document.addEventListener("showMessage", function (event) {
    showMessage(event.detail.message, event.detail.level);
  });

  // A failed htmx request (network down, server error) still tells the user something.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (!event.detail.xhr.getResponseHeader("HX-Trigger")) {
      showMessage("The server answered " + status + ". Please try again.", "error");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    showMessage("Could not reach SKU Bridge. Check your connection and try again.", "error");
  });

  // htmx swaps 4xx/5xx responses only when told to: our error partials are meant to be shown.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 422 || event.detail.xhr.status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
