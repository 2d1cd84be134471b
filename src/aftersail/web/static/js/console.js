// Small progressive enhancements for the console; every page works without this script.

/** The session's CSRF token, for fetch() calls that change something. */
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

/** POST JSON with the CSRF header the API expects from a console session. */
export async function postJson(url, body) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
  });
}

// Filter selects submit their form as soon as they change.
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form && select.form.requestSubmit());
}
