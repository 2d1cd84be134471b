// The buyer chat's HTTP calls to /chat/api (same origin as the page, also inside the widget's iframe).
// A failed call throws a ChatError carrying the HTTP status (0 when the network failed), the API's error
// code and message, and its details (e.g. `limit` of a 413).

export class ChatError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

async function call(path, { method = "GET", token = "", json, form } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers["X-Chat-Token"] = token;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "omit", cache: "no-store" });
  } catch (error) {
    throw new ChatError(0, "network", String(error));
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ChatError(response.status, error.code || "http_error", error.message || "", error);
  }
  return data;
}

export function startChat(body) {
  return call("/chat/api/start", { method: "POST", json: body });
}

export function loadThread(token) {
  return call("/chat/api/thread", { token });
}

export function sendMessage(token, body, category) {
  return call("/chat/api/messages", { method: "POST", token, json: category ? { body, category } : { body } });
}

export function sendPhoto(token, file) {
  const form = new FormData();
  form.append("file", file, file.name || "photo");
  return call("/chat/api/attachments", { method: "POST", token, form });
}

export function markRead(token) {
  return call("/chat/api/read", { method: "POST", token });
}

export function rate(token, ticketId, rating, comment = "") {
  return call(`/chat/api/rate/${encodeURIComponent(ticketId)}`, {
    method: "POST",
    token,
    json: { rating, comment },
  });
}

/** An <img> can't send headers: the buyer's photos are fetched with the token in the query. */
export function photoUrl(attachmentId, token) {
  return `/chat/api/attachments/${encodeURIComponent(attachmentId)}?token=${encodeURIComponent(token)}`;
}
