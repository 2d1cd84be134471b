// The agents' inbox: wires the list, the ticket pane, the socket and the keyboard together. The page works
// without this script (links and forms); with it, tickets open in place and everything follows /ws.

import { fill } from "./inbox-api.js";
import { bindKeys } from "./inbox-keys.js";
import { createList } from "./inbox-list.js";
import { openInboxSocket } from "./inbox-socket.js";
import { createThread } from "./inbox-thread.js";
import { startClock } from "./inbox-time.js";
import { connectionIndicator } from "./live-socket.js";

const root = document.querySelector("[data-inbox]");
if (root) startInbox(root);

function startInbox(inbox) {
  const messages = JSON.parse(document.getElementById("inbox-messages").textContent);
  const locale = inbox.dataset.locale;
  const userId = Number(inbox.dataset.userId);
  const help = document.querySelector("[data-help]");
  const notice = inbox.querySelector("[data-notice]");
  const query = () => inbox.dataset.query || "";
  const tick = startClock(messages, locale);
  let noticeTimer = null;

  /** A short line in the inbox bar; with `ticketId` it opens that ticket when clicked. */
  function notify(text, problem = false, ticketId = null) {
    clearTimeout(noticeTimer);
    notice.textContent = text;
    notice.hidden = !text;
    notice.classList.toggle("is-problem", problem);
    notice.dataset.ticket = ticketId ? String(ticketId) : "";
    notice.classList.toggle("is-link", Boolean(ticketId));
    noticeTimer = setTimeout(() => { notice.hidden = true; }, problem ? 9000 : 4000);
  }
  notice.addEventListener("click", () => notice.dataset.ticket && thread.open(Number(notice.dataset.ticket)));

  const socket = openInboxSocket({
    onEvent: (topic, payload) => handle(topic, payload),
    onReady: () => {
      list.refresh();
      thread.refresh();
      thread.viewing();
    },
    onState: connectionIndicator(inbox.querySelector("[data-live-status]"), messages.connection),
  });

  const list = createList({
    pane: inbox.querySelector("[data-pane='list']"),
    filtersNav: inbox.querySelector(".views"),
    messages,
    userId,
    query,
    tick,
    notify,
    onOpen: (id) => thread.open(id),
    onChanged: (ids) => ids.includes(thread.ticketId) && thread.refresh(),
  });

  const thread = createThread({
    pane: inbox.querySelector("[data-pane='thread']"),
    messages,
    locale,
    userId,
    socket,
    query,
    notify,
    tick,
    onChanged: (ids) => ids.forEach((id) => list.follow(id)),
    onOpened: (id) => list.markCurrent(id),
    onClosed: () => list.markCurrent(null),
  });
  list.markCurrent(thread.ticketId);

  function handle(topic, payload) {
    const ticketId = Number(payload.ticket_id);
    const open = ticketId && ticketId === thread.ticketId;
    switch (topic) {
      case "realtime.message.arriving":
        thread.arriving(payload);
        break;
      case "realtime.message.failed":
        thread.failed(payload);
        break;
      case "realtime.message.created":
        thread.stored(payload);
        list.follow(ticketId);
        if (open) {
          thread.refresh();
          if (payload.author_kind === "customer" && document.visibilityState === "visible") thread.markRead();
        }
        break;
      case "realtime.ticket.changed":
      case "realtime.message.translated":
      case "realtime.message.read":
      case "realtime.sla.warning":
      case "realtime.sla.breached":
        list.follow(topic === "realtime.message.read" ? null : ticketId);
        if (open && topic !== "realtime.message.read") thread.refresh();
        break;
      case "realtime.collision":
        thread.collision(payload);
        break;
      case "realtime.typing":
        thread.buyerTyping(payload);
        break;
      case "realtime.mention":
        if (Number(payload.user_id) === userId) notify(fill(messages.mentioned, { id: ticketId }), false, ticketId);
        break;
      default:
        break;
    }
  }

  window.addEventListener("popstate", () => {
    const found = window.location.pathname.match(/^\/inbox\/(\d+)$/);
    if (found) thread.open(Number(found[1]), { push: false });
    else if (thread.ticketId) thread.close({ push: false });
  });

  // Filters: the form reloads the page (it works without the script); a select applies at once.
  for (const select of inbox.querySelectorAll("select[data-autofilter]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }

  bindKeys({
    help,
    search: inbox.querySelector("[data-search]"),
    actions: {
      step: (step) => {
        const id = list.step(step);
        if (id && id !== thread.ticketId) thread.open(id);
      },
      compose: (mode) => thread.composer() && thread.composer().focus(mode),
      resolve: () => thread.resolve(),
      assignToMe: () => thread.assignToMe(),
      toggleSelected: () => list.toggleSelected(thread.ticketId),
      inbox: () => (thread.ticketId ? thread.close() : window.location.assign("/inbox")),
    },
  });
  inbox.querySelector("[data-help-open]").addEventListener("click", () => help.showModal());
}
