// The staff page of a call: the buyer's video large, the own preview small, snapshots with marks drawn on
// them (rectangles dragged over the frame), and hanging up. The frame shown here is a preview: the evidence
// is decoded from the server's recording at the same moment after the call.

import { CallSession } from "./call-session.js";

const root = document.getElementById("call");
const callId = root.dataset.call;
const text = JSON.parse(document.getElementById("call-text").textContent);
const csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
const headers = { "X-CSRF-Token": csrf };
const remote = document.getElementById("remote-video");
const local = document.getElementById("local-video");
const status = document.getElementById("call-status");
const join = document.getElementById("join");
const snap = document.getElementById("snapshot");
const end = document.getElementById("end-call");
const shots = document.getElementById("snapshots");
const shotTemplate = document.getElementById("snapshot-template");

const badge = document.querySelector(".call-badge");

function show(state) {
  root.dataset.state = state;
  status.textContent = text[state] || state;
  snap.disabled = state !== "connected";
  const call = { connected: "connected", reconnecting: "reconnecting", ended: "ended" }[state];
  if (badge && call) {
    badge.dataset.status = call;
    badge.textContent = text.badges[call];
  }
}

const call = new CallSession(
  { seat: `/api/v1/calls/${callId}/seat`, report: `/api/v1/calls/${callId}/report` },
  headers,
  {
    remote: (media) => { if (remote.srcObject !== media) remote.srcObject = media; },
    state: (name, detail) => { show(name); if (name === "ended" && detail) status.textContent = detail; },
    peer: (present) => { if (!present) status.textContent = text.waiting; },
  },
);

async function api(method, path, body) {
  const response = await fetch(`/api/v1/calls/${callId}${path}`, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
  return data;
}

join.addEventListener("click", async () => {
  join.disabled = true;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
    local.srcObject = stream;
    await call.prepare(stream);
    await call.join();
    join.hidden = true;
    end.disabled = false;
  } catch (error) {
    join.disabled = false;
    show("failed");
    status.textContent = `${text.failed} (${error.message})`;
  }
});

// Marks: drag to draw a rectangle over the damage; coordinates are kept in 0–1 of the frame.
function markable(figure, snapshot) {
  const canvas = figure.querySelector("canvas");
  const context = canvas.getContext("2d");
  const image = figure.querySelector("img");
  const note = figure.querySelector("textarea");
  const save = figure.querySelector("button");
  const marks = [];
  let start = null;
  const draw = (extra) => {
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.strokeStyle = "#e02424";
    context.lineWidth = 3;
    for (const m of [...marks, ...(extra ? [extra] : [])]) {
      context.strokeRect(m.x * canvas.width, m.y * canvas.height, m.w * canvas.width, m.h * canvas.height);
    }
  };
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return {
      x: Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1),
      y: Math.min(Math.max((event.clientY - box.top) / box.height, 0), 1),
    };
  };
  const rect = (a, b) => ({
    shape: "rect", x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(b.x - a.x), h: Math.abs(b.y - a.y),
  });
  image.addEventListener("load", () => { canvas.width = image.naturalWidth; canvas.height = image.naturalHeight; draw(); });
  canvas.addEventListener("pointerdown", (event) => { start = point(event); canvas.setPointerCapture(event.pointerId); });
  canvas.addEventListener("pointermove", (event) => { if (start) draw(rect(start, point(event))); });
  canvas.addEventListener("pointerup", (event) => {
    if (!start) return;
    const mark = rect(start, point(event));
    start = null;
    if (mark.w > 0.01 && mark.h > 0.01) marks.push(mark);
    draw();
  });
  save.addEventListener("click", async () => {
    save.disabled = true;
    try {
      await api("PUT", `/snapshots/${snapshot.id}`, { marks, note: note.value });
      figure.querySelector(".snapshot-saved").hidden = false;
    } catch (error) {
      status.textContent = error.message;
    } finally {
      save.disabled = false;
    }
  });
}

snap.addEventListener("click", async () => {
  if (!remote.videoWidth) return;
  const frame = document.createElement("canvas");
  frame.width = remote.videoWidth;
  frame.height = remote.videoHeight;
  frame.getContext("2d").drawImage(remote, 0, 0);
  try {
    const snapshot = await api("POST", "/snapshots", { seat: "buyer" });
    const figure = shotTemplate.content.firstElementChild.cloneNode(true);
    figure.querySelector("img").src = frame.toDataURL("image/jpeg", 0.85);
    figure.dataset.snapshot = snapshot.id;
    shots.prepend(figure);
    markable(figure, snapshot);
  } catch (error) {
    status.textContent = error.message;
  }
});

end.addEventListener("click", async () => {
  end.disabled = true;
  call.stop();
  try {
    await api("POST", "/end");
  } finally {
    show("ended");
    if (local.srcObject) local.srcObject.getTracks().forEach((t) => t.stop());
  }
});

show(root.dataset.state || "idle");
