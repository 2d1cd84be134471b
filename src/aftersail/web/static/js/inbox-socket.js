// The inbox's connection to /ws: like live-socket.js (reopened with backoff, its state shown), and it also
// speaks: presence every 30 s ("away" once the tab has been hidden for five minutes), and which ticket this
// agent is viewing or typing in (the other agents see a collision warning).

import { deliverEvents } from "./live-socket.js";

const PING_EVERY_MS = 25000;
const PRESENCE_EVERY_MS = 30000;
const AWAY_AFTER_MS = 5 * 60 * 1000;
const MAX_DELAY_S = 30;
const SIGNED_OUT = new Set([4401, 4403]);

export function openInboxSocket({ onEvent, onReady = () => {}, onState = () => {} }) {
  let socket = null;
  let attempt = 0;
  let timers = [];
  let retryTimer = null;
  let countdown = null;
  let hiddenSince = document.visibilityState === "hidden" ? Date.now() : null;

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function presence() {
    const away = hiddenSince !== null && Date.now() - hiddenSince > AWAY_AFTER_MS;
    send({ type: "presence", presence: away ? "away" : "online" });
  }

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(countdown);
    onState("connecting");
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${window.location.host}/ws`);
    socket.addEventListener("open", () => {
      timers = [
        setInterval(() => send({ type: "ping" }), PING_EVERY_MS),
        setInterval(presence, PRESENCE_EVERY_MS),
      ];
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "ready") {
        attempt = 0;
        onState("live");
        presence();
        onReady();
      } else {
        deliverEvents(message, onEvent);
      }
    });
    socket.addEventListener("close", (event) => {
      timers.forEach(clearInterval);
      if (SIGNED_OUT.has(event.code)) {
        onState("signed_out");
        return;
      }
      const delay = Math.min(MAX_DELAY_S, 2 ** attempt) * (0.8 + Math.random() * 0.4);
      attempt += 1;
      let left = Math.ceil(delay);
      onState("retrying", left);
      countdown = setInterval(() => onState("retrying", (left = Math.max(0, left - 1))), 1000);
      retryTimer = setTimeout(connect, delay * 1000);
    });
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      hiddenSince = Date.now();
      return;
    }
    hiddenSince = null;
    if (socket && socket.readyState === WebSocket.CLOSED && retryTimer) connect();
    else presence();
  });
  window.addEventListener("online", () => socket && socket.readyState === WebSocket.CLOSED && connect());

  connect();
  return { send };
}
