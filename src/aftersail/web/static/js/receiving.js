// Warehouse receiving on a tablet: the scan field keeps the focus for the next scan, a grade preselects its
// usual disposition, and a grading form cannot be sent twice by a double tap. The pages work without it.

const scan = document.querySelector("[data-scan-form] input[name=code]");
if (scan) {
  scan.focus();
  // A scanner types fast and ends with Enter; after a miss the field is empty and ready again.
  window.addEventListener("pageshow", () => scan.focus());
}

const grading = document.querySelector("[data-grading-form]");
if (grading) {
  let usual = {};
  try {
    usual = JSON.parse(grading.dataset.usual || "{}");
  } catch {
    usual = {};
  }
  for (const radio of grading.querySelectorAll("input[data-grade]")) {
    radio.addEventListener("change", () => {
      const line = radio.closest("[data-line]");
      const select = line && line.querySelector("select[data-disposition]");
      if (select && usual[radio.value]) select.value = usual[radio.value];
    });
  }
  grading.addEventListener("submit", (event) => {
    if (grading.dataset.sent) {
      event.preventDefault();
      return;
    }
    grading.dataset.sent = "1";
    const button = grading.querySelector("button[type=submit]");
    if (button) button.setAttribute("aria-busy", "true");
  });
}

// After grading, "Next parcel" has the focus: Enter (or a scan's Enter) goes straight back to scanning.
const next = document.querySelector("[data-test=next-parcel][autofocus]");
if (next) next.focus();
