// SKU Bridge front-end glue: one listener for toasts raised by HX-Trigger: {"showMessage": …}.
(function () {
  "use strict";

  // A toast with a link stays longer, and while the pointer or the focus is on it.
  function showMessage(message, level, url, linkText) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "info");
    toast.setAttribute("role", level === "error" ? "alert" : "status");
    toast.textContent = message;
    if (url) {
      var link = document.createElement("a");
      link.href = url;
      link.textContent = linkText || "Open";
      toast.append(" ", link);
    }
    box.appendChild(toast);
    var stay = url ? 9000 : 4500;
    function leave() {
      if (toast.matches(":hover, :focus-within")) { setTimeout(leave, 1000); return; }
      toast.classList.add("toast-leaving");
      setTimeout(function () { toast.remove(); }, 500);
    }
    setTimeout(leave, stay);
  }

  document.addEventListener("showMessage", function (event) {
    showMessage(event.detail.message, event.detail.level);
  });

  // The job watcher (jobs/_watch.html) says when the user's own jobs are over.
  document.addEventListener("jobsOver", function (event) {
    event.detail.runs.forEach(function (run) {
      showMessage(run.message, run.level, run.url, run.link_text);
    });
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

  // The inline link editor: the search input is a combobox over the candidate listbox.
  // ArrowDown/ArrowUp choose an option, Enter saves the link to it, Escape cancels.
  function editorOf(element) { return element.closest && element.closest("[data-link-editor]"); }
  function optionsOf(editor) { return Array.prototype.slice.call(editor.querySelectorAll('[role="option"]')); }

  function choose(editor, option, scroll) {
    optionsOf(editor).forEach(function (o) { o.setAttribute("aria-selected", String(o === option)); });
    editor.querySelector("[data-editor-search]").setAttribute("aria-activedescendant", option.id);
    editor.querySelector("[data-chosen-input]").value = option.dataset.storeSkuId;
    editor.querySelector("[data-chosen-label]").textContent = "Chosen: " + option.dataset.label;
    if (scroll) option.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    var editor = editorOf(event.target);
    if (!editor) return;
    if (event.key === "Escape") {
      event.preventDefault();
      editor.querySelector("[data-editor-cancel]").click();
      return;
    }
    if (!event.target.matches("[data-editor-search]")) return;
    var options = optionsOf(editor);
    var current = options.indexOf(editor.querySelector('[role="option"][aria-selected="true"]'));
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!options.length) return;
      var next = event.key === "ArrowDown" ? Math.min(current + 1, options.length - 1) : Math.max(current - 1, 0);
      choose(editor, options[next], true);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (current >= 0) editor.querySelector("form").requestSubmit();
    }
  });

  document.addEventListener("click", function (event) {
    var option = event.target.closest('[data-link-editor] [role="option"]');
    if (option) choose(editorOf(option), option, false);
    var remove = event.target.closest("[data-remove-part]");
    if (remove) remove.closest("[data-kit-part]").remove();
  });

  document.addEventListener("htmx:load", function (event) {
    var element = event.detail.elt;
    var editor = editorOf(element);
    if (element.matches("[data-link-editor]")) {
      element.querySelector("[data-editor-search]").focus();
    } else if (editor && element.matches(".candidates")) {
      // A fresh list: keep the chosen store SKU highlighted if it is still there.
      var chosen = editor.querySelector("[data-chosen-input]").value;
      var option = chosen && element.querySelector('[data-store-sku-id="' + chosen + '"]');
      if (option) choose(editor, option, false);
      else editor.querySelector("[data-editor-search]").removeAttribute("aria-activedescendant");
    } else if (element.matches("tr[id^='link-']") && (!document.activeElement || document.activeElement === document.body)) {
      var action = element.querySelector(".row-actions button");  // focus was in the replaced row
      if (action) action.focus();
    }
  });

  // Adding a store: only the chosen platform's credential fields show (all show without JS).
  function showChosenPlatform() {
    var select = document.getElementById("platform");
    if (!select) return;
    document.querySelectorAll("fieldset[data-platform]").forEach(function (fieldset) {
      fieldset.hidden = fieldset.getAttribute("data-platform") !== select.value;
    });
  }
  document.addEventListener("DOMContentLoaded", showChosenPlatform);
  document.addEventListener("change", function (event) {
    if (event.target.id === "platform") showChosenPlatform();
  });
})();
