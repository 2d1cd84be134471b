// A small client for Janus's WebSocket API (janus-protocol): one session, plugin handles, requests matched to
// their replies by transaction, the plugin's asynchronous events delivered to the handle they belong to.

const KEEPALIVE_MS = 20000;

function transactionId() {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class JanusError extends Error {
  constructor(code, reason) {
    super(`Janus error ${code}: ${reason}`);
    this.code = code;
  }
}

export class JanusSession {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.sessionId = null;
    this.handles = new Map();
    this.pending = new Map();
    this.closed = false;
    this.onclose = null;
  }

  // Open the socket and create the session.
  async connect() {
    this.socket = new WebSocket(this.url, "janus-protocol");
    await new Promise((resolve, reject) => {
      this.socket.onopen = resolve;
      this.socket.onerror = () => reject(new Error("The media server cannot be reached."));
    });
    this.socket.onmessage = (event) => this._receive(JSON.parse(event.data));
    this.socket.onclose = () => this._lost();
    const created = await this._send({ janus: "create" });
    this.sessionId = created.data.id;
    this.keepalive = setInterval(() => {
      this._send({ janus: "keepalive", session_id: this.sessionId }).catch(() => {});
    }, KEEPALIVE_MS);
    return this;
  }

  async attach(plugin) {
    const attached = await this._send({ janus: "attach", plugin, session_id: this.sessionId });
    const handle = new JanusHandle(this, attached.data.id);
    this.handles.set(handle.id, handle);
    return handle;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ janus: "destroy", session_id: this.sessionId,
        transaction: transactionId(), token: this.token }));
      this.socket.close();
    }
    for (const { reject } of this.pending.values()) reject(new Error("The session was closed."));
    this.pending.clear();
  }

  _lost() {
    clearInterval(this.keepalive);
    for (const { reject } of this.pending.values()) reject(new Error("The media server went away."));
    this.pending.clear();
    if (!this.closed && this.onclose) this.onclose();
    this.closed = true;
  }

  // Send one request; resolve with Janus's "success", or with the plugin's "event" when it answers later.
  _send(message) {
    const transaction = transactionId();
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        reject(new Error("The media server connection is closed."));
        return;
      }
      this.pending.set(transaction, { resolve, reject });
      this.socket.send(JSON.stringify({ ...message, transaction, token: this.token }));
    });
  }

  _receive(message) {
    const waiting = message.transaction && this.pending.get(message.transaction);
    if (waiting && message.janus !== "ack") {
      this.pending.delete(message.transaction);
      if (message.janus === "error") {
        waiting.reject(new JanusError(message.error.code, message.error.reason));
        return;
      }
      const data = message.plugindata && message.plugindata.data;
      if (data && data.error_code) {
        waiting.reject(new JanusError(data.error_code, data.error));
        return;
      }
      waiting.resolve(message);
      return;
    }
    if (waiting) return; // an ack: the plugin's event follows with the same transaction
    const handle = this.handles.get(message.sender);
    if (handle) handle._event(message);
  }
}

export class JanusHandle {
  constructor(session, id) {
    this.session = session;
    this.id = id;
    this.listeners = new Set();
    this.pc = null;
  }

  // A plugin request; `jsep` rides along when negotiating.
  request(body, jsep) {
    const message = { janus: "message", session_id: this.session.sessionId, handle_id: this.id, body };
    if (jsep) message.jsep = jsep;
    return this.session._send(message);
  }

  trickle(candidate) {
    return this.session._send({
      janus: "trickle",
      session_id: this.session.sessionId,
      handle_id: this.id,
      candidate: candidate || { completed: true },
    }).catch(() => {});
  }

  // A peer connection whose ICE candidates trickle to Janus as they come.
  peerConnection(iceServers) {
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    this.pc.onicecandidate = (event) => {
      this.trickle(event.candidate ? {
        candidate: event.candidate.candidate,
        sdpMid: event.candidate.sdpMid,
        sdpMLineIndex: event.candidate.sdpMLineIndex,
      } : null);
    };
    return this.pc;
  }

  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  detach() {
    if (this.pc) this.pc.close();
    this.pc = null;
    this.session.handles.delete(this.id);
    if (!this.session.closed) {
      this.session._send({ janus: "detach", session_id: this.session.sessionId, handle_id: this.id })
        .catch(() => {});
    }
  }

  _event(message) {
    for (const listener of this.listeners) listener(message);
  }
}
