// The buyer's call page: the permission explainer, the camera preview, Connect, the camera switch and torch,
// and the call itself. Every word shown comes from the page (translated on the server).

import { CallSession } from "./call-session.js";

const root = document.getElementById("call");
const base = root.dataset.base;
const text = JSON.parse(document.getElementById("call-text").textContent);
const local = document.getElementById("local-video");
const remote = document.getElementById("remote-video");
const status = document.getElementById("call-status");
const allow = document.getElementById("allow-camera");
const connect = document.getElementById("connect");
const flip = document.getElementById("switch-camera");
const torch = document.getElementById("torch");
const hangUp = document.getElementById("hang-up");

let facing = "environment"; // the back camera shows the item; the buyer can turn to the front
let stream = null;
let torchOn = false;

function show(state) {
  root.dataset.state = state;
  status.textContent = text[state] || "";
}

const call = new CallSession(
  { seat: `${base}/seat`, report: `${base}/report` },
  {},
  {
    remote: (media) => { if (remote.srcObject !== media) remote.srcObject = media; },
    state: (name, detail) => {
      show(name);
      if (name === "ended") {
        if (stream) stream.getTracks().forEach((t) => t.stop());
        if (detail) status.textContent = detail;
      }
    },
    peer: (present) => { if (!present) status.textContent = text.waiting; },
  },
);

async function camera() {
  const video = { facingMode: { ideal: facing }, width: { ideal: 1280 }, height: { ideal: 720 } };
  if (stream) stream.getVideoTracks().forEach((t) => t.stop());
  const fresh = await navigator.mediaDevices.getUserMedia({ video, audio: !stream });
  if (!stream) {
    stream = fresh;
  } else {
    const track = fresh.getVideoTracks()[0];
    stream.getVideoTracks().forEach((t) => stream.removeTrack(t));
    stream.addTrack(track);
    await call.replaceVideoTrack(track);
  }
  local.srcObject = stream;
  local.classList.toggle("mirrored", facing === "user");
  const track = stream.getVideoTracks()[0];
  const capabilities = track && track.getCapabilities ? track.getCapabilities() : {};
  torch.hidden = !capabilities.torch;
  torchOn = false;
  torch.setAttribute("aria-pressed", "false");
}

allow.addEventListener("click", async () => {
  allow.disabled = true;
  try {
    await camera();
    show("ready");
    connect.disabled = true;
    await call.prepare(stream); // seat and media session ready before Connect
    connect.disabled = false;
  } catch (error) {
    allow.disabled = false;
    const blocked = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
    show(blocked ? "blocked" : "failed");
    if (!blocked && error && error.message) status.textContent = `${text.failed} (${error.message})`;
  }
});

connect.addEventListener("click", async () => {
  connect.disabled = true;
  window.aftersailConnectAt = performance.now();
  try {
    await call.join();
    hangUp.disabled = false;
  } catch (error) {
    connect.disabled = false;
    show("failed");
    status.textContent = `${text.failed} (${error.message})`;
  }
});

flip.addEventListener("click", async () => {
  facing = facing === "environment" ? "user" : "environment";
  try { await camera(); } catch { facing = facing === "environment" ? "user" : "environment"; }
});

torch.addEventListener("click", async () => {
  const track = stream && stream.getVideoTracks()[0];
  if (!track) return;
  torchOn = !torchOn;
  try {
    await track.applyConstraints({ advanced: [{ torch: torchOn }] });
    torch.setAttribute("aria-pressed", String(torchOn));
  } catch {
    torchOn = false;
    torch.hidden = true;
  }
});

hangUp.addEventListener("click", async () => {
  hangUp.disabled = true;
  call.stop();
  try { await fetch(`${base}/leave`, { method: "POST" }); } finally { show("ended"); }
  if (stream) stream.getTracks().forEach((t) => t.stop());
});

// The first frame of the other side, for people (the status) and for the benchmark (the time).
remote.addEventListener("playing", () => show("connected"));
if (remote.requestVideoFrameCallback) {
  const firstFrame = () => remote.requestVideoFrameCallback(() => {
    if (window.aftersailConnectAt !== undefined && window.aftersailFirstFrameMs === undefined) {
      window.aftersailFirstFrameMs = performance.now() - window.aftersailConnectAt;
    }
  });
  remote.addEventListener("loadstart", firstFrame);
  firstFrame();
}
window.aftersailCall = call; // for the tests and the benchmark: its seat, feed and state
show(root.dataset.state || "explain");
