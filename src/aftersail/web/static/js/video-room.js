// One side of an inspection call in a Janus VideoRoom: publish the local camera and microphone, subscribe to
// the other side's feed, report media state, and come back after a network change. Used by the buyer's page
// and the staff page alike.

import { JanusSession } from "./janus-client.js";

const VIDEOROOM = "janus.plugin.videoroom";

export class RoomSide {
  // `grant`: what the server handed out for this seat (Janus URL and token, room, pin, room token, ICE servers,
  // bitrate, the other side's feed when known). `callbacks`: onRemoteStream(stream), onState(state, detail),
  // onFeed(feedId), onPeerGone().
  constructor(grant, localStream, callbacks) {
    this.grant = grant;
    this.localStream = localStream;
    this.callbacks = callbacks;
    this.session = null;
    this.publisher = null;
    this.subscriber = null;
    this.subscribedFeed = null;
    this.ended = false;
  }

  // Ahead of the click that joins: the media server session, the publisher's handle, and — when the other
  // side is already in the room — its subscription up to Janus's offer (nothing flows before the answer).
  async prepare() {
    this.session = await new JanusSession(this.grant.janus_url, this.grant.janus_token).connect();
    this.session.onclose = () => this._trouble("signalling");
    this.publisher = await this.session.attach(VIDEOROOM);
    this.publisher.on((message) => this._publisherEvent(message));
    this.subscriberReady = this._attachSubscriber();
    await this.subscriberReady;
    const peer = this.grant.peer_feed;
    this.offered = peer ? this._offer(peer).catch(() => null) : null;
  }

  async _attachSubscriber() {
    this.subscriber = await this.session.attach(VIDEOROOM);
    this.subscriber.on((message) => this._subscriberEvent(message));
  }

  // Join and publish; answer the prepared subscription at the same time.
  async join() {
    if (!this.session) await this.prepare();
    const publishing = this._publish();
    const offered = this.offered;
    this.offered = null;
    const subscribing = offered
      ? offered.then((pc) => (pc ? this._answer(pc) : null)).catch(() => { this.subscribedFeed = null; })
      : Promise.resolve(null);
    const joined = await publishing;
    this.callbacks.onFeed && this.callbacks.onFeed(joined.id);
    await subscribing;
    const others = (joined.publishers || []).filter((p) => p.id !== joined.id);
    if (this.subscribedFeed && !others.some((p) => p.id === this.subscribedFeed)) {
      this.subscribedFeed = null; // the feed prepared for left before the click (the agent reloaded, say)
      this._resetSubscriber();
    }
    if (!this.subscribedFeed && others.length) await this._subscribe(others[0].id);
    return joined.id;
  }

  async _publish() {
    const pc = this.publisher.peerConnection(this.grant.ice_servers);
    pc.oniceconnectionstatechange = () => this._iceState(pc.iceConnectionState, "publisher");
    for (const track of this.localStream.getTracks()) pc.addTrack(track, this.localStream);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const reply = await this.publisher.request({
      request: "joinandconfigure",
      ptype: "publisher",
      room: this.grant.room,
      pin: this.grant.pin,
      token: this.grant.room_token,
      display: this.grant.seat,
      bitrate: this.grant.bitrate,
      audio: true,
      video: true,
    }, { type: offer.type, sdp: offer.sdp });
    await pc.setRemoteDescription(reply.jsep);
    this._capSender(pc, this.grant.bitrate);
    return reply.plugindata.data;
  }

  async _subscribe(feed) {
    if (this.subscribedFeed === feed) return;
    const pc = await this._offer(feed);
    await this._answer(pc);
  }

  // Join as the feed's subscriber and take Janus's offer (the first half of subscribing).
  async _offer(feed) {
    this.subscribedFeed = feed;
    await this.subscriberReady; // a handle replaced after the other side left may still be attaching
    const handle = this.subscriber;
    const reply = await handle.request({
      request: "join",
      ptype: "subscriber",
      room: this.grant.room,
      pin: this.grant.pin,
      token: this.grant.room_token,
      streams: [{ feed }],
    });
    const pc = handle.peerConnection(this.grant.ice_servers);
    pc.oniceconnectionstatechange = () => this._iceState(pc.iceConnectionState, "subscriber");
    const remote = new MediaStream();
    pc.ontrack = (event) => {
      remote.addTrack(event.track);
      this.callbacks.onRemoteStream(remote);
    };
    await pc.setRemoteDescription(reply.jsep);
    return pc;
  }

  // The second half: answer, and Janus starts sending. Refused when the handle was replaced meanwhile (the
  // feed left before the click).
  async _answer(pc) {
    if (!this.subscriber || this.subscriber.pc !== pc) throw new Error("The other side left.");
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this.subscriber.request({ request: "start" }, { type: answer.type, sdp: answer.sdp });
  }

  // Weak networks: a lower cap on the sender, and Janus's cap through "configure".
  async setBitrate(bitrate) {
    this.grant.bitrate = bitrate;
    if (this.publisher && this.publisher.pc) this._capSender(this.publisher.pc, bitrate);
    if (this.publisher) await this.publisher.request({ request: "configure", bitrate }).catch(() => {});
  }

  async replaceVideoTrack(track) {
    const pc = this.publisher && this.publisher.pc;
    if (!pc) return;
    const sender = pc.getSenders().find((s) => s.track && s.track.kind === "video");
    if (sender) await sender.replaceTrack(track);
  }

  _capSender(pc, bitrate) {
    for (const sender of pc.getSenders()) {
      if (!sender.track || sender.track.kind !== "video") continue;
      const parameters = sender.getParameters();
      if (!parameters.encodings || !parameters.encodings.length) parameters.encodings = [{}];
      parameters.encodings[0].maxBitrate = bitrate;
      sender.setParameters(parameters).catch(() => {});
    }
  }

  _publisherEvent(message) {
    if (message.janus === "slowlink" && message.uplink === false) {
      this.callbacks.onState && this.callbacks.onState("slowlink", message.lost);
      return;
    }
    const data = message.plugindata && message.plugindata.data;
    if (!data) return;
    if (data.publishers && data.publishers.length && !this.subscribedFeed) {
      this._subscribe(data.publishers[0].id).catch((error) => this.callbacks.onState("error", error.message));
    }
    const gone = data.unpublished || data.leaving;
    if (gone && gone === this.subscribedFeed) {
      this.subscribedFeed = null;
      this._resetSubscriber();
      this.callbacks.onPeerGone && this.callbacks.onPeerGone();
    }
  }

  _subscriberEvent(message) {
    if (message.janus === "hangup" && this.subscribedFeed) {
      this.subscribedFeed = null;
      this._resetSubscriber();
      this.callbacks.onPeerGone && this.callbacks.onPeerGone();
    }
  }

  _resetSubscriber() {
    this.offered = null;
    if (this.subscriber) this.subscriber.detach();
    this.subscriber = null;
    if (this.session && !this.session.closed) this.subscriberReady = this._attachSubscriber();
  }

  _iceState(state, which) {
    if (state === "connected" || state === "completed") {
      this.callbacks.onState && this.callbacks.onState("media", which);
    } else if (state === "disconnected" || state === "failed") {
      this._trouble(which);
    }
  }

  _trouble(where) {
    if (this.ended) return;
    this.callbacks.onState && this.callbacks.onState("lost", where);
  }

  leave() {
    this.ended = true;
    if (this.publisher) this.publisher.detach();
    if (this.subscriber) this.subscriber.detach();
    if (this.session) this.session.close();
    this.session = this.publisher = this.subscriber = null;
    this.subscribedFeed = null;
  }
}
