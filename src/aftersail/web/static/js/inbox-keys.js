// Keyboard shortcuts of the inbox (listed in the "?" dialog, templates/console/inbox_help.html):
// j/k next/previous ticket, r reply, n note, e resolve, a assign to me, x tick for bulk, / search,
// g i inbox, ? help. Ctrl/⌘+Enter (send) lives in the composer. Keys typed into a field are the field's.

const SEQUENCE_MS = 1200;

function typing(target) {
  return target.closest("input, textarea, select, [contenteditable='true']") !== null;
}

export function bindKeys({ help, search, actions }) {
  let pendingG = 0;

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "Escape" && typing(event.target)) {
      event.target.blur();
      return;
    }
    if (typing(event.target) || (help.open && event.key !== "?")) return;
    const key = event.key;
    if (pendingG && Date.now() - pendingG < SEQUENCE_MS && key === "i") {
      pendingG = 0;
      event.preventDefault();
      actions.inbox();
      return;
    }
    pendingG = key === "g" ? Date.now() : 0;
    const handlers = {
      j: () => actions.step(1),
      k: () => actions.step(-1),
      r: () => actions.compose("reply"),
      n: () => actions.compose("note"),
      e: () => actions.resolve(),
      a: () => actions.assignToMe(),
      x: () => actions.toggleSelected(),
      "/": () => search && (search.focus(), search.select()),
      "?": () => (help.open ? help.close() : help.showModal()),
    };
    if (handlers[key]) {
      event.preventDefault();
      handlers[key]();
    }
  });
}
