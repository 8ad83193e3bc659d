// Linking page: "Select all on this page" for the bulk bar, the selected-rows count, and
// Close buttons of panels (data-dismiss="#id"). Listeners sit on document, so grids and
// panels that htmx swaps in later work without binding anything again.
(function () {
  "use strict";

  var ROW_BOXES = 'input[type="checkbox"][name="link_id"][form="bulk-form"]';

  function refreshCount() {
    var boxes = document.querySelectorAll(ROW_BOXES);
    var ticked = 0;
    boxes.forEach(function (box) { if (box.checked) ticked += 1; });
    var count = document.getElementById("bulk-count");
    if (count) count.textContent = ticked ? ticked + " selected" : "";
    var all = document.getElementById("bulk-select-page");
    if (all) {
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "bulk-select-page") {
      document.querySelectorAll(ROW_BOXES).forEach(function (box) { box.checked = target.checked; });
      refreshCount();
    } else if (target.matches && target.matches(ROW_BOXES)) {
      refreshCount();
    }
  });

  document.addEventListener("htmx:afterSettle", refreshCount);

  document.addEventListener("click", function (event) {
    var closer = event.target.closest && event.target.closest("[data-dismiss]");
    if (!closer) return;
    var panel = document.querySelector(closer.getAttribute("data-dismiss"));
    if (panel) {
      event.preventDefault();
      panel.remove();
    }
  });
})();
