// The composer: reply or internal note. The agent writes in their language; a public reply to a buyer who
// reads another language is translated (POST /translate) into an editable preview that is sent beside the
// original. Without a translation service the agent is told so and may send as written. Macros, files,
// the split send button (then waiting on the buyer / resolved / open) and Ctrl/⌘+Enter.

import { api, fill } from "./inbox-api.js";

const TYPING_EVERY_MS = 3000;

export function setupComposer(form, { ticketId, messages, locale, socket, afterSend }) {
  const body = form.querySelector("[data-body]");
  const sent = form.querySelector("[data-sent]");
  const preview = form.querySelector("[data-preview]");
  const hint = form.querySelector("[data-composer-hint]");
  const writingIn = form.querySelector("[data-writing-in]");
  const files = form.querySelector("[data-pending-files]");
  const menu = form.querySelector("[data-send-options]");
  const menuButton = form.querySelector("[data-send-menu]");
  const agentLanguage = form.dataset.agentLanguage;
  const buyerLanguage = form.dataset.buyerLanguage;
  const names = displayNames(locale);
  const state = { writing: agentLanguage, previewFor: null, failed: false, staleWarned: null, sending: false };
  const attachments = new Map(); // id → file name
  let lastTyping = 0;

  function say(text, problem = false) {
    hint.hidden = !text;
    hint.textContent = text || "";
    hint.classList.toggle("is-problem", problem);
  }

  function setWriting(language) {
    state.writing = language;
    writingIn.hidden = language === agentLanguage;
    writingIn.textContent = fill(messages.writing_in, { language: names(language) });
  }

  function showPreview(text) {
    sent.value = text;
    preview.hidden = false;
    state.previewFor = body.value.trim();
  }

  function clearPreview() {
    sent.value = "";
    preview.hidden = true;
    state.previewFor = null;
    state.staleWarned = null;
  }

  const mode = () => form.dataset.mode;
  const needsTranslation = () => mode() === "reply" && state.writing !== buyerLanguage;

  function setMode(next) {
    form.dataset.mode = next;
    for (const tab of form.querySelectorAll("[data-mode-tab]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.modeTab === next));
    }
    body.placeholder = next === "note" ? body.dataset.placeholderNote : body.dataset.placeholderReply;
    say("");
  }

  async function translate() {
    const text = body.value.trim();
    if (!text) {
      say(messages.empty, true);
      body.focus();
      return false;
    }
    say(messages.translating);
    const result = await api("POST", "/translate", { text, source: state.writing, target: buyerLanguage });
    if (result.ok) {
      state.failed = false;
      showPreview(result.data.text);
      say(messages.check_preview);
      return true;
    }
    state.failed = result.status === 503;
    say(result.status === 503 ? fill(messages.translate_failed, { reason: result.message }) : fill(messages.failed, { reason: result.message }), true);
    return false;
  }

  async function send(statusAfter) {
    if (state.sending) return;
    const text = body.value.trim();
    if (!text && !attachments.size) {
      say(messages.empty, true);
      body.focus();
      return;
    }
    const payload = { body: text, language: state.writing, internal: mode() === "note", attachment_ids: [...attachments.keys()] };
    if (mode() === "note") {
      payload.status_after = null;
      payload.language = agentLanguage;
    } else {
      payload.status_after = statusAfter;
      if (needsTranslation() && text && !state.failed) {
        if (preview.hidden) {
          await translate(); // the agent checks the preview, then sends again
          return;
        }
        if (state.previewFor !== text && state.staleWarned !== text) {
          state.staleWarned = text;
          say(messages.stale_preview, true);
          return;
        }
      }
      if (needsTranslation() && !preview.hidden && sent.value.trim()) payload.sent_body = sent.value.trim();
    }
    state.sending = true;
    say(messages.sending);
    const result = await api("POST", `/tickets/${ticketId}/replies`, payload);
    state.sending = false;
    if (!result.ok) {
      say(fill(messages.failed, { reason: result.message }), true);
      return;
    }
    const wasNote = mode() === "note";
    body.value = "";
    clearPreview();
    setWriting(agentLanguage);
    attachments.clear();
    files.replaceChildren();
    state.failed = false;
    say(wasNote ? messages.note_saved : messages.sent);
    afterSend();
  }

  async function insertMacro(macroId) {
    const result = await api("GET", `/tickets/${ticketId}/macros/${macroId}`);
    if (!result.ok) {
      say(fill(messages.failed, { reason: result.message }), true);
      return;
    }
    const { text, language } = result.data;
    if (language === agentLanguage) {
      insertAtCursor(body, text);
      return;
    }
    if (language === buyerLanguage && form.dataset.translationConfigured === "true") {
      // The macro already speaks the buyer's language: it is the preview; the agent reads it in theirs.
      const back = await api("POST", "/translate", { text, source: language, target: agentLanguage });
      if (back.ok) {
        body.value = back.data.text;
        setWriting(agentLanguage);
        showPreview(text);
        say(messages.check_preview);
        return;
      }
    }
    body.value = text;
    setWriting(language);
    clearPreview();
  }

  async function attach(file) {
    say(fill(messages.uploading, { name: file.name }));
    const data = new FormData();
    data.append("ticket_id", String(ticketId));
    data.append("file", file);
    const result = await api("POST", "/attachments", data);
    if (!result.ok) {
      say(fill(messages.failed, { reason: result.message }), true);
      return;
    }
    attachments.set(result.data.id, result.data.filename);
    const item = document.createElement("li");
    item.className = "chip";
    const name = document.createElement("span");
    name.textContent = result.data.filename;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", messages.remove);
    remove.addEventListener("click", () => {
      attachments.delete(result.data.id);
      item.remove();
    });
    item.append(name, remove);
    files.append(item);
    say("");
  }

  form.addEventListener("click", (event) => {
    const tab = event.target.closest("[data-mode-tab]");
    if (tab) setMode(tab.dataset.modeTab);
    if (event.target.closest("[data-translate]")) translate();
    const handle = event.target.closest("[data-mention]");
    if (handle) insertAtCursor(body, `@${handle.dataset.mention} `);
    if (event.target.closest("[data-send-menu]")) {
      menu.hidden = !menu.hidden;
      menuButton.setAttribute("aria-expanded", String(!menu.hidden));
      if (!menu.hidden) menu.querySelector("button").focus();
    }
    const option = event.target.closest("[data-send-as]");
    if (option) {
      menu.hidden = true;
      menuButton.setAttribute("aria-expanded", "false");
      send(option.dataset.sendAs);
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(event.submitter && event.submitter.dataset.send ? event.submitter.dataset.send : "pending_customer");
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send(form.querySelector("[data-send]") ? form.querySelector("[data-send]").dataset.send : "pending_customer");
    } else if (event.key === "Escape" && !menu.hidden) {
      menu.hidden = true;
      menuButton.setAttribute("aria-expanded", "false");
      menuButton.focus();
    }
  });
  body.addEventListener("input", () => {
    if (!body.value.trim()) setWriting(agentLanguage);
    if (mode() !== "reply" || Date.now() - lastTyping < TYPING_EVERY_MS) return; // notes are not "typing" to the buyer
    lastTyping = Date.now();
    socket.send({ type: "typing", ticket_id: ticketId });
  });
  const macro = form.querySelector("[data-macro]");
  if (macro) {
    macro.addEventListener("change", () => {
      if (macro.value) insertMacro(macro.value);
      macro.value = "";
    });
  }
  form.querySelector("[data-attach]").addEventListener("change", async (event) => {
    for (const file of [...event.target.files]) await attach(file);
    event.target.value = "";
  });

  return {
    focus(next) {
      setMode(next);
      body.focus();
    },
    send: () => send("pending_customer"),
  };
}

function insertAtCursor(field, text) {
  const start = field.selectionStart ?? field.value.length;
  const end = field.selectionEnd ?? field.value.length;
  field.value = field.value.slice(0, start) + text + field.value.slice(end);
  field.selectionStart = field.selectionEnd = start + text.length;
  field.focus();
  field.dispatchEvent(new Event("input"));
}

function displayNames(locale) {
  try {
    const names = new Intl.DisplayNames([locale], { type: "language" });
    return (code) => names.of(code) || code;
  } catch {
    return (code) => code;
  }
}
