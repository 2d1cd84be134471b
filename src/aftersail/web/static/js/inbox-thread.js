// The right pane: one ticket. Opens a ticket without a reload (the address follows), fetches the thread
// again when the socket says it changed (the draft in the composer, open sections and the scroll position
// stay), shows who else is viewing or typing and when the buyer types, and runs the header's controls:
// status, priority, assignee, tags, merge and split, and the translation corrections.

import { api, fetchPart, fill } from "./inbox-api.js";
import { setupComposer } from "./inbox-composer.js";

const VIEWING_EVERY_MS = 15000;
const VIEWING_FOR_MS = 40000;
const TYPING_FOR_MS = 7000;
const BUYER_TYPING_FOR_MS = 6000;
const SIGNAL_GAP_MS = 2500; // support/signals.py SIGNAL_SECONDS, and a little

export function createThread({ pane, messages, locale, userId, socket, query, notify, tick, onChanged, onOpened, onClosed }) {
  let ticketId = null;
  let composer = null;
  let splitting = false;
  const others = new Map(); // user id → {name, viewingUntil, typingUntil}
  let buyerTypingUntil = 0;
  // Buyer messages shown as they arrive, before the server says they are stored (ADR 0014): arrival key →
  // the message. A refresh re-renders the thread from the server, so they are put back until stored.
  const arriving = new Map();
  const stored = new Set(); // arrival keys already stored (a late "arriving" after "stored" is ignored)
  const baseTitle = document.title.includes(" · ") ? document.title.slice(document.title.indexOf(" · ")) : "";

  const article = () => pane.querySelector("[data-ticket]");

  function adopt(element) {
    ticketId = Number(element.dataset.ticket);
    const heading = element.querySelector(".ticket-title h2");
    if (heading) document.title = heading.textContent + baseTitle;
    const form = element.querySelector("[data-composer]");
    composer = form && !form.dataset.ready ? setupComposer(form, { ticketId, messages, locale, socket, afterSend }) : composer;
    if (form) form.dataset.ready = "true";
    element.classList.toggle("is-splitting", splitting);
    showArriving(element);
    showOthers();
    tick(element);
  }

  /** The bubbles of messages still arriving for this ticket, at the end of its thread, as text. */
  function showArriving(element) {
    const thread = element.querySelector("[data-thread]");
    if (!thread) return;
    for (const [key, message] of arriving) {
      if (message.ticket_id !== ticketId || thread.querySelector(`[data-arrival="${CSS.escape(key)}"]`)) continue;
      const item = document.createElement("li");
      item.className = "msg msg-buyer is-arriving";
      item.dataset.arrival = key;
      const head = document.createElement("header");
      head.className = "msg-head";
      const author = document.createElement("span");
      author.className = "msg-author";
      author.dir = "auto";
      author.textContent = message.author_name || "";
      const state = document.createElement("span");
      state.className = "msg-state";
      state.dataset.arrivalState = "";
      state.textContent = message.failed ? fill(messages.not_stored, { reason: message.failed }) : messages.arriving;
      head.append(author, state);
      const text = document.createElement("div");
      text.className = "msg-text";
      text.dir = "auto";
      text.textContent = message.body || "";
      item.append(head, text);
      item.classList.toggle("is-failed", Boolean(message.failed));
      thread.append(item);
    }
  }

  function scrollToEnd(element) {
    const thread = element.querySelector("[data-thread]");
    if (thread) thread.scrollTop = thread.scrollHeight;
  }

  async function open(id, { push = true } = {}) {
    const address = (path) => `${path}${query() ? `?${query()}` : ""}`;
    const { element, status } = await fetchPart(`/inbox/${id}?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(query())), part: "thread" })}`, "[data-ticket]");
    if (!element) {
      if (status === 401 || status === 0) window.location.assign(address(`/inbox/${id}`));
      else notify(fill(messages.failed, { reason: String(status) }), true);
      return false;
    }
    others.clear();
    splitting = false;
    composer = null;
    pane.replaceChildren(element);
    pane.closest("[data-inbox]").classList.add("has-ticket");
    pane.closest("[data-inbox]").dataset.ticketId = String(id);
    if (push) history.pushState({ ticketId: id }, "", address(`/inbox/${id}`));
    adopt(element);
    scrollToEnd(element);
    onOpened(id);
    viewing();
    markRead();
    return true;
  }

  let refreshing = null;
  let again = false;

  /** Fetch the ticket again; calls that come while one runs make it run once more (never two at once). */
  async function refresh() {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        again = false;
        await refreshOnce();
      } while (again);
    })();
    try {
      await refreshing;
    } finally {
      refreshing = null;
    }
  }

  async function refreshOnce() {
    if (!ticketId) return;
    const { element } = await fetchPart(`/inbox/${ticketId}?part=thread`, "[data-ticket]");
    const old = article();
    if (!element || !old || Number(element.dataset.ticket) !== ticketId || Number(old.dataset.ticket) !== ticketId) return;
    // Moving a node drops its focus: remember where the agent was typing, and put them back.
    const focused = old.contains(document.activeElement) ? document.activeElement : null;
    const caret = focused && "selectionStart" in focused ? [focused.selectionStart, focused.selectionEnd] : null;
    const oldComposer = old.querySelector("[data-composer]");
    const freshComposer = element.querySelector("[data-composer]");
    if (oldComposer && freshComposer) freshComposer.replaceWith(oldComposer);
    for (const details of old.querySelectorAll("details[open]")) {
      const key = detailsKey(details);
      const twin = [...element.querySelectorAll("details")].find((d) => detailsKey(d) === key);
      if (!twin) continue;
      twin.open = true;
      const typed = details.querySelector("textarea");
      const fresh = twin.querySelector("textarea");
      if (typed && fresh) fresh.value = typed.value; // a correction being written survives
    }
    const oldThread = old.querySelector("[data-thread]");
    const atEnd = oldThread && oldThread.scrollHeight - oldThread.scrollTop - oldThread.clientHeight < 80;
    const scroll = oldThread ? oldThread.scrollTop : 0;
    const checked = [...old.querySelectorAll("[data-split-pick]:checked")].map((box) => box.value);
    old.replaceWith(element);
    for (const box of element.querySelectorAll("[data-split-pick]")) box.checked = checked.includes(box.value);
    adopt(element);
    if (atEnd) scrollToEnd(element);
    else element.querySelector("[data-thread]").scrollTop = scroll;
    const refocus = focused && (element.contains(focused) ? focused : twinOf(focused, element));
    if (refocus) {
      refocus.focus({ preventScroll: true });
      if (caret && "setSelectionRange" in refocus) refocus.setSelectionRange(caret[0], caret[1]);
    }
  }

  function close({ push = true } = {}) {
    ticketId = null;
    composer = null;
    const inbox = pane.closest("[data-inbox]");
    inbox.classList.remove("has-ticket");
    inbox.dataset.ticketId = "";
    if (push) history.pushState({}, "", `/inbox${query() ? `?${query()}` : ""}`);
    onClosed();
  }

  function viewing() {
    if (ticketId && document.visibilityState === "visible") socket.send({ type: "viewing", ticket_id: ticketId });
  }

  function markRead() {
    if (ticketId) api("POST", `/tickets/${ticketId}/read`);
  }

  function afterSend() {
    refresh();
    onChanged([ticketId]);
  }

  function showOthers() {
    const line = pane.querySelector("[data-collision]");
    if (!line) return;
    const now = Date.now();
    const texts = [];
    for (const [id, other] of others) {
      if (other.viewingUntil < now && other.typingUntil < now) {
        others.delete(id);
        continue;
      }
      texts.push(fill(other.typingUntil >= now ? messages.typing : messages.viewing, { name: other.name }));
    }
    line.textContent = texts.join(" · ");
    line.hidden = texts.length === 0;
    line.classList.toggle("is-typing", [...others.values()].some((o) => o.typingUntil >= now));
    const buyer = pane.querySelector("[data-buyer-typing]");
    if (buyer) {
      buyer.hidden = buyerTypingUntil < now;
      buyer.querySelector("[data-buyer-typing-text]").textContent = messages.buyer_typing;
    }
  }

  async function change(path, body) {
    const result = await api("POST", `/tickets/${ticketId}${path}`, body);
    if (!result.ok) {
      notify(fill(messages.failed, { reason: result.message }), true);
      await refresh(); // back to what the server holds
      return null;
    }
    notify(messages.saved);
    await refresh();
    onChanged([ticketId]);
    return result.data;
  }

  const currentTags = () => JSON.parse(article().dataset.tags || "[]");

  pane.addEventListener("change", (event) => {
    const control = event.target.closest("[data-control]");
    if (!control) return;
    const value = control.value;
    if (control.dataset.control === "status") {
      // Snoozing wakes the ticket after the chosen time (the server's job reopens it then).
      const hours = Number(control.selectedOptions[0] && control.selectedOptions[0].dataset.snoozeHours);
      const until = hours ? new Date(Date.now() + hours * 3600 * 1000).toISOString() : null;
      change("/status", until ? { status: "snoozed", snoozed_until: until } : { status: value });
    }
    if (control.dataset.control === "priority") change("/priority", { priority: value });
    if (control.dataset.control === "assignee") change("/assignee", { assignee_id: value ? Number(value) : null });
    if (control.dataset.control === "intent" && value) {
      change(`/messages/${control.dataset.messageId}/intent`, { intent: value });
    }
  });

  pane.addEventListener("click", async (event) => {
    if (event.target.closest(".back-link") && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      close();
      return;
    }
    const remove = event.target.closest("[data-remove-tag]");
    if (remove) change("/tags", { tags: currentTags().filter((tag) => tag !== remove.dataset.removeTag) });
    if (event.target.closest("[data-assign-me]")) change("/assignee", { assignee_id: userId });
    if (event.target.closest("[data-resolve]")) change("/status", { status: "resolved" });
    if (event.target.closest("[data-split-start]")) {
      splitting = !splitting;
      article().classList.toggle("is-splitting", splitting);
      if (splitting) notify(messages.split_none);
    }
    if (event.target.closest("[data-split-confirm]")) {
      const ids = [...pane.querySelectorAll("[data-split-pick]:checked")].map((box) => Number(box.value));
      if (!ids.length) {
        notify(messages.split_none, true);
        return;
      }
      const made = await change("/split", { message_ids: ids });
      if (made) {
        splitting = false;
        article().classList.remove("is-splitting");
        notify(fill(messages.split_done, { id: made.id }), false, made.id);
      }
    }
  });

  pane.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.matches("[data-add-tag]")) {
      event.preventDefault();
      const tag = form.elements.tag.value.trim();
      if (tag) change("/tags", { tags: [...currentTags(), tag] });
    } else if (form.matches("[data-merge]")) {
      event.preventDefault();
      const source = Number(form.elements.source_id.value.replace(/^#/, ""));
      if (!source) {
        notify(messages.merge_id, true);
        return;
      }
      if (window.confirm(fill(messages.merge_confirm, { source }))) change("/merge", { source_id: source });
    } else if (form.matches("[data-translation-form]")) {
      event.preventDefault();
      const text = form.elements.body.value.trim();
      if (!text) return;
      api("PUT", `/messages/${form.dataset.translationForm}/translations`, { language: locale, body: text }).then((result) => {
        if (!result.ok) notify(fill(messages.failed, { reason: result.message }), true);
        else {
          form.closest("details").open = false;
          notify(messages.saved);
          refresh();
        }
      });
    }
  });

  setInterval(viewing, VIEWING_EVERY_MS);
  setInterval(showOthers, 1000);
  document.addEventListener("visibilitychange", viewing);

  const existing = article();
  if (existing) {
    adopt(existing);
    scrollToEnd(existing);
  }

  return {
    open,
    refresh,
    close,
    viewing,
    markRead,
    get ticketId() {
      return ticketId;
    },
    composer: () => composer,
    resolve: () => ticketId && change("/status", { status: "resolved" }),
    assignToMe: () => ticketId && change("/assignee", { assignee_id: userId }),
    /** A `realtime.collision` from another agent: {ticket_id, user_id, name, action}. */
    collision(payload) {
      if (payload.user_id === userId || payload.ticket_id !== ticketId) return;
      const now = Date.now();
      const known = others.get(payload.user_id);
      const other = known || { name: payload.name, viewingUntil: 0, typingUntil: 0 };
      other.name = payload.name;
      other.viewingUntil = now + VIEWING_FOR_MS;
      if (payload.action === "typing") other.typingUntil = now + TYPING_FOR_MS;
      others.set(payload.user_id, other);
      showOthers();
      if (!known) {
        // So that they see us too without waiting for our next beat; the server passes one signal per
        // ticket every 2 s, so the second try gets through if our last beat was just now.
        viewing();
        setTimeout(viewing, SIGNAL_GAP_MS);
      }
    },
    /** A buyer's message on its way to the database: shown at once, marked as not stored yet. */
    arriving(payload) {
      const key = String(payload.arrival || "");
      if (!key || stored.has(key) || !payload.ticket_id) return;
      arriving.set(key, { ...payload, ticket_id: Number(payload.ticket_id) });
      if (arriving.size > 200) arriving.delete(arriving.keys().next().value); // a socket that never hears back
      const element = article();
      if (!element || Number(payload.ticket_id) !== ticketId) return;
      const thread = element.querySelector("[data-thread]");
      const atEnd = thread && thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
      showArriving(element);
      if (atEnd) scrollToEnd(element);
    },
    /** It is stored: the refresh that follows shows it from the server. */
    stored(payload) {
      const key = String(payload.arrival || "");
      if (!key) return;
      stored.add(key);
      if (stored.size > 500) stored.delete(stored.values().next().value);
      arriving.delete(key);
    },
    /** It could not be stored: the bubble says so (the buyer's chat was told too). */
    failed(payload) {
      const message = arriving.get(String(payload.arrival || ""));
      if (!message) return;
      message.failed = payload.reason || "—";
      const bubble = pane.querySelector(`[data-arrival="${CSS.escape(String(payload.arrival))}"]`);
      if (bubble) {
        bubble.classList.add("is-failed");
        bubble.querySelector("[data-arrival-state]").textContent = fill(messages.not_stored, { reason: message.failed });
      }
    },
    buyerTyping(payload) {
      if (payload.ticket_id !== ticketId) return;
      buyerTypingUntil = Date.now() + BUYER_TYPING_FOR_MS;
      showOthers();
    },
  };
}

/** The element in `element` that stands where `node` stood (a field of a translation being corrected). */
function twinOf(node, element) {
  const form = node.closest("[data-translation-form]");
  if (!form || !node.name) return null;
  return element.querySelector(`[data-translation-form="${form.dataset.translationForm}"] [name="${node.name}"]`);
}

function detailsKey(details) {
  const message = details.closest("[data-message]");
  return `${message ? message.dataset.message : ""}:${details.className}`;
}
