// The buyer's live connection: one WebSocket to /chat/ws?token=, reopened with exponential backoff (and
// jitter) when it drops, at once when the browser comes back online or the tab is looked at again.

const PING_EVERY_MS = 25000;
const MAX_DELAY_S = 30;
const CLOSE_UNAUTHENTICATED = 4401; // the token expired or is no longer valid: start again

/**
 * onFrame(frame) for every frame but "ready"/"pong"; onReady(first) after each (re)connection, so the page
 * can catch up on what it missed; onState("connecting" | "live" | "retrying"); onExpired() on 4401.
 * Returns { send(frame) → sent?, close() }.
 */
export function openChatSocket(token, { onFrame, onReady = () => {}, onState = () => {}, onExpired = () => {} }) {
  let attempt = 0;
  let socket = null;
  let pinger = null;
  let retryTimer = null;
  let connections = 0;
  let stopped = false;

  function address() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}/chat/ws?token=${encodeURIComponent(token)}`;
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    onState("connecting");
    socket = new WebSocket(address());
    socket.addEventListener("open", () => {
      pinger = setInterval(() => send({ type: "ping" }), PING_EVERY_MS);
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!frame || typeof frame.type !== "string" || frame.type === "pong") return;
      if (frame.type === "ready") {
        attempt = 0;
        connections += 1;
        onState("live");
        onReady(connections === 1);
      } else {
        onFrame(frame);
      }
    });
    socket.addEventListener("close", (event) => {
      clearInterval(pinger);
      if (stopped) return;
      if (event.code === CLOSE_UNAUTHENTICATED) {
        stop();
        onExpired();
        return;
      }
      scheduleRetry();
    });
  }

  function scheduleRetry() {
    const delay = Math.min(MAX_DELAY_S, 2 ** attempt) * (0.8 + Math.random() * 0.4);
    attempt += 1;
    onState("retrying");
    retryTimer = setTimeout(connect, delay * 1000);
  }

  function retryNow() {
    if (!stopped && retryTimer && socket && socket.readyState === WebSocket.CLOSED) connect();
  }

  function onVisible() {
    if (document.visibilityState === "visible") retryNow();
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function stop() {
    stopped = true;
    clearTimeout(retryTimer);
    clearInterval(pinger);
    window.removeEventListener("online", retryNow);
    document.removeEventListener("visibilitychange", onVisible);
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
  }

  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", onVisible);
  connect();
  return { send, close: stop };
}
