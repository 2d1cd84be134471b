// The ticket list: opens a ticket in the right pane without a reload, follows the socket (the list is
// fetched again from the server, so the order, the counts and the unread dots are the server's), keeps the
// ticked rows for bulk actions across refreshes, and steps through the rows for j/k.

import { api, fetchPart, fill } from "./inbox-api.js";

const REFRESH_DELAY_MS = 350;
const FRESH_MS = 2500;

export function createList({ pane, filtersNav, messages, userId, query, onOpen, onChanged, notify, tick }) {
  const selected = new Set();
  let current = null;
  let timer = null;
  let fresh = new Set();

  const rows = () => [...pane.querySelectorAll("[data-ticket-row]")];
  const rowOf = (id) => pane.querySelector(`[data-ticket-row="${Number(id)}"]`);

  function markCurrent(id) {
    current = id ? Number(id) : null;
    for (const row of rows()) {
      const on = Number(row.dataset.ticketRow) === current;
      row.classList.toggle("is-current", on);
      const link = row.querySelector("[data-open-ticket]");
      if (on) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
      if (on) row.classList.remove("is-unread");
    }
  }

  function showSelection() {
    const bar = pane.querySelector("[data-bulk]");
    for (const box of pane.querySelectorAll("[data-row-check]")) box.checked = selected.has(Number(box.value));
    const all = pane.querySelector("[data-select-all]");
    if (all) all.checked = rows().length > 0 && selected.size === rows().length;
    if (!bar) return;
    bar.hidden = selected.size === 0;
    pane.querySelector("[data-bulk-count]").textContent = fill(messages.selected, { count: selected.size });
  }

  function showCounts(list) {
    let counts = {};
    try {
      counts = JSON.parse(list.dataset.counts || "{}");
    } catch {
      return;
    }
    for (const [view, count] of Object.entries(counts)) {
      const badge = filtersNav.querySelector(`[data-view-count="${view}"]`);
      if (!badge) continue;
      badge.textContent = count > 99 ? "99+" : String(count);
      if (view === "at_risk") badge.classList.toggle("is-alert", count > 0);
    }
  }

  async function refresh() {
    const address = `${window.location.pathname}?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(query())), part: "list" })}`;
    const { element } = await fetchPart(address, "[data-list]");
    if (!element) return;
    const old = pane.querySelector("[data-list]");
    const scroll = old ? old.querySelector("[data-rows]").scrollTop : 0;
    const bulkTag = old && old.querySelector("[data-bulk-tag] input");
    const typed = bulkTag ? bulkTag.value : "";
    const typing = bulkTag && document.activeElement === bulkTag;
    if (old) old.replaceWith(element);
    else pane.append(element);
    element.querySelector("[data-rows]").scrollTop = scroll;
    const freshTag = element.querySelector("[data-bulk-tag] input");
    if (freshTag && typed) freshTag.value = typed;
    if (freshTag && typing) freshTag.focus();
    const present = new Set(rows().map((row) => Number(row.dataset.ticketRow)));
    for (const id of [...selected]) if (!present.has(id)) selected.delete(id);
    for (const id of fresh) {
      const row = rowOf(id);
      if (row) {
        row.classList.add("is-fresh");
        setTimeout(() => row.classList.remove("is-fresh"), FRESH_MS);
      }
    }
    fresh = new Set();
    markCurrent(current);
    showSelection();
    showCounts(element);
    tick(element);
  }

  /** Fetch the list again soon (events come in bursts); `ticketId` flashes when it shows. */
  function follow(ticketId) {
    if (ticketId) fresh.add(Number(ticketId));
    clearTimeout(timer);
    timer = setTimeout(refresh, REFRESH_DELAY_MS);
  }

  async function bulk(change) {
    if (!selected.size) return;
    const result = await api("POST", "/tickets/bulk", { ticket_ids: [...selected], ...change });
    if (!result.ok) {
      notify(fill(messages.failed, { reason: result.message }), true);
      return;
    }
    const touched = [...selected];
    selected.clear();
    touched.forEach((id) => fresh.add(id));
    notify(messages.saved);
    await refresh();
    onChanged(touched);
  }

  pane.addEventListener("click", (event) => {
    const link = event.target.closest("[data-open-ticket]");
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      event.preventDefault();
      onOpen(Number(link.dataset.openTicket));
      return;
    }
    const action = event.target.closest("[data-bulk-action]");
    if (action && action.dataset.bulkAction === "resolve") bulk({ status: "resolved" });
    if (action && action.dataset.bulkAction === "assign_me") bulk({ assignee_id: userId });
  });
  pane.addEventListener("change", (event) => {
    if (event.target.matches("[data-row-check]")) {
      const id = Number(event.target.value);
      if (event.target.checked) selected.add(id);
      else selected.delete(id);
      showSelection();
    } else if (event.target.matches("[data-select-all]")) {
      selected.clear();
      if (event.target.checked) rows().forEach((row) => selected.add(Number(row.dataset.ticketRow)));
      showSelection();
    }
  });
  pane.addEventListener("submit", (event) => {
    if (!event.target.matches("[data-bulk-tag]")) return;
    event.preventDefault();
    const tag = event.target.elements.tag.value.trim();
    if (tag) bulk({ add_tags: [tag] }).then(() => { event.target.elements.tag.value = ""; });
  });

  return {
    refresh,
    follow,
    markCurrent,
    has: (id) => Boolean(rowOf(id)),
    /** The id `step` rows away from the current one (the first row when none is current). */
    step(step) {
      const all = rows();
      if (!all.length) return null;
      const index = all.findIndex((row) => Number(row.dataset.ticketRow) === current);
      const next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
      const row = all[next];
      row.scrollIntoView({ block: "nearest" });
      return Number(row.dataset.ticketRow);
    },
    toggleSelected(id) {
      if (!id) return;
      if (selected.has(id)) selected.delete(id);
      else selected.add(id);
      showSelection();
    },
    showCounts: () => showCounts(pane.querySelector("[data-list]")),
  };
}
