// The console's live connection: one WebSocket to /ws (the session cookie signs it in), reopened with
// exponential backoff when it drops, its state shown on the page. Pages pass what to do with each event.

const PING_EVERY_MS = 25000;
const MAX_DELAY_S = 30;
const SIGNED_OUT = new Set([4401, 4403]); // the server's "sign in again" and "not from this site"

/** onEvent(topic, payload) for a pushed event, or for each of the events that waited together on the
 * server and came in one frame ({"type": "events", "events": [...]}), in order. */
export function deliverEvents(message, onEvent) {
  const events = message.type === "events" && Array.isArray(message.events) ? message.events : [message];
  for (const one of events) if (one && typeof one.topic === "string") onEvent(one.topic, one.payload || {});
}

/**
 * Open /ws and keep it open.
 * onEvent(topic, payload) for every pushed event; onReady() after each (re)connection, so the page can
 * catch up on what it missed while disconnected; onState(state, seconds) with "connecting", "live",
 * "retrying" (seconds until the next attempt) or "signed_out".
 */
export function openLive({ onEvent, onReady = () => {}, onState = () => {} }) {
  let attempt = 0;
  let socket = null;
  let pinger = null;
  let retryTimer = null;
  let countdown = null;

  function address() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}/ws`;
  }

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(countdown);
    onState("connecting");
    socket = new WebSocket(address());
    socket.addEventListener("open", () => {
      pinger = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, PING_EVERY_MS);
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
        onReady();
      } else {
        deliverEvents(message, onEvent);
      }
    });
    socket.addEventListener("close", (event) => {
      clearInterval(pinger);
      if (SIGNED_OUT.has(event.code)) {
        onState("signed_out");
        return;
      }
      scheduleRetry();
    });
  }

  function scheduleRetry() {
    // 1, 2, 4 … 30 s, with jitter so that a restarted server is not hit by every console at once.
    const delay = Math.min(MAX_DELAY_S, 2 ** attempt) * (0.8 + Math.random() * 0.4);
    attempt += 1;
    let left = Math.ceil(delay);
    onState("retrying", left);
    countdown = setInterval(() => {
      left = Math.max(0, left - 1);
      onState("retrying", left);
    }, 1000);
    retryTimer = setTimeout(connect, delay * 1000);
  }

  // Back online, or the tab is looked at again: try now instead of waiting out the backoff.
  const retryNow = () => {
    if (socket && socket.readyState === WebSocket.CLOSED && retryTimer) connect();
  };
  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && retryNow());

  connect();
}

/** Shows the connection state in `element` ([data-live-status] with a [data-live-status-text] child). */
export function connectionIndicator(element, labels) {
  const text = element.querySelector("[data-live-status-text]") || element;
  return (state, seconds) => {
    element.dataset.liveStatus = state;
    text.textContent = (labels[state] || state).replace("{seconds}", String(seconds ?? ""));
  };
}
