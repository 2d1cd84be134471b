"""Pure rules of the e-mail channel: read an inbound e-mail into plain data, find the ticket a reply belongs
to, and build an outbound reply that threads in the buyer's mail client. No I/O: `email_transport` moves
the bytes and the ticket service decides what to do with them."""

from __future__ import annotations

import codecs
import email
import email.policy
import hashlib
import hmac
import html
import re
import secrets
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.policy import Policy
from email.utils import format_datetime, parseaddr
from html.parser import HTMLParser
from typing import Any, Literal

Kind = Literal["message", "auto_reply", "bounce", "malformed"]
Route = Literal["message_id", "reply_address", "subject"]

_POLICY = email.policy.default
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_SUBJECT_TOKEN = re.compile(r"\[#T(\d+)\]", re.IGNORECASE)
_PLUS_ADDRESS = re.compile(r"[^@+\s]+\+t(\d+)\.([0-9a-f]{8})@\S+", re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw|r|回复|答复|返信)\s*[:：]", re.IGNORECASE)
_MAX_ATTRIBUTION = 300  # longer lines are prose; the patterns would backtrack quadratically on them
_MAX_REFERENCES = 20  # the thread root plus the newest ids: enough for any client to thread
_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|fw|fwd|wg)\s*:\s*)*(?:automatic reply|auto[- ]?reply|auto[- ]?response|out of (?:the )?"
    r"office|abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|absence du bureau|"
    r"respuesta autom[áa]tica|fuera de la oficina|自动回复|自动答复|自動回覆|自動応答|自動返信|不在通知)",
    re.IGNORECASE,
)
# The defects after which content is lost or misplaced. A missing closing boundary is left out on
# purpose: the parts before it are intact, and many mailers that truncate a signature produce it.
_LOSSY_DEFECTS = {
    "StartBoundaryNotFoundDefect": "broken MIME structure: the declared boundary never appears",
    "NoBoundaryInMultipartDefect": "broken MIME structure: multipart without a boundary",
    "MultipartInvariantViolationDefect": "broken MIME structure: multipart body is not in parts",
    "MissingHeaderBodySeparatorDefect": "headers run into the body (no blank line between them)",
    "InvalidBase64CharactersDefect": "base64 content has invalid characters",
    "InvalidBase64LengthDefect": "base64 content is truncated",
}
# Senders label mail with a base charset but write characters only its superset has; reading with the
# superset is what every mail client and the WHATWG Encoding standard do.
_CHARSET_SUPERSETS = {
    "iso8859-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ascii": "utf-8",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
}


@dataclass(frozen=True)
class EmailAttachment:
    filename: str
    content_type: str
    content: bytes = field(repr=False)  # megabytes of it would drown a log line


@dataclass(frozen=True)
class ParsedEmail:
    """An inbound e-mail as plain data. Message ids keep their angle brackets, as they go in headers.

    `kind` is "malformed" when `problems` is not empty, unless it is a bounce or an auto-reply: those two
    must never be answered, which matters more than a defect in how they were written."""

    kind: Kind = "malformed"
    from_address: str = ""
    from_name: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: str = ""
    subject: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    date: datetime | None = None
    text: str = ""
    reply_text: str = ""
    attachments: list[EmailAttachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kind_reason: str = ""  # the header or subject that made it an auto-reply or a bounce
    bounced_message_id: str = ""  # for bounces: the Message-ID of our e-mail that did not arrive
    failed_recipient: str = ""


@dataclass(frozen=True)
class TicketReference:
    """Which ticket a reply names, and how. Only "reply_address" is proof; the caller should confirm a
    "message_id" against the ids it sent and a "subject" token against the ticket's customer."""

    ticket_id: int
    route: Route
    evidence: str


def parse_email(raw: bytes) -> ParsedEmail:
    """Read an inbound e-mail. Never raises: whatever cannot be read is listed in `problems`.

    Linear in the size of the e-mail but CPU-bound (a 25 MB HTML body takes seconds), so code on the event
    loop should call it through `asyncio.to_thread`."""
    try:
        return _parse(raw)
    except Exception as exc:  # a corner of the email package we did not foresee must not lose the e-mail
        return ParsedEmail(problems=[f"unparseable e-mail ({type(exc).__name__}: {exc})"])


def _parse(raw: bytes) -> ParsedEmail:
    msg = email.message_from_bytes(raw, policy=_POLICY)
    problems: list[str] = []
    charset_hint = _first_text_charset(msg)

    senders = _addresses(msg, "From", problems)
    from_name, from_address = senders[0] if senders else ("", "")
    if "\ufffd" in from_name:
        from_name = parseaddr(_raw_header(raw, "From", charset_hint))[0] or from_name
    if not from_address:
        problems.append("missing From address" if "From" not in msg else "From has no usable address")
    subject = _header(msg, "Subject", problems)
    if "\ufffd" in subject:
        subject = _raw_header(raw, "Subject", charset_hint) or subject
    # Every header is read before the kind is decided, so that its problems count.
    in_reply_to = _message_ids(_header(msg, "In-Reply-To", problems))
    references = _message_ids(_header(msg, "References", problems))
    message_id = next(iter(_message_ids(_header(msg, "Message-ID", problems))), "")
    to = [address for _, address in _addresses(msg, "To", problems)]
    cc = [address for _, address in _addresses(msg, "Cc", problems)]
    reply_to = next((address for _, address in _addresses(msg, "Reply-To", problems)), "")

    body_part = _body_part(msg)
    text = ""
    if body_part is not None:
        text = _decode_text(body_part, problems)
        if body_part.get_content_subtype() == "html":
            text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\x00", "").strip()
    attachments = list(_attachments(msg, body_part))
    for part in msg.walk():
        problems.extend(_LOSSY_DEFECTS[d] for d in _defect_names(part) if d in _LOSSY_DEFECTS)
    if not text and not subject and not attachments:
        # A subject-only e-mail is a real question typed on a phone; one with nothing at all is not.
        problems.append("no body, subject or attachment")

    kind, reason = _classify(msg, from_address, subject)
    bounced_id, failed = _bounce_details(msg, text) if kind == "bounce" else ("", "")
    return ParsedEmail(
        kind="malformed" if kind == "message" and problems else kind,
        from_address=from_address,
        from_name=_one_line(from_name),
        to=to,
        cc=cc,
        reply_to=reply_to,
        subject=_one_line(subject),
        message_id=message_id,
        in_reply_to=in_reply_to[0] if in_reply_to else "",
        references=references,
        date=_date(msg),
        text=text,
        reply_text=strip_quoted(text),
        attachments=attachments,
        problems=list(dict.fromkeys(problems)),
        kind_reason=reason,
        bounced_message_id=bounced_id,
        failed_recipient=failed,
    )


def _header(msg: Message, name: str, problems: list[str]) -> str:
    try:
        value = msg.get(name)
        return "" if value is None else _clean(str(value))
    except Exception:  # the stdlib header parser has raised on hostile input before
        problems.append(f"unreadable {name} header")
        return ""


def _addresses(msg: Message, name: str, problems: list[str]) -> list[tuple[str, str]]:
    try:
        header = msg.get(name)
        found = getattr(header, "addresses", ()) if header is not None else ()
        return [(_clean(a.display_name), _clean(a.addr_spec)) for a in found if "@" in a.addr_spec]
    except Exception:  # as above: a header the stdlib cannot parse is a problem, not a crash
        problems.append(f"unreadable {name} header")
        return []


def _raw_header(raw: bytes, name: str, charset_hint: str) -> str:
    """A header sent as raw 8-bit bytes (no RFC 2047), decoded with the body's charset as the hint.

    The stdlib only guesses UTF-8 for such bytes; Chinese mailers still send GB2312 subjects this way."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    match = re.search(rb"^" + name.encode() + rb"[ \t]*:[ \t]*(.*?)\r?$", unfolded, re.I | re.M)
    if match is None:
        return ""
    for charset in dict.fromkeys(("utf-8", charset_hint or "utf-8", "cp1252")):
        try:
            return _clean(match.group(1).decode(charset)).strip()
        except (UnicodeDecodeError, LookupError):
            continue
    return _clean(match.group(1).decode("latin-1")).strip()


def _message_ids(value: str) -> list[str]:
    found = _MESSAGE_ID.findall(value)
    if not found and value.strip() and len(value.split()) == 1:
        found = [f"<{value.strip()}>"]  # some mailers leave the brackets off; threading still needs them
    return list(dict.fromkeys(found))


def _date(msg: Message) -> datetime | None:
    try:
        return getattr(msg.get("Date"), "datetime", None)
    except Exception:  # an unparseable date is not worth a problem: we stamp our own receive time
        return None


def _clean(value: str) -> str:
    """Text safe to store: the stdlib hands raw 8-bit header bytes over as lone surrogates, which no
    UTF-8 encoder (nor the database) accepts. UTF-8 bytes come back as text, anything else as U+FFFD."""
    try:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\x00", "")


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _defect_names(part: Message) -> list[str]:
    return [type(defect).__name__ for defect in part.defects]


def _first_text_charset(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_maintype() == "text" and part.get_content_charset():
            return _charset(part.get_content_charset() or "") or ""
    return ""


def _charset(declared: str) -> str | None:
    """The codec to read a declared charset with, or None when Python knows no such charset."""
    try:
        name = codecs.lookup(declared.strip().strip('"')).name
    except (LookupError, ValueError):
        return None
    return _CHARSET_SUPERSETS.get(name, name)


def _body_part(msg: EmailMessage | Message) -> Message | None:
    body: Message | None = None
    if isinstance(msg, EmailMessage):
        try:
            body = msg.get_body(preferencelist=("plain", "html"))
        except Exception:  # a broken tree: fall through to the raw payload below
            body = None
    if body is None and not msg.is_multipart() and msg.get_content_maintype() in ("text", "multipart"):
        body = msg  # a multipart whose boundary never appears: its whole body is one string, keep it
    return body


def _decode_text(part: Message, problems: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    declared = part.get_content_charset() or ""
    codec = _charset(declared) if declared else "utf-8"
    if codec is None:
        problems.append(f"unknown charset {declared!r}")
    # cp1252 leaves five bytes undefined that Latin-1 reads as control characters: text all the same.
    candidates = [codec or "utf-8", "utf-8", *(["latin-1"] if codec == "cp1252" else [])]
    for candidate in dict.fromkeys(candidates):
        try:
            return payload.decode(candidate)
        except UnicodeDecodeError:
            continue
    problems.append(f"body is not valid {declared or 'UTF-8 (no charset given)'}")
    return payload.decode(codec or "utf-8", errors="replace")


def _attachments(msg: Message, body: Message | None) -> Iterator[EmailAttachment]:
    for number, part in enumerate(_leaves(msg), start=1):
        if part is body or part.get_content_type() in ("message/delivery-status", "text/rfc822-headers"):
            continue
        filename = part.get_filename() or ""
        maintype = part.get_content_maintype()
        if not filename and maintype == "text" and part.get_content_disposition() != "attachment":
            continue  # the other alternative of the body, or a bounce's explanation
        if maintype == "message":
            inner = part.get_payload(0) if part.is_multipart() else None
            content = inner.as_bytes() if isinstance(inner, Message) else b""
            filename = filename or f"message-{number}.eml"
        else:
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
        # The name is the buyer's to choose: keep only its last path component.
        name = _clean(re.split(r"[\\/]", filename)[-1]).strip() or f"attachment-{number}"
        yield EmailAttachment(filename=name, content_type=part.get_content_type(), content=content)


def _leaves(part: Message) -> Iterator[Message]:
    """The parts that are not containers; an attached e-mail is one leaf, not opened."""
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, Message):
                yield from _leaves(sub)
    else:
        yield part


def _classify(msg: Message, from_address: str, subject: str) -> tuple[Kind, str]:
    """Bounce before auto-reply: MTAs stamp `Auto-Submitted` on their bounces too."""
    local_part = from_address.rsplit("@", 1)[0].lower()
    report_type = str(msg.get_param("report-type", "") or "").lower()
    if msg.get_content_type() == "multipart/report" and report_type == "delivery-status":
        return "bounce", "Content-Type: multipart/report; report-type=delivery-status"
    if local_part in ("mailer-daemon", "postmaster"):
        return "bounce", f"From: {from_address}"
    if msg.get("X-Failed-Recipients") is not None:
        return "bounce", "X-Failed-Recipients"
    auto_submitted = str(msg.get("Auto-Submitted", "")).split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return "auto_reply", f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if msg.get(name) is not None:
            return "auto_reply", name
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in _AUTO_PRECEDENCE:
        return "auto_reply", f"Precedence: {precedence}"
    suppress = {v.strip().lower() for v in str(msg.get("X-Auto-Response-Suppress", "")).split(",")}
    if suppress & {"all", "oof"}:
        return "auto_reply", "X-Auto-Response-Suppress"
    if _AUTO_SUBJECT.match(subject):
        return "auto_reply", f"Subject: {subject}"
    # RFC 3834 asks auto-responders to send from the null path too, so it only means bounce when no
    # auto-reply sign was found above.
    if str(msg.get("Return-Path", "")).strip() == "<>":
        return "bounce", "Return-Path: <>"
    return "message", ""


def _bounce_details(msg: Message, text: str) -> tuple[str, str]:
    """The Message-ID of the e-mail that bounced and the recipient that failed, where the report says."""
    failed = next(iter(_message_ids(str(msg.get("X-Failed-Recipients", "")).split(",")[0])), "")[1:-1]
    original = ""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status" and part.is_multipart():
            for block in part.get_payload():
                if not isinstance(block, Message):
                    continue
                recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
                failed = failed or recipient.split(";", 1)[-1].strip().strip("<>")
        elif ctype == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message):
                original = original or str(inner.get("Message-ID", "")).strip()
        elif ctype == "text/rfc822-headers":
            headers = HeaderParser(policy=_POLICY).parsestr(str(part.get_payload(decode=False)))
            original = original or str(headers.get("Message-ID", "")).strip()
    if not original:  # bounces that are not RFC 3464 reports often quote the original headers inline
        found = re.search(r"^[ \t]*Message-ID:[ \t]*(<[^<>\s]+>)", text, re.IGNORECASE | re.MULTILINE)
        original = found.group(1) if found else ""
    return original, failed


_ATTRIBUTIONS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"on\b.+\bwrote\s*:",
        r"am\b.+\bschrieb\b.*:",
        r"le\b.+\ba [ée]crit\s*:",
        r"el\b.+\bescribi[óo]\s*:",
        r".+写道\s*[:：]",
        r".+(?:書きました|のメッセージ)\s*[:：]",
    )
]
_SEPARATOR = re.compile(
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original|原始邮件|"
    r"元のメッセージ)\s*-{2,}",
    re.IGNORECASE,
)
# One class for the space and bold marks between label and colon: two adjacent `\s*` would backtrack
# quadratically on a long run of spaces.
_OUTLOOK_FROM = re.compile(r"\*?(?:from|von|de|发件人|差出人)[\s*]*[:：].*", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(
    r"\*?(?:sent|date|gesendet|envoyé|enviado|发送时间|日期|送信日時)[\s*]*[:：].*", re.I
)


def strip_quoted(text: str) -> str:
    """The new part of a reply: quoted lines and attributions dropped, and everything below an Outlook
    header block or an "Original Message" separator cut, since clients put the whole history there."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if _SEPARATOR.fullmatch(line) or _outlook_header_at(lines, index):
            break
        if re.fullmatch(r"_{10,}", line) and _outlook_header_at(lines, _next_filled(lines, index + 1)):
            break
        span = _attribution_span(lines, index)
        if span:
            following = _next_filled(lines, index + span)
            if following < len(lines) and not lines[following].lstrip().startswith(">"):
                break  # history pasted below without ">" marks: nothing after it is new
            index += span
            continue
        if not line.startswith(">"):
            kept.append(lines[index].rstrip())
        index += 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _next_filled(lines: list[str], start: int) -> int:
    return next((i for i in range(start, len(lines)) if lines[i].strip()), len(lines))


def _attribution_span(lines: list[str], index: int) -> int:
    """1 or 2 when an "On ... wrote:" line (clients wrap long ones) starts here, else 0."""
    line = lines[index].strip()
    if len(line) > _MAX_ATTRIBUTION:
        return 0
    joined = f"{line} {lines[index + 1].strip()}" if index + 1 < len(lines) else line
    for span, candidate in ((1, line), (2, joined)):
        if (
            line
            and len(candidate) <= 2 * _MAX_ATTRIBUTION
            and any(p.fullmatch(candidate) for p in _ATTRIBUTIONS)
        ):
            return span
    return 0


def _outlook_header_at(lines: list[str], index: int) -> bool:
    if index >= len(lines) or not _OUTLOOK_FROM.fullmatch(lines[index].strip()):
        return False
    return any(_OUTLOOK_SENT.fullmatch(line.strip()) for line in lines[index + 1 : index + 4])


class _HtmlText(HTMLParser):
    """HTML to plain text: scripts, styles and the head dropped, blocks on their own lines, and quoted
    history (`<blockquote>`, Gmail's and Yahoo's quote divs) prefixed with "> " so `strip_quoted` sees it."""

    SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg"})
    BLOCKS = frozenset(
        {"address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "footer", "form", "h1", "h2"}
        | {"h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table"}
        | {"tr", "ul"}
    )
    VOID = frozenset(
        {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
    )

    MAX_QUOTE_MARKS = 8  # deeper quotes keep 8 marks: the text must not grow with a hostile nesting depth

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._words: list[str] = []
        # The open elements, with counts kept alongside so that no event scans the stack: unclosed tags
        # in a hostile e-mail would otherwise make the conversion quadratic.
        self._open: list[tuple[str, bool]] = []  # tag, starts a quote
        self._counts: Counter[str] = Counter()
        self._quotes = 0
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":  # a <head> or <title> left open must not swallow the body
            while self._open and self._open[-1][0] != "html":
                self._pop()
        if tag in self.BLOCKS or tag == "br":
            self._flush(blank=tag in ("br", "p"))
        if tag in self.VOID:
            return
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        quote = tag == "blockquote" or "gmail_quote" in classes or "yahoo_quoted" in classes
        self._open.append((tag, quote))
        self._counts[tag] += 1
        self._quotes += quote
        self._skipping += tag in self.SKIP
        if tag == "li":
            self._words.append("- ")
        elif tag in ("td", "th"):
            self._words.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if not self._counts[tag]:
            return  # a stray end tag closes nothing
        if tag in self.BLOCKS:
            self._flush(blank=tag == "p")
        while self._open and self._pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._words.append(data)

    def _pop(self) -> str:
        tag, quote = self._open.pop()
        self._counts[tag] -= 1
        self._quotes -= quote
        self._skipping -= tag in self.SKIP
        return tag

    def _flush(self, *, blank: bool = False) -> None:
        line = " ".join("".join(self._words).split())
        self._words = []
        if line:
            self.lines.append("> " * min(self._quotes, self.MAX_QUOTE_MARKS) + line)
        elif blank and self.lines and self.lines[-1]:
            self.lines.append("")


def html_to_text(markup: str) -> str:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    parser._flush()
    return "\n".join(parser.lines).strip()


def reply_address(mailbox: str, ticket_id: int, secret: bytes) -> str:
    """`support@shop.example` -> `support+t123.<hmac8>@shop.example`: replies to it prove their ticket."""
    local, at, domain = mailbox.rpartition("@")
    if not at or not local:
        raise ValueError(f"Expected a mailbox like support@example.com, got {mailbox!r}")
    return f"{local.split('+')[0]}+t{ticket_id}.{_reply_tag(ticket_id, secret)}@{domain}"


def _reply_tag(ticket_id: int, secret: bytes) -> str:
    # The prefix keeps this MAC apart from anything else the same secret signs.
    signed = f"aftersail.reply-address:{ticket_id}".encode()
    return hmac.new(secret, signed, hashlib.sha256).hexdigest()[:8]


def ticket_reference(parsed: ParsedEmail, *, domain: str, secret: bytes) -> TicketReference | None:
    """The ticket a reply names: our Message-ID in its threading headers, then a signed reply address in
    To/Cc, then a `[#T123]` token in the subject. A plus address with a wrong MAC is ignored."""
    ours = re.compile(rf"<ticket-(\d+)-msg-[^@<>\s]+@{re.escape(domain)}>", re.IGNORECASE)
    for message_id in [parsed.in_reply_to, *reversed(parsed.references)]:
        if found := ours.fullmatch(message_id):
            return TicketReference(int(found.group(1)), "message_id", message_id)
    for address in [*parsed.to, *parsed.cc]:
        found = _PLUS_ADDRESS.fullmatch(address)
        if found and hmac.compare_digest(_reply_tag(int(found.group(1)), secret), found.group(2).lower()):
            return TicketReference(int(found.group(1)), "reply_address", address)
    if found := _SUBJECT_TOKEN.search(parsed.subject):
        return TicketReference(int(found.group(1)), "subject", found.group(0))
    return None


class _ThreadingHeader(BaseHeader):
    """In-Reply-To and References, folded between message ids and never RFC 2047-encoded.

    The stdlib treats them as free text and encodes an id longer than a line (Outlook's run to 85 characters)
    as an encoded-word, which no mail client reads as an id: the reply would fall out of its thread."""

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        kwds["decoded"] = " ".join(value.split())
        kwds["parse_tree"] = None

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: " + f"{policy.linesep} ".join(str(self).split()) + policy.linesep


_REGISTRY = HeaderRegistry()
_REGISTRY.map_to_type("in-reply-to", _ThreadingHeader)
_REGISTRY.map_to_type("references", _ThreadingHeader)
# 7bit makes set_content pick quoted-printable or base64, so the message passes relays without 8BITMIME.
_OUTBOUND_POLICY = email.policy.default.clone(cte_type="7bit", header_factory=_REGISTRY)


def reply_subject(subject: str, ticket_id: int, *, is_reply: bool = True) -> str:
    """`Re: ` once (a German `AW:` counts), and the `[#T123]` token once."""
    subject = _one_line(subject)
    if is_reply and not _REPLY_PREFIX.match(subject):
        subject = f"Re: {subject}"
    token = f"[#T{ticket_id}]"
    return subject if token.lower() in subject.lower() else f"{subject} {token}".strip()


def thread_references(references: Sequence[str], in_reply_to: str) -> list[str]:
    """RFC 5322 References for a reply: the parent's references, then the parent itself. Long threads keep
    the root and the newest ids, which is what clients use to place a message."""
    valid = [r for r in references if _MESSAGE_ID.fullmatch(r)]
    ids = list(dict.fromkeys([r for r in valid if r != in_reply_to] + ([in_reply_to] if in_reply_to else [])))
    return ids if len(ids) <= _MAX_REFERENCES else [ids[0], *ids[-(_MAX_REFERENCES - 1) :]]


def build_email(
    *,
    ticket_id: int,
    message_id: int,
    domain: str,
    from_address: str,
    from_name: str,
    to_address: str,
    to_name: str = "",
    subject: str,
    text: str,
    sent_at: datetime,
    secret: bytes,
    in_reply_to: str = "",
    references: Sequence[str] = (),
    reply_mailbox: str | None = None,
    auto_submitted: bool = False,
    attachments: Sequence[EmailAttachment] = (),
    nonce: str | None = None,
) -> EmailMessage:
    """An outbound reply on a ticket, threaded under the buyer's message `in_reply_to`.

    `auto_submitted` marks automatic acknowledgements (RFC 3834) so that well-behaved responders stay
    quiet; `reply_mailbox` (default `from_address`) is where the signed Reply-To address lives."""
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware: a Date header without an offset is ambiguous")
    parent = next(iter(_message_ids(in_reply_to)), "")
    msg = EmailMessage(policy=_OUTBOUND_POLICY)
    msg["From"] = Address(display_name=_one_line(from_name), addr_spec=from_address)
    msg["To"] = Address(display_name=_one_line(to_name), addr_spec=to_address)
    reply_to = reply_address(reply_mailbox or from_address, ticket_id, secret)
    msg["Reply-To"] = Address(display_name=_one_line(from_name), addr_spec=reply_to)
    msg["Subject"] = reply_subject(subject, ticket_id, is_reply=bool(parent))
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = f"<ticket-{ticket_id}-msg-{message_id}.{nonce or secrets.token_hex(8)}@{domain}>"
    if parent:
        msg["In-Reply-To"] = parent
        msg["References"] = " ".join(thread_references(references, parent))
    if auto_submitted:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"  # keeps Exchange out-of-office replies from looping back
    msg.set_content(text)
    msg.add_alternative(_text_to_html(text), subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(
            attachment.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return msg


def _text_to_html(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "\n".join(
        '<p dir="auto">' + "<br>\n".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n{body}\n</body></html>\n'
