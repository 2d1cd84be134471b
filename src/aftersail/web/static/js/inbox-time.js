// SLA countdowns ("due in 25 min", "overdue 10 min", red within the hour) and "last activity" times, kept
// current every 30 s. The page renders them first; the words come from the page's strings.

import { fill } from "./inbox-api.js";

const AT_RISK_MS = 60 * 60 * 1000;

export function durationText(messages, ms) {
  let minutes = Math.max(1, Math.round(Math.abs(ms) / 60000));
  if (minutes < 60) return fill(messages.minutes, { minutes });
  let hours = Math.floor(minutes / 60);
  minutes %= 60;
  if (hours < 24) return fill(messages.hours, { hours, minutes });
  const days = Math.floor(hours / 24);
  hours %= 24;
  return fill(messages.days, { days, hours });
}

export function startClock(messages, locale) {
  let relative;
  try {
    relative = new Intl.RelativeTimeFormat(locale, { numeric: "auto", style: "short" });
  } catch {
    relative = new Intl.RelativeTimeFormat("en", { numeric: "auto", style: "short" });
  }

  function ago(ms) {
    const seconds = Math.round(ms / 1000);
    if (seconds < 60) return relative.format(0, "minute");
    if (seconds < 3600) return relative.format(-Math.round(seconds / 60), "minute");
    if (seconds < 86400) return relative.format(-Math.round(seconds / 3600), "hour");
    return relative.format(-Math.round(seconds / 86400), "day");
  }

  function update(root = document) {
    const now = Date.now();
    for (const element of root.querySelectorAll("[data-due]")) {
      const left = Date.parse(element.dataset.due) - now;
      if (Number.isNaN(left)) continue;
      const text = fill(left < 0 ? messages.overdue : messages.due_in, { duration: durationText(messages, left) });
      const target = element.querySelector("[data-due-text]") || element;
      target.textContent = text;
      element.classList.toggle("sla-overdue", left < 0);
      element.classList.toggle("sla-at_risk", left >= 0 && left <= AT_RISK_MS);
      element.classList.toggle("sla-ok", left > AT_RISK_MS);
    }
    for (const element of root.querySelectorAll("[data-ago]")) {
      const when = Date.parse(element.dataset.ago);
      if (!Number.isNaN(when)) element.textContent = ago(Math.max(0, now - when));
    }
  }

  update();
  setInterval(update, 30000);
  return update;
}
