// The conversation on screen: one <li> per message, the buyer's own at the inline end, the shop's at the
// inline start. Everything people wrote (messages, names, file names) goes in as text (textContent, alt),
// never as HTML. Messages are kept in id order; ones still being sent wait at the end under a local key.

import { photoUrl } from "./chat-api.js";

const NEAR_BOTTOM_PX = 80;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

export class ChatView {
  constructor({ log, scroller, text, locale, shop }) {
    this.log = log;
    this.scroller = scroller;
    this.text = text;
    this.shop = shop;
    this.token = ""; // set once the buyer is known
    this.byId = new Map(); // message id → <li>
    this.pending = new Map(); // local key → <li>
    this.welcomeNode = null;
    this.sequence = 0;
    this.timeFormat = new Intl.DateTimeFormat(locale, { timeStyle: "short" });
    this.dateTimeFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
    this.pinned = true; // the reader is at the latest message: keep them there as photos load
    scroller.addEventListener("scroll", () => {
      this.pinned = this.nearBottom();
    });
  }

  clear() {
    this.log.replaceChildren();
    this.byId.clear();
    this.pending.clear();
    this.welcomeNode = null;
  }

  /** The shop's greeting while the buyer has not written yet. */
  welcome(name) {
    if (this.welcomeNode || this.byId.size || this.pending.size) return;
    const item = element("li", "msg theirs msg-welcome");
    item.append(element("span", "msg-author", this.shop));
    const bubble = element("div", "bubble");
    bubble.append(element("p", "msg-text", fill(this.text.welcome, { name })));
    item.append(bubble);
    this.welcomeNode = item;
    this.log.prepend(item);
  }

  has(id) {
    return this.byId.has(id);
  }

  /** Show a stored message (new or updated), in id order before the ones still being sent. */
  upsert(message) {
    const stickToBottom = this.pinned || this.nearBottom();
    let item = this.byId.get(message.id);
    if (!item) {
      item = element("li");
      this.byId.set(message.id, item);
      this.insertInOrder(item, message.id);
    }
    this.fillMessage(item, message);
    this.finish(stickToBottom);
    return item;
  }

  /** A message of the buyer's on its way: shown at once, confirmed by `settle` or marked by `fail`. */
  addPending(body, { photo = false } = {}) {
    const key = `local-${++this.sequence}`;
    const item = element("li", "msg mine is-pending");
    item.dataset.key = key;
    const bubble = element("div", "bubble");
    bubble.append(element("p", "msg-text", photo ? this.text.sendingPhoto : body));
    bubble.querySelector(".msg-text").dir = "auto";
    item.append(bubble, element("p", "msg-meta"));
    item.dataset.state = "sending";
    this.pending.set(key, item);
    this.log.append(item);
    this.finish(true);
    return key;
  }

  settle(key, message) {
    const item = this.pending.get(key);
    this.pending.delete(key);
    if (!item) return;
    if (this.byId.has(message.id)) {
      item.remove(); // the socket was quicker
      this.upsert(message);
      return;
    }
    item.remove();
    item.className = "";
    delete item.dataset.key;
    this.byId.set(message.id, item);
    this.insertInOrder(item, message.id);
    this.fillMessage(item, message);
    this.finish(true);
  }

  fail(key, retry) {
    const item = this.pending.get(key);
    if (!item) return;
    item.dataset.state = "failed";
    item.classList.add("is-failed");
    const meta = item.querySelector(".msg-meta");
    const button = element("button", "msg-retry", this.text.notSent);
    button.type = "button";
    button.addEventListener("click", () => {
      this.pending.delete(key);
      item.remove();
      this.updateReceipts();
      retry();
    });
    meta.replaceChildren(button);
    this.updateReceipts();
  }

  drop(key) {
    const item = this.pending.get(key);
    this.pending.delete(key);
    if (item) item.remove();
    this.updateReceipts();
  }

  pendingCount() {
    return this.pending.size;
  }

  /** The shop read the buyer's messages (a `read` frame). */
  markMineRead() {
    for (const item of this.byId.values()) if (item.classList.contains("mine")) item.dataset.read = "1";
    this.updateReceipts();
  }

  /** Shop messages the buyer has not marked read yet. */
  hasUnread() {
    for (const item of this.byId.values()) if (item.classList.contains("theirs") && !item.dataset.read) return true;
    return false;
  }

  markTheirsRead() {
    for (const item of this.byId.values()) if (item.classList.contains("theirs")) item.dataset.read = "1";
  }

  fillMessage(item, message) {
    const mine = message.author_kind === "customer";
    item.className = `msg ${mine ? "mine" : "theirs"}`;
    item.dataset.id = String(message.id);
    item.dataset.state = "sent";
    if (message.read_at) item.dataset.read = "1";
    const bubble = element("div", "bubble");
    const text = message.text ?? message.body ?? "";
    const files = message.attachments || [];
    if (text && !(files.length && text === "📷")) {
      const paragraph = element("p", "msg-text", text);
      paragraph.dir = "auto";
      bubble.append(paragraph);
    }
    for (const file of files) bubble.append(this.photo(file));
    bubble.classList.toggle("is-photo", files.length > 0 && !bubble.querySelector(".msg-text"));
    const meta = element("p", "msg-meta");
    const when = new Date(message.created_at);
    if (!Number.isNaN(when.getTime())) {
      const time = element("time", "", this.formatTime(when));
      time.dateTime = message.created_at;
      meta.append(time);
    }
    const parts = [];
    if (!mine) parts.push(element("span", "msg-author", message.author_name || this.shop));
    item.replaceChildren(...parts, bubble, meta);
  }

  photo(file) {
    const link = element("a", "msg-photo");
    link.href = photoUrl(file.id, this.token);
    link.target = "_blank";
    link.rel = "noopener";
    const image = element("img");
    image.src = link.href;
    image.alt = file.filename || "";
    image.loading = "lazy";
    image.decoding = "async";
    image.addEventListener("load", () => this.pinned && this.scrollToBottom());
    link.append(image);
    return link;
  }

  formatTime(when) {
    const today = new Date();
    const sameDay = when.toDateString() === today.toDateString();
    return (sameDay ? this.timeFormat : this.dateTimeFormat).format(when);
  }

  insertInOrder(item, id) {
    let before = null;
    for (const [otherId, other] of this.byId) {
      if (other !== item && otherId > id && other.isConnected && (!before || otherId < Number(before.dataset.id))) {
        before = other;
      }
    }
    if (!before) before = this.log.querySelector("li.is-pending");
    this.log.insertBefore(item, before);
  }

  finish(stickToBottom) {
    if (this.welcomeNode && (this.byId.size || this.pending.size)) {
      this.welcomeNode.remove();
      this.welcomeNode = null;
    }
    this.updateAuthors();
    this.updateReceipts();
    if (stickToBottom) this.scrollToBottom();
  }

  /** A name above the shop's messages only where the speaker changes. */
  updateAuthors() {
    let previous = "";
    for (const item of this.log.children) {
      const author = item.querySelector(".msg-author");
      const who = item.classList.contains("mine") ? "\u0000me" : (author ? author.textContent : "");
      if (author) author.hidden = who === previous;
      previous = who;
    }
  }

  /** "Sending…", "Sent" or "Read" under the buyer's latest message only. */
  updateReceipts() {
    const mine = [...this.log.querySelectorAll("li.mine")];
    for (const item of mine) item.querySelector(".msg-state")?.remove();
    const last = mine[mine.length - 1];
    if (!last || last.dataset.state === "failed") return;
    const label =
      last.dataset.state === "sending" ? this.text.sending : last.dataset.read ? this.text.read : this.text.sent;
    last.querySelector(".msg-meta").append(element("span", "msg-state", label));
  }

  nearBottom() {
    const box = this.scroller;
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.pinned = true;
  }
}
