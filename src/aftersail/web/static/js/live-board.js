// The Live board: starts from the figures the server rendered, then follows the `live.orders`, `live.order` and
// `live.stock` events of /ws. When an event names something the page does not show yet (a new SKU or
// warehouse, a new currency, the lines of an order) it fetches the page again and takes the fresh parts.

import { connectionIndicator, openLive } from "./live-socket.js";

const SVG = "http://www.w3.org/2000/svg";
const RECENT_ORDERS = 12;
const RESYNC_DELAY_MS = 400;

const root = document.querySelector("[data-live-board]");
if (root) startBoard(root);

function readJson(doc, id) {
  const element = doc.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

function knownZone(zone) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return zone;
  } catch {
    return "UTC";
  }
}

function el(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function startBoard(board) {
  const messages = readJson(document, "live-board-messages");
  const chartBox = board.querySelector("[data-live-chart]");
  const locale = chartBox.dataset.locale;
  const timeZone = knownZone(chartBox.dataset.timeZone);
  const minuteFormat = new Intl.DateTimeFormat(locale, { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const secondFormat = new Intl.DateTimeFormat(locale, {
    timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  const showState = connectionIndicator(document.querySelector("[data-live-status]"), messages.connection);

  let state;
  let levels; // stock level id → {sku, warehouse, onHand, reserved}
  let windowStart; // ms since the epoch, on a whole minute
  const counted = new Set(); // order ids already counted (events arrive at least once)
  let syncing = null;
  let resyncTimer = null;
  let queued = [];

  function adopt(fresh) {
    state = fresh;
    windowStart = Date.parse(state.window_start);
    levels = new Map(
      Object.entries(state.levels).map(([id, [sku, warehouse, onHand, reserved]]) => [
        Number(id), { sku, warehouse, onHand, reserved },
      ]),
    );
  }
  adopt(readJson(document, "live-board-state"));

  // --- the orders-per-minute chart ------------------------------------------------------------------
  function advanceWindow(now) {
    if (!state.on_air) return false;
    const minutes = state.per_minute.length;
    const lastMinute = windowStart + (minutes - 1) * 60000;
    const shift = Math.floor((now - lastMinute) / 60000);
    if (shift <= 0) return false;
    const kept = state.per_minute.slice(Math.min(shift, minutes));
    state.per_minute = kept.concat(new Array(minutes - kept.length).fill(0));
    windowStart += shift * 60000;
    return true;
  }

  function drawChart(bumped = -1) {
    const counts = state.per_minute;
    const width = Math.max(280, chartBox.clientWidth);
    const height = 190;
    const left = 34;
    const bottom = 22;
    const top = 10;
    const plotWidth = width - left - 6;
    const plotHeight = height - top - bottom;
    const peak = Math.max(...counts, 0);
    const ceiling = Math.max(4, Math.ceil(peak / 4) * 4);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", messages.chart_label || "");
    svg.classList.add("chart");
    for (const fraction of [0, 0.5, 1]) {
      const y = top + plotHeight - fraction * plotHeight;
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", String(left));
      line.setAttribute("x2", String(width - 6));
      line.setAttribute("y1", String(y));
      line.setAttribute("y2", String(y));
      line.classList.add(fraction === 0 ? "axis" : "grid");
      svg.append(line);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String(left - 6));
      label.setAttribute("y", String(y + 4));
      label.setAttribute("text-anchor", "end");
      label.textContent = String(Math.round(ceiling * fraction));
      svg.append(label);
    }
    const slot = plotWidth / Math.max(1, counts.length);
    const gap = slot > 6 ? 2 : 1;
    counts.forEach((count, index) => {
      const barHeight = (count / ceiling) * plotHeight;
      const bar = document.createElementNS(SVG, "rect");
      bar.setAttribute("x", String(left + index * slot + gap / 2));
      bar.setAttribute("y", String(top + plotHeight - barHeight));
      bar.setAttribute("width", String(Math.max(1, slot - gap)));
      bar.setAttribute("height", String(barHeight));
      bar.classList.add("bar");
      if (index === counts.length - 1 && state.on_air) bar.classList.add("bar-now");
      if (index === bumped) bar.classList.add("bar-bumped");
      const title = document.createElementNS(SVG, "title");
      title.textContent = fill(messages.minute, {
        time: minuteFormat.format(new Date(windowStart + index * 60000)),
        count,
      });
      bar.append(title);
      svg.append(bar);
    });
    const ticks = Math.min(6, counts.length);
    for (let tick = 0; tick <= ticks; tick += 1) {
      const index = Math.round((tick / ticks) * counts.length);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String(left + index * slot));
      label.setAttribute("y", String(height - 5));
      label.setAttribute("text-anchor", tick === 0 ? "start" : tick === ticks ? "end" : "middle");
      label.textContent = minuteFormat.format(new Date(windowStart + index * 60000));
      svg.append(label);
    }
    chartBox.replaceChildren(svg);
    chartBox.dataset.orders = String(counts.reduce((a, b) => a + b, 0));
  }

  // --- figures --------------------------------------------------------------------------------------
  function money(amountMinor, currency) {
    const format = new Intl.NumberFormat(locale, { style: "currency", currency });
    const digits = format.resolvedOptions().maximumFractionDigits;
    return format.format(amountMinor / 10 ** digits);
  }

  function setKpi(name, value) {
    const element = board.querySelector(`[data-kpi="${name}"]`);
    if (!element) return;
    element.textContent = String(value);
    element.classList.remove("flash");
    void element.offsetWidth; // restart the animation
    element.classList.add("flash");
  }

  function addRecentOrder(order) {
    const list = board.querySelector("[data-recent-orders]");
    if (!list || list.querySelector(`[data-order-id="${order.order_id}"]`)) return;
    const item = el("li");
    item.dataset.orderId = String(order.order_id);
    const link = el("a");
    link.href = `/orders/${order.order_id}`;
    const host = order.host || board.dataset.host || "";
    const when = secondFormat.format(new Date(order.placed_at));
    link.append(
      el("span", "mono", order.number),
      el("span", "muted small nowrap", [when, order.country, host].filter(Boolean).join(" · ")),
      el("span", "nowrap strong", money(order.total_minor, order.currency)),
      el("span", `badge badge-${order.status}`, messages.statuses[order.status] || order.status),
    );
    item.append(link);
    item.classList.add("is-new");
    list.prepend(item);
    while (list.children.length > RECENT_ORDERS) list.lastElementChild.remove();
    const empty = board.querySelector("[data-recent-empty]");
    if (empty) empty.hidden = true;
  }

  function onOrder(order) {
    if (order.live_session_id !== state.session_id) return;
    if (counted.has(order.order_id) || order.order_id <= state.last_order_id) return;
    counted.add(order.order_id);
    state.order_count += 1;
    setKpi("orders", state.order_count);
    const placed = Date.parse(order.placed_at);
    const moved = advanceWindow(Math.max(Date.now(), placed));
    const index = Math.floor((placed - windowStart) / 60000);
    if (index >= 0 && index < state.per_minute.length) state.per_minute[index] += 1;
    drawChart(moved ? -1 : index);
    if (order.status !== "cancelled") {
      const shown = board.querySelector(`[data-gmv="${order.currency}"]`);
      if (shown) {
        const amount = Number(shown.dataset.amount) + order.total_minor;
        shown.dataset.amount = String(amount);
        shown.textContent = money(amount, order.currency);
      } else {
        resyncSoon(); // a first order, or a new currency: the server formats it
      }
    }
    addRecentOrder(order);
    if (Array.isArray(order.lines)) {
      state.units += order.lines.reduce((sum, line) => sum + line.quantity, 0);
      setKpi("units", state.units);
    }
    resyncSoon(); // units and top SKUs come from the order's lines
  }

  // --- stock ----------------------------------------------------------------------------------------
  function cellFigures(sku, warehouse) {
    let onHand = 0;
    let reserved = 0;
    for (const level of levels.values()) {
      if (level.sku === sku && level.warehouse === warehouse) {
        onHand += level.onHand;
        reserved += level.reserved;
      }
    }
    return { onHand, reserved, available: onHand - reserved };
  }

  function markSoldOut(cell, soldOut) {
    const key = cell.dataset.cell;
    const list = board.querySelector("[data-sellouts]");
    const existing = list.querySelector(`[data-sellout="${key}"]`);
    cell.classList.toggle("is-sold-out", soldOut);
    cell.querySelector("[data-sold-out-badge]").hidden = !soldOut;
    if (soldOut && !existing) {
      const item = el("li");
      item.dataset.sellout = key;
      item.classList.add("is-new");
      item.textContent = fill(messages.sold_out_line, {
        time: minuteFormat.format(new Date()),
        sku: cell.dataset.skuCode,
        warehouse: cell.dataset.warehouseName,
      });
      list.prepend(item);
    } else if (!soldOut && existing) {
      existing.remove();
    }
    const count = list.children.length;
    board.querySelector("[data-sellouts-empty]").hidden = count > 0;
    const kpi = board.querySelector('[data-kpi="sellouts"]');
    if (kpi && kpi.textContent !== String(count)) {
      setKpi("sellouts", count);
      kpi.closest(".kpi").classList.toggle("kpi-alert", count > 0);
    }
  }

  function onStock(event) {
    const touched = new Set();
    let unknown = false;
    for (const figures of event.levels || []) {
      const level = levels.get(figures.stock_level_id);
      if (!level) {
        unknown = true;
        continue;
      }
      level.onHand = figures.on_hand;
      level.reserved = figures.reserved;
      touched.add(`${level.sku}:${level.warehouse}`);
    }
    for (const key of touched) {
      const cell = board.querySelector(`[data-cell="${key}"]`);
      if (!cell) continue;
      const [sku, warehouse] = key.split(":").map(Number);
      const figures = cellFigures(sku, warehouse);
      const before = Number(cell.querySelector('[data-field="available"]').textContent);
      cell.querySelector('[data-field="available"]').textContent = String(figures.available);
      cell.querySelector('[data-field="on_hand"]').textContent = String(figures.onHand);
      cell.querySelector('[data-field="reserved"]').textContent = String(figures.reserved);
      if (figures.available !== before) {
        cell.classList.remove("flash");
        void cell.offsetWidth;
        cell.classList.add("flash");
      }
      markSoldOut(cell, figures.available <= 0);
    }
    // Stock of this session's SKUs is news whoever sold it; a row we do not show yet only when the sale
    // was this session's (it is then one of its SKUs).
    if (unknown && event.live_session_id === state.session_id) resyncSoon();
  }

  // --- catching up from the page itself -------------------------------------------------------------
  function resyncSoon() {
    clearTimeout(resyncTimer);
    resyncTimer = setTimeout(resync, RESYNC_DELAY_MS);
  }

  async function resync() {
    if (syncing) {
      resyncSoon();
      return;
    }
    syncing = fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } });
    try {
      const response = await syncing;
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const region of board.querySelectorAll("[data-live-region]")) {
        const replacement = fresh.querySelector(`[data-live-region="${region.dataset.liveRegion}"]`);
        if (replacement) region.replaceWith(document.importNode(replacement, true));
      }
      adopt(readJson(fresh, "live-board-state"));
      counted.clear();
      advanceWindow(Date.now());
      drawChart();
    } catch {
      resyncSoon();
    } finally {
      syncing = null;
      const waiting = queued;
      queued = [];
      for (const [topic, payload] of waiting) handle(topic, payload);
    }
  }

  function handle(topic, payload) {
    if (syncing) {
      queued.push([topic, payload]); // applied on top of the fresh page
    } else if (topic === "live.orders") {
      for (const order of payload.orders || []) onOrder(order); // one event per intake batch
    } else if (topic === "live.order") {
      onOrder(payload);
    } else if (topic === "live.stock") {
      onStock(payload);
    }
  }

  drawChart();
  window.addEventListener("resize", () => drawChart());
  setInterval(() => advanceWindow(Date.now()) && drawChart(), 5000);
  openLive({ onEvent: handle, onReady: resync, onState: showState });
}
