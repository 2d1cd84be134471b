// A page's seat in an inspection call: ask the server for the seat, join the media room, send a heartbeat
// with what the page sees, and rejoin after a network change (same client id, so the seat is still ours).
// Shared by the buyer's page and the staff page; they differ in the URLs they post to and what they show.

import { RoomSide } from "./video-room.js";

const HEARTBEAT_MS = 5000;
const REJOIN_DELAYS_MS = [500, 1500, 3000, 5000, 8000];

function clientId() {
  const key = "aftersail-call-client";
  let id = sessionStorage.getItem(key);
  if (!id) {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem(key, id);
  }
  return id;
}

function network() {
  const info = navigator.connection || {};
  return { network: info.effectiveType || "", downlink: typeof info.downlink === "number" ? info.downlink : null };
}

export class CallSession {
  // urls: {seat, report}; headers: extra request headers (the console's CSRF token);
  // view: {remote(stream), state(name, detail), peer(present)}.
  constructor(urls, headers, view) {
    this.urls = urls;
    this.headers = headers || {};
    this.view = view;
    this.clientId = clientId();
    this.side = null;
    this.feed = null;
    this.up = { publisher: false, subscriber: false }; // ICE of what we send, and of what we receive
    this.peerPresent = null;
    this.rejoining = false;
    this.attempt = 0;
    this.stopped = false;
    window.addEventListener("online", () => this._rejoinSoon(0));
  }

  async _post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", ...this.headers },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    if (!response.ok) {
      const error = new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // Seat, session and publisher handle ready before the click (the click then only negotiates media).
  async prepare(stream) {
    this.stream = stream;
    const grant = await this._post(this.urls.seat, { client_id: this.clientId, ...network() });
    this.side = new RoomSide(grant, stream, {
      onRemoteStream: (remote) => { this.peerPresent = true; this.view.remote(remote); },
      onState: (name, detail) => this._mediaState(name, detail),
      onFeed: (feed) => { this.feed = feed; },
      onPeerGone: () => {
        this.peerPresent = false;
        this.up.subscriber = false;
        this.view.state("waiting");
        this._report();
      },
    });
    await this.side.prepare();
    return grant;
  }

  async join() {
    if (!this.side) await this.prepare(this.stream);
    this.view.state("joining");
    await this.side.join();
    this._report();
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this._report(), HEARTBEAT_MS);
  }

  async replaceVideoTrack(track) {
    if (this.side) await this.side.replaceVideoTrack(track);
  }

  _mediaState(name, detail) {
    if (name === "media") {
      this.attempt = 0;
      this.up[detail] = true;
      this.view.state(this.mediaUp ? "connected" : "waiting");
      this._report();
    } else if (name === "lost") {
      this.up = { publisher: false, subscriber: false };
      this.view.state("reconnecting", detail);
      this._report();
      this._rejoinSoon();
    } else if (name === "slowlink" && this.side && this.side.grant.bitrate > 256000) {
      this.side.setBitrate(256000);
    }
  }

  // Media flows both ways: what we send reached the server, and the other side's picture reaches us.
  get mediaUp() {
    return this.up.publisher && this.up.subscriber;
  }

  // One report at a time, always with the latest state: two in flight could land in the wrong order and
  // leave the server with an older picture than the page's.
  async _report() {
    if (this.stopped) return;
    if (this.reporting) { this.reportAgain = true; return; }
    this.reporting = true;
    try {
      do {
        this.reportAgain = false;
        await this._sendReport();
      } while (this.reportAgain && !this.stopped);
    } finally {
      this.reporting = false;
    }
  }

  async _sendReport() {
    try {
      const answer = await this._post(this.urls.report, {
        client_id: this.clientId,
        feed_id: this.feed,
        media_up: this.mediaUp,
        peer_present: this.peerPresent,
      });
      if (answer && answer.status === "ended") this._ended();
    } catch (error) {
      if (error.status === 409 || error.status === 401 || error.status === 404) this._ended(error.message);
    }
  }

  // Leave the room and join again: a network change gives new addresses, so a new session is simplest.
  _rejoinSoon(delay) {
    if (this.stopped || this.rejoining) return;
    this.rejoining = true;
    const wait = delay !== undefined ? delay : REJOIN_DELAYS_MS[Math.min(this.attempt, REJOIN_DELAYS_MS.length - 1)];
    this.attempt += 1;
    setTimeout(async () => {
      if (this.side) this.side.leave();
      this.side = null;
      this.feed = null;
      try {
        await this.prepare(this.stream);
        await this.join();
        this.rejoining = false;
      } catch (error) {
        this.rejoining = false;
        if (error.status === 409 || error.status === 401) { this._ended(error.message); return; }
        this._rejoinSoon();
      }
    }, wait);
  }

  _ended(message) {
    if (this.stopped) return;
    this.stop();
    this.view.state("ended", message || "");
  }

  stop() {
    this.stopped = true;
    clearInterval(this.heartbeat);
    if (this.side) this.side.leave();
    this.side = null;
  }
}
