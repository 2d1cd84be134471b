// The warehouse stock page follows `live.stock` events: the on-hand, reserved and available figures of the
// rows it shows change as orders reserve stock, without a reload.

import { connectionIndicator, openLive } from "./live-socket.js";

const status = document.querySelector("[data-live-status]");
const source = document.getElementById("live-stock-messages");
if (status && source) {
  const messages = JSON.parse(source.textContent);
  openLive({
    onState: connectionIndicator(status, messages.connection),
    onEvent(topic, payload) {
      if (topic !== "live.stock") return;
      for (const figures of payload.levels || []) {
        const cell = document.querySelector(`[data-level="${figures.stock_level_id}"]`);
        if (cell) update(cell.closest("tr"), Number(cell.dataset.threshold), figures);
      }
    },
  });
}

function update(row, threshold, figures) {
  const before = row.querySelector('[data-field="available"]').textContent;
  row.querySelector('[data-field="on_hand"]').textContent = String(figures.on_hand);
  row.querySelector('[data-field="reserved"]').textContent = String(figures.reserved);
  row.querySelector('[data-field="available"]').textContent = String(figures.available);
  const low = figures.available <= 0 || figures.available <= threshold;
  row.classList.toggle("row-low", low);
  row.querySelector("[data-low-badge]").hidden = !low;
  if (before !== String(figures.available)) {
    row.classList.remove("flash");
    void row.offsetWidth; // restart the animation
    row.classList.add("flash");
  }
}
