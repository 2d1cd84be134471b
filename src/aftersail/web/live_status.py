"""What the console's live-connection indicator says (`static/js/live-socket.js`), in the viewer's language.

Scripts get their strings from the page: each is translated here and `{name}` marks where the script puts a
value (a `%(name)s` placeholder filled with its own `{name}`).
"""

from __future__ import annotations

from aftersail.kit.i18n import N_
from aftersail.web.rendering import gettext_for

CONNECTION_LABELS = {
    "connecting": N_("Connecting…"),
    "live": N_("Live updates on"),
    "retrying": N_("Connection lost — retrying in %(seconds)s s"),
    "signed_out": N_("Signed out — reload the page to sign in again"),
}
SLOTS = {name: "{" + name + "}" for name in ("time", "sku", "warehouse", "count", "seconds")}


def script_text(locale: str, message: str) -> str:
    """`message` translated, its `%(name)s` placeholders left as `{name}` for the script."""
    return gettext_for(locale)(message) % SLOTS


def connection_labels(locale: str) -> dict[str, str]:
    return {state: script_text(locale, text) for state, text in CONNECTION_LABELS.items()}
