// The inbox's calls: JSON to /api/v1 with the session cookie and the CSRF header, and parts of the inbox
// page itself (?part=list|thread), parsed into nodes. Server HTML is already escaped; nothing people typed
// ever goes through innerHTML here.

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

/** {ok, status, data, message}: `message` is the server's explanation when the call failed. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json", "X-CSRF-Token": csrfToken() };
  const init = { method, credentials: "same-origin", headers };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, init);
  } catch (error) {
    return { ok: false, status: 0, data: null, message: String(error.message || error) };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  const message = response.ok ? "" : errorText(data, response);
  return { ok: response.ok, status: response.status, data, message };
}

function errorText(data, response) {
  const error = data && data.error;
  if (error && typeof error.message === "string") return error.message;
  if (data && typeof data.detail === "string") return data.detail;
  return `${response.status} ${response.statusText}`.trim();
}

/** One part of an inbox page as a detached element (null when the page is gone or the session ended). */
export async function fetchPart(url, selector) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  } catch {
    return { element: null, status: 0 };
  }
  if (response.redirected && new URL(response.url).pathname === "/login") {
    return { element: null, status: 401 };
  }
  if (!response.ok && response.status !== 422) return { element: null, status: response.status };
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  const found = doc.querySelector(selector);
  return { element: found ? document.adoptNode(found) : null, status: response.status };
}

/** `template` with its {name} slots filled (values inserted as plain strings, shown with textContent). */
export function fill(template, values) {
  return String(template || "").replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}
