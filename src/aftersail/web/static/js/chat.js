// The buyer's chat page (/chat, also inside the store widget's iframe). Finds the buyer's order (or takes the
// signed order link), keeps the chat token in localStorage per store so the conversation survives reloads,
// then shows the thread, listens on /chat/ws and sends text and photos. Strings come from the page.

import * as api from "./chat-api.js";
import { wireComposer } from "./chat-composer.js";
import { RatingPanel } from "./chat-rating.js";
import { openChatSocket } from "./chat-socket.js";
import { ChatView, fill } from "./chat-view.js";

const TYPING_SHOWN_MS = 6000;
const REFRESH_AFTER_MS = 1200;
const RATED_STATES = new Set(["resolved", "closed"]);

const config = JSON.parse(document.getElementById("chat-config").textContent);
const text = config.text;
const $ = (id) => document.getElementById(id);
const startSection = $("chat-start");
const startForm = $("start-form");
const startError = $("start-error");
const room = $("chat-room");
const topicField = $("topic-field");
const composerError = $("composer-error");
const typingNote = $("chat-typing");
const connectionNote = $("chat-connection");

const tokens = (() => {
  // Storage can be refused (private modes, blocked third-party storage in a frame): keep it in memory then.
  const key = `aftersail.chat.${config.tenant}`;
  let memory = null;
  return {
    get() {
      try {
        return window.localStorage.getItem(key) || memory;
      } catch {
        return memory;
      }
    },
    set(value) {
      memory = value;
      try {
        window.localStorage.setItem(key, value);
      } catch {
        /* memory only */
      }
    },
    clear() {
      memory = null;
      try {
        window.localStorage.removeItem(key);
      } catch {
        /* memory only */
      }
    },
  };
})();

let token = null;
let socket = null;
const view = new ChatView({
  log: $("chat-log"),
  scroller: $("chat-scroll"),
  text,
  locale: config.locale,
  shop: config.shop,
});
let typingTimer = null;
let refreshTimer = null;
let readTimer = null;
const heldFrames = []; // the buyer's own messages pushed while one of theirs is still being sent

/** A message for the buyer for a failed call: ours in their language where we know the case. */
function describe(error) {
  if (error.status === 0) return text.offline;
  if (error.status === 429) return text.tooMany;
  if (error.status === 413) {
    const limit = Number(error.details.limit) || config.maxPhotoBytes;
    return fill(text.photoTooLarge, { size: Math.round(limit / 1048576) });
  }
  if (error.status === 415) return text.photoType;
  return error.message || text.offline;
}

function showStart(message = "") {
  room.hidden = true;
  startSection.hidden = false;
  startError.textContent = message;
  startError.hidden = !message;
}

async function begin(body) {
  const started = await api.startChat({ tenant: config.tenant, ...body });
  tokens.set(started.token);
  await enterRoom(started.token);
}

startForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const orderNumber = startForm.elements.order_number.value.trim();
  const email = startForm.elements.email.value.trim();
  if (!orderNumber || !email) {
    showStart(text.missingFields);
    return;
  }
  const button = startForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await begin({ order_number: orderNumber, email });
  } catch (error) {
    const known = { 404: text.storeNotFound, 422: text.notFound };
    showStart(known[error.status] || describe(error));
  } finally {
    button.disabled = false;
  }
});

function leave(message = "") {
  if (socket) socket.close();
  socket = null;
  token = null;
  tokens.clear();
  view.clear();
  rating.hide();
  topicField.hidden = true;
  showStart(message);
}

$("chat-reset").addEventListener("click", () => {
  leave();
  startForm.elements.order_number.focus();
});

async function enterRoom(newToken) {
  token = newToken;
  startSection.hidden = true;
  room.hidden = false;
  view.token = token;
  view.clear();
  try {
    await refresh();
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      leave(text.expired);
      return;
    }
    showComposerError(describe(error));
  }
  socket = openChatSocket(token, {
    onFrame,
    onReady: (first) => {
      if (!first) refresh().catch(() => {}); // catch up on what the socket missed while it was down
    },
    onState: (state) => {
      connectionNote.textContent = text.reconnecting;
      connectionNote.hidden = state !== "retrying";
    },
    onExpired: () => leave(text.expired),
  });
}

/** Load the thread and show it (the welcome while there is none). */
async function refresh() {
  const thread = await api.loadThread(token);
  $("chat-who").textContent = thread.name || "";
  topicField.hidden = Boolean(thread.ticket);
  for (const message of thread.messages) view.upsert(message);
  if (!thread.messages.length) view.welcome(thread.name || "");
  if (thread.rate_url && thread.ticket) rating.show(thread.ticket.id);
  else if (!thread.ticket || !RATED_STATES.has(thread.ticket.status)) rating.hide(); // reopened
  markReadSoon();
}

function onFrame(frame) {
  if (frame.type === "message") {
    if (frame.internal) return;
    if (frame.author_kind === "customer") {
      if (view.has(frame.id)) return;
      if (view.pendingCount()) {
        heldFrames.push(frame);
      } else {
        view.upsert(frame);
        refreshSoon(); // written in another tab or on another device: its photos come with the thread
      }
    } else {
      hideTyping();
      view.upsert(frame);
      refreshSoon(); // picks up the reply's photos, which the pushed frame does not carry
      markReadSoon();
    }
    noteTicket(frame.ticket_id);
  } else if (frame.type === "typing") {
    showTyping();
  } else if (frame.type === "read" && frame.reader !== "customer") {
    view.markMineRead();
  } else if (frame.type === "csat" && frame.ticket_id) {
    rating.show(frame.ticket_id);
  }
}

function noteTicket(id) {
  if (id) topicField.hidden = true; // the case exists: its topic was asked
}

function releaseHeld() {
  if (view.pendingCount()) return;
  while (heldFrames.length) {
    const frame = heldFrames.shift();
    if (!view.has(frame.id)) view.upsert(frame);
  }
}

function showTyping() {
  typingNote.hidden = false;
  if (view.pinned) view.scrollToBottom();
  clearTimeout(typingTimer);
  typingTimer = setTimeout(hideTyping, TYPING_SHOWN_MS);
}

function hideTyping() {
  clearTimeout(typingTimer);
  typingNote.hidden = true;
}

function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => token && refresh().catch(() => {}), REFRESH_AFTER_MS);
}

/** The buyer has seen the shop's new messages once the page is on screen. */
function markReadSoon() {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    if (!token || document.visibilityState !== "visible" || !view.hasUnread()) return;
    view.markTheirsRead();
    if (!(socket && socket.send({ type: "read" }))) api.markRead(token).catch(() => {});
  }, 300);
}

document.addEventListener("visibilitychange", markReadSoon);

function showComposerError(message) {
  composerError.textContent = message;
  composerError.hidden = !message;
}

async function send(body) {
  showComposerError("");
  const category = topicField.hidden ? "" : topicField.querySelector("select").value;
  const key = view.addPending(body);
  try {
    const stored = await api.sendMessage(token, body, category);
    view.settle(key, stored);
    noteTicket(stored.ticket_id);
    rating.hide(); // writing again reopens a resolved case
  } catch (error) {
    if (error.status === 401 || error.status === 403) return leave(text.expired);
    view.fail(key, () => send(body));
    if (error.status !== 0) showComposerError(describe(error));
  } finally {
    releaseHeld();
  }
}

async function sendPhoto(file) {
  showComposerError("");
  if (file.size > config.maxPhotoBytes) {
    showComposerError(describe({ status: 413, details: { limit: config.maxPhotoBytes } }));
    return;
  }
  const key = view.addPending("", { photo: true });
  try {
    const stored = await api.sendPhoto(token, file);
    view.settle(key, stored);
    noteTicket(stored.ticket_id);
  } catch (error) {
    view.drop(key);
    if (error.status === 401 || error.status === 403) return leave(text.expired);
    showComposerError(describe(error));
  } finally {
    releaseHeld();
  }
}

const rating = new RatingPanel($("chat-rating"), {
  text,
  rate: (id, value, comment) => api.rate(token, id, value, comment),
  describe,
});

wireComposer({
  form: $("composer"),
  input: $("message-input"),
  photoInput: $("photo-input"),
  onSend: send,
  onPhoto: sendPhoto,
  onTyping: () => socket && socket.send({ type: "typing" }),
});

const closeButton = $("chat-close");
if (closeButton) {
  // Inside the store's widget: the widget's script closes the panel.
  closeButton.addEventListener("click", () => window.parent.postMessage({ type: "aftersail-chat:close" }, "*"));
}

async function boot() {
  if (config.link) {
    // The order link came in the address: use it once, then drop it from the address and the history.
    const url = new URL(window.location.href);
    url.searchParams.delete("link");
    window.history.replaceState(null, "", url);
    try {
      await begin({ order_link: config.link });
      return;
    } catch (error) {
      const known = { 401: text.linkInvalid, 403: text.linkInvalid, 404: text.linkInvalid };
      showStart(known[error.status] || describe(error));
      return;
    }
  }
  const stored = tokens.get();
  if (stored) await enterRoom(stored);
  else showStart();
}

boot();
