// The return form without surprises: the detail list shows only the chosen reason's details, the keep-it
// offer only for the seller's faults, the exchange choice only for an exchange. The form works without it.
(function () {
  "use strict";
  const form = document.getElementById("return-form");
  if (!form) return;
  const reason = form.querySelector("#reason");
  const detail = form.querySelector("#sub-reason");
  const keep = form.querySelector("#keep-offer");
  const faults = keep ? (keep.dataset.faultReasons || "").split(" ") : [];

  function showDetails() {
    const chosen = reason.value;
    let visible = 0;
    detail.querySelectorAll("optgroup").forEach(function (group) {
      const match = group.dataset.reason === chosen;
      group.hidden = !match;
      group.disabled = !match;
      if (match) visible += group.children.length;
    });
    const selected = detail.selectedOptions[0];
    if (selected && selected.dataset.reason && selected.dataset.reason !== chosen) detail.value = "";
    detail.closest("label").hidden = visible === 0;
    if (keep) {
      keep.hidden = faults.indexOf(chosen) < 0;
      if (keep.hidden) keep.querySelector("input").checked = false;
    }
  }

  function showExchange() {
    const picked = form.querySelector('input[name="resolution"]:checked');
    const exchanging = picked && picked.value === "exchange";
    form.querySelectorAll(".exchange-choice").forEach(function (label) { label.hidden = !exchanging; });
  }

  reason.addEventListener("change", showDetails);
  form.querySelectorAll('input[name="resolution"]').forEach(function (input) {
    input.addEventListener("change", showExchange);
  });
  showDetails();
  showExchange();
})();
