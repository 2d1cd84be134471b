// The message box: Enter sends, Shift+Enter starts a new line (and Enter while an input method is still
// composing — Chinese, Japanese, Korean — only confirms the characters), the box grows with its text, and
// "typing" is signalled at most every few seconds while the buyer writes.

const TYPING_EVERY_MS = 3000;
const MAX_ROWS_PX = 140;

export function wireComposer({ form, input, photoInput, onSend, onPhoto, onTyping }) {
  let lastTyping = 0;

  function grow() {
    // Typed text takes its own direction (Arabic in an English page, English in an Arabic one); the empty
    // box keeps the page's, so that the placeholder reads the right way.
    if (input.value.trim()) input.dir = "auto";
    else input.removeAttribute("dir");
    input.style.blockSize = "auto";
    input.style.blockSize = `${Math.min(input.scrollHeight, MAX_ROWS_PX)}px`;
  }

  function submit() {
    const body = input.value.trim();
    if (!body) return;
    input.value = "";
    grow();
    onSend(body);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    input.focus();
  });

  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    submit();
  });

  input.addEventListener("input", () => {
    grow();
    const now = Date.now();
    if (input.value.trim() && now - lastTyping > TYPING_EVERY_MS) {
      lastTyping = now;
      onTyping();
    }
  });

  photoInput.addEventListener("change", () => {
    const file = photoInput.files && photoInput.files[0];
    photoInput.value = ""; // the same photo may be chosen again after an error
    if (file) onPhoto(file);
  });
}
