"""Rules of the e-mail channel: reading inbound e-mail (charsets, quoted replies, auto-replies, bounces,
malformed input), finding the ticket a reply belongs to, and the threading headers of outbound replies.
Every fixture below was written for these tests."""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import quopri
import random
import time
from datetime import UTC, datetime
from email.header import Header

import pytest

from aftersail.support.email_rules import (
    EmailAttachment,
    ParsedEmail,
    build_email,
    html_to_text,
    parse_email,
    reply_address,
    reply_subject,
    strip_quoted,
    thread_references,
    ticket_reference,
)

SECRET = b"unit-test-secret"
DOMAIN = "mail.aftersail.test"


def eml(headers: str, body: bytes | str = "Hello\n") -> bytes:
    """A raw e-mail with CRLF line ends, as it comes off the wire."""
    head = headers.strip("\n").replace("\n", "\r\n").encode()
    data = body.encode() if isinstance(body, str) else body
    return head + b"\r\n\r\n" + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


BASIC = """From: "Doe, Jane" <jane.doe@buyers.test>
To: Support <support@shop.test>, other@shop.test
Cc: partner@buyers.test
Subject: Where is my parcel?
Date: Mon, 03 Jun 2024 10:15:00 +0200
Message-ID: <CAF1234@mail.buyers.test>
In-Reply-To: <ticket-7-msg-1.ab12@mail.aftersail.test>
References: <root@buyers.test>
 <ticket-7-msg-1.ab12@mail.aftersail.test>
Content-Type: text/plain; charset=utf-8"""


def test_plain_message_fields() -> None:
    parsed = parse_email(eml(BASIC, "Hi, order 1001 has not arrived.\n"))

    assert parsed.kind == "message"
    assert parsed.problems == []
    assert (parsed.from_name, parsed.from_address) == ("Doe, Jane", "jane.doe@buyers.test")
    assert parsed.to == ["support@shop.test", "other@shop.test"]
    assert parsed.cc == ["partner@buyers.test"]
    assert parsed.subject == "Where is my parcel?"
    assert parsed.message_id == "<CAF1234@mail.buyers.test>"
    assert parsed.in_reply_to == "<ticket-7-msg-1.ab12@mail.aftersail.test>"
    assert parsed.references == ["<root@buyers.test>", "<ticket-7-msg-1.ab12@mail.aftersail.test>"]
    assert parsed.date == datetime(2024, 6, 3, 8, 15, tzinfo=UTC)
    assert parsed.text == parsed.reply_text == "Hi, order 1001 has not arrived."


ALTERNATIVE = """From: jane@buyers.test
Subject: Return
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

I want to return the blue jacket.
--alt
Content-Type: text/html; charset=utf-8

<p>I want to return the <b>blue</b> jacket (HTML).</p>
--alt--
"""


def test_multipart_alternative_prefers_plain_text() -> None:
    parsed = parse_email(eml(ALTERNATIVE, ""))
    assert parsed.text == "I want to return the blue jacket."
    assert parsed.attachments == []
    assert parsed.kind == "message"


HTML_ONLY = """<html><head><title>Mail</title><style>p { color: red }</style></head>
<body><div dir="ltr">Hi &amp; hello,<div><br></div><div>Parcel <b>#1001</b> is &lt;missing&gt;.</div>
<script>document.location = "https://evil.test"</script><ul><li>blue jacket</li><li>red scarf</li></ul></div>
<div class="gmail_quote"><div class="gmail_attr">On Mon, 3 Jun 2024, Shop &lt;s@shop.test&gt; wrote:</div>
<blockquote class="gmail_quote">Your parcel has shipped.<br>Kind regards</blockquote></div></body></html>"""


def test_html_only_message_is_converted_and_its_gmail_quote_stripped() -> None:
    parsed = parse_email(eml("From: jane@buyers.test\nSubject: Parcel\nContent-Type: text/html", HTML_ONLY))

    assert "evil.test" not in parsed.text and "color: red" not in parsed.text
    assert parsed.text.startswith("Hi & hello,\n\nParcel #1001 is <missing>.\n- blue jacket\n- red scarf")
    assert "> > Your parcel has shipped." in parsed.text
    assert parsed.reply_text == "Hi & hello,\n\nParcel #1001 is <missing>.\n- blue jacket\n- red scarf"


def test_html_with_an_unclosed_head_keeps_the_body() -> None:
    assert html_to_text("<html><head><title>x<body><p>Body text</p>") == "Body text"


@pytest.mark.parametrize(
    ("charset", "encoding", "subject", "body"),
    [
        ("iso-8859-1", "quoted-printable", "Rücksendung für Bestellung 1001", "Grüße aus Köln, Jörg Weiß"),
        ("gb2312", "base64", "我的包裹在哪里？", "你好，我的订单1001还没有到。谢谢！"),
        ("utf-8", "8bit", "أين طلبي؟", "مرحبا، لم يصل طلبي رقم 1001 بعد."),
        ("utf-8", "base64", "Заказ 1001 — 返品", "Здравствуйте! 日本語も。"),
        ("windows-1252", "8bit", "Preis 20 € – zu teuer", "Der Preis war 20 € „zu hoch“."),
    ],
)
def test_non_ascii_subjects_and_bodies(charset: str, encoding: str, subject: str, body: str) -> None:
    data = body.encode(charset)
    if encoding == "base64":
        payload = base64.encodebytes(data)
    elif encoding == "quoted-printable":
        payload = quopri.encodestring(data)
    else:
        payload = data
    headers = (
        f"From: {Header('Jörg 李', 'utf-8').encode()} <buyer@buyers.test>\n"
        f"Subject: {Header(subject, charset).encode()}\n"
        f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: {encoding}"
    )
    parsed = parse_email(eml(headers, payload))

    assert parsed.problems == []
    assert parsed.subject == subject
    assert parsed.text == body
    assert parsed.from_name == "Jörg 李"


def test_latin1_label_reads_windows_1252_characters() -> None:
    raw = eml(
        "From: a@buyers.test\nContent-Type: text/plain; charset=iso-8859-1", "20 \x80".encode("latin-1")
    )
    assert parse_email(raw).text == "20 €"


def test_raw_8bit_gb2312_subject_is_read_with_the_body_charset() -> None:
    head = "Subject: 退货申请\nFrom: 李伟 <li@buyers.test>\nContent-Type: text/plain; charset=gb2312\n"
    raw = head.replace("\n", "\r\n").encode("gb2312") + b"\r\n" + "请退款".encode("gb2312")
    parsed = parse_email(raw)
    assert (parsed.subject, parsed.from_name, parsed.text) == ("退货申请", "李伟", "请退款")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Thanks, got it!\n\nOn Mon, Jun 3, 2024 at 10:00 AM Shop Support <support@shop.test> wrote:\n"
            "> Your parcel has shipped.\n> Regards",
            "Thanks, got it!",
        ),
        (
            "Still nothing.\n\nOn Mon, Jun 3, 2024 at 10:00 AM Shop <\nsupport@shop.test> wrote:\n\n> old",
            "Still nothing.",
        ),
        (
            "Danke!\n\nAm 03.06.2024 um 10:00 schrieb Shop <support@shop.test>:\n> Ihr Paket ist unterwegs.",
            "Danke!",
        ),
        ("Merci.\n\nLe lun. 3 juin 2024 à 10:00, Shop <support@shop.test> a écrit :\n> Expédié.", "Merci."),
        (
            "Gracias.\n\nEl lun, 3 jun 2024 a las 10:00, Shop (<s@shop.test>) escribió:\n> Enviado.",
            "Gracias.",
        ),
        (
            "收到，谢谢。\n\n在 2024年6月3日 10:00，客服 <support@shop.test> 写道：\n> 已发货。",
            "收到，谢谢。",
        ),
        ("好的\n\n------------------ 原始邮件 ------------------\n发件人: 客服\n已发货", "好的"),
        (
            "Refund.\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\nSubject: Order\n\nShipped.",
            "Refund.",
        ),
        (
            "I'll wait.\n\n________________________________\nFrom: Shop Support <support@shop.test>\n"
            "Sent: Monday, June 3, 2024 10:00\nTo: Jane\nSubject: RE: Order 1001\n\nYour parcel shipped.",
            "I'll wait.",
        ),
        (
            "Wie besprochen.\n\nVon: Shop Support <support@shop.test>\nGesendet: Montag, 3. Juni 2024\n"
            "An: Jane\nBetreff: Bestellung\n\nAlt.",
            "Wie besprochen.",
        ),
        (  # bottom-posted: the answer under the quote is the new part
            "On Mon, 3 Jun 2024, Shop wrote:\n> Which size do you want?\n\nSize M, please.",
            "Size M, please.",
        ),
        (  # interleaved answers keep every new line
            "> Which colour?\nBlue.\n> Which size?\nM.",
            "Blue.\nM.",
        ),
        (  # attribution followed by unmarked history: everything below it is old
            "Ok.\n\nOn Mon, 3 Jun 2024 Shop wrote:\n\nYour parcel shipped.",
            "Ok.",
        ),
        (  # a "From:" line in the buyer's own words is not an Outlook header
            "From: my neighbour I heard the parcel was left outside.\nPlease check.",
            "From: my neighbour I heard the parcel was left outside.\nPlease check.",
        ),
    ],
)
def test_strip_quoted(text: str, expected: str) -> None:
    assert strip_quoted(text) == expected


AUTO_HEADERS = [
    "Auto-Submitted: auto-replied",
    "Auto-Submitted: auto-generated; owner-email=x@y.test",
    "X-Autoreply: yes",
    "X-Autorespond: Out of office",
    "Precedence: bulk",
    "Precedence: junk",
    "Precedence: list",
    "Precedence: auto_reply",
    "X-Auto-Response-Suppress: All",
    "X-Auto-Response-Suppress: DR, OOF, AutoReply",
]
AUTO_SUBJECTS = [
    "Automatic reply: Where is my parcel?",
    "Out of Office: Re: Order 1001",
    "Abwesenheitsnotiz: Ihre Anfrage",
    "Automatische Antwort: Bestellung",
    "Réponse automatique : Commande",
    "Respuesta automática: Pedido",
    "自动回复: 订单",
    "自動応答: ご注文",
    "AW: Auto-Reply: order",
]


@pytest.mark.parametrize("header", AUTO_HEADERS)
def test_auto_reply_headers(header: str) -> None:
    parsed = parse_email(eml(f"From: jane@buyers.test\nSubject: Order\n{header}", "I am away.\n"))
    assert parsed.kind == "auto_reply"
    assert parsed.kind_reason


@pytest.mark.parametrize("subject", AUTO_SUBJECTS)
def test_auto_reply_subjects(subject: str) -> None:
    parsed = parse_email(eml(f"From: jane@buyers.test\nSubject: {Header(subject, 'utf-8').encode()}"))
    assert parsed.kind == "auto_reply"


@pytest.mark.parametrize(
    "header", ["Auto-Submitted: no", "Precedence: first-class", "X-Auto-Response-Suppress: DR"]
)
def test_not_auto_replies(header: str) -> None:
    assert parse_email(eml(f"From: jane@buyers.test\nSubject: Order\n{header}")).kind == "message"


DSN = """From: Mail Delivery System <MAILER-DAEMON@mx.shop.test>
To: support@shop.test
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

--dsn
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.shop.test

Final-Recipient: rfc822; gone@buyers.test
Action: failed
Status: 5.1.1
--dsn
Content-Type: message/rfc822

From: support@shop.test
To: gone@buyers.test
Subject: Re: Order 1001 [#T7]
Message-ID: <ticket-7-msg-2.cd34@mail.aftersail.test>

Your parcel shipped.
--dsn--
"""


def test_delivery_status_report_is_a_bounce_with_its_details() -> None:
    parsed = parse_email(eml(DSN, ""))
    assert parsed.kind == "bounce"
    assert parsed.bounced_message_id == "<ticket-7-msg-2.cd34@mail.aftersail.test>"
    assert parsed.failed_recipient == "gone@buyers.test"
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]


def test_headers_only_dsn_and_postmaster_sender() -> None:
    raw = eml(
        'From: postmaster@buyers.test\nSubject: failure\nContent-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nDelivery failed.\n--b\nContent-Type: text/rfc822-headers\n\n"
        "From: support@shop.test\nMessage-ID: <ticket-9-msg-1.x@mail.aftersail.test>\n--b--\n",
    )
    parsed = parse_email(raw)
    assert (parsed.kind, parsed.bounced_message_id) == ("bounce", "<ticket-9-msg-1.x@mail.aftersail.test>")


def test_exim_style_bounce_with_quoted_headers_in_the_text() -> None:
    body = "This message was created automatically.\n\n  gone@buyers.test\n\n------ original headers ------\n"
    body += "Message-ID: <ticket-3-msg-8.q@mail.aftersail.test>\nSubject: Re: Order\n"
    parsed = parse_email(
        eml("From: support@shop.test\nX-Failed-Recipients: gone@buyers.test\nSubject: x", body)
    )
    assert parsed.kind == "bounce"
    assert parsed.failed_recipient == "gone@buyers.test"
    assert parsed.bounced_message_id == "<ticket-3-msg-8.q@mail.aftersail.test>"


def test_null_return_path_is_a_bounce_unless_it_says_auto_reply() -> None:
    bounce = parse_email(eml("Return-Path: <>\nFrom: mx@buyers.test\nSubject: Returned mail"))
    auto = parse_email(
        eml("Return-Path: <>\nFrom: jane@buyers.test\nSubject: x\nAuto-Submitted: auto-replied")
    )
    assert (bounce.kind, auto.kind) == ("bounce", "auto_reply")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\x00\xff\xfe\x89PNG\r\n\x1a\n garbage \xc3\x28", "missing From"),
        (b"", "missing From"),
        (eml("To: support@shop.test\nSubject: hello"), "missing From"),
        (eml("From: not an address\nSubject: hi"), "From has no usable address"),
        (eml("From: <<<>>>\nSubject: hi"), "From has no usable address"),
        (eml("From: a@buyers.test", ""), "no body, subject or attachment"),
        (
            eml(
                'From: a@buyers.test\nContent-Type: multipart/mixed; boundary="XYZ"',
                "--ABC\n\nhello\n--ABC--\n",
            ),
            "broken MIME structure",
        ),
        (
            eml("From: a@buyers.test\nContent-Type: multipart/mixed", "no boundary here\n"),
            "broken MIME structure",
        ),
        (eml("From: a@buyers.test\nContent-Type: text/plain; charset=x-no-such-charset"), "unknown charset"),
        (
            eml("From: a@buyers.test\nContent-Type: text/plain; charset=utf-8", b"caf\xe9 \xff\xfe"),
            "not valid",
        ),
        (
            eml(
                "From: a@buyers.test\nContent-Type: text/plain\nContent-Transfer-Encoding: base64",
                "aGVsbG8=!!*\n",
            ),
            "base64",
        ),
        (
            b"From: a@buyers.test\r\nSubject: hi\r\nthis line is no header\r\n\r\nbody",
            "headers run into the body",
        ),
    ],
)
def test_malformed_messages_are_reported_not_raised(raw: bytes, problem: str) -> None:
    parsed = parse_email(raw)
    assert parsed.kind == "malformed"
    assert any(problem in p for p in parsed.problems), parsed.problems


def test_malformed_message_keeps_what_it_could_read() -> None:
    raw = eml(
        'From: a@buyers.test\nSubject: Hi\nContent-Type: multipart/mixed; boundary="XYZ"', "--ABC\nhi\n"
    )
    parsed = parse_email(raw)
    assert (parsed.kind, parsed.from_address, parsed.subject) == ("malformed", "a@buyers.test", "Hi")
    assert "hi" in parsed.text


def assert_storable(parsed: ParsedEmail) -> None:
    """Every text field encodes as UTF-8 without NUL, so the database takes it; and an e-mail with
    problems is never passed off as a good message."""
    if parsed.kind in ("message", "malformed"):
        assert (parsed.kind == "malformed") == bool(parsed.problems)
    for value in dataclasses.astuple(parsed):
        for text in value if isinstance(value, list | tuple) else [value]:
            if isinstance(text, str):
                assert "\x00" not in text
                text.encode("utf-8")


def test_random_bytes_never_raise_and_stay_storable() -> None:
    rng = random.Random(20240603)
    base = eml(BASIC, "Grüße 你好\n") + eml(ALTERNATIVE, "")
    for _ in range(300):
        mutated = bytearray(base)
        for _ in range(rng.randint(1, 40)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        assert_storable(parse_email(bytes(mutated[: rng.randrange(len(mutated))])))
        assert_storable(parse_email(rng.randbytes(rng.randint(0, 400))))


def test_raw_8bit_bytes_in_headers_come_back_storable() -> None:
    raw = b"From: \xff\xfe <a\xe9@buyers.test>\r\nSubject: \x81\x00x\r\nTo: b@buyers.test\r\n\r\nhi"
    parsed = parse_email(raw)
    assert_storable(parsed)
    assert parsed.subject.endswith("x")


def test_deeply_nested_mime_is_malformed_not_a_crash() -> None:
    depth = 3000
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{n}"\n\n--b{n}\n' for n in range(depth))
    parsed = parse_email(eml("From: a@buyers.test\nSubject: nest\n" + head, "x\n"))
    assert parsed.kind in ("message", "malformed")


@pytest.mark.parametrize(
    "raw",
    [
        eml("From: a@buyers.test\nSubject: x", "Am " + "schrieb " * 40_000 + "x\n"),
        eml("From: a@buyers.test\nSubject: x", "From" + " " * 200_000 + "x\nSent: now\n"),
        eml("From: MAILER-DAEMON@mx.test\nSubject: x", "\n" * 300_000 + "Message-ID x"),
        eml("From: a@buyers.test\nSubject: x\nContent-Type: text/html", "<b>x" * 100_000 + "</i>" * 100_000),
        eml("From: a@buyers.test\nSubject: x\nContent-Type: text/html", "<blockquote>" * 50_000 + "deep"),
    ],
)
def test_hostile_bodies_parse_in_linear_time(raw: bytes) -> None:
    started = time.perf_counter()
    parsed = parse_email(raw)
    assert time.perf_counter() - started < 3.0
    assert len(parsed.text) < 4 * len(raw)


def test_attachments_keep_bytes_and_lose_path_components() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    body = (
        "--m\nContent-Type: text/plain; charset=utf-8\n\nPhoto of the damage attached.\n"
        '--m\nContent-Type: image/png\nContent-Disposition: attachment; filename="../../etc/damage.png"\n'
        f"Content-Transfer-Encoding: base64\n\n{base64.b64encode(png).decode()}\n"
        "--m\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n--m--\n"
    )
    parsed = parse_email(
        eml('From: a@buyers.test\nSubject: Damage\nContent-Type: multipart/mixed; boundary="m"', body)
    )
    assert parsed.text == "Photo of the damage attached."
    assert [(a.filename, a.content_type, a.content) for a in parsed.attachments] == [
        ("damage.png", "image/png", png),
        ("attachment-3", "application/octet-stream", b"\x00\x01\x02"),
    ]
    assert "PNG" not in repr(parsed.attachments[0])


def outbound(**changes: object) -> bytes:
    options: dict[str, object] = {
        "ticket_id": 7,
        "message_id": 3,
        "domain": DOMAIN,
        "from_address": "support@shop.test",
        "from_name": "Müller Versand 客服",
        "to_address": "jane@buyers.test",
        "to_name": "جين دو",
        "subject": "Where is my parcel?",
        "text": "Hello <Jane>,\n\nit ships today & arrives soon.\n<script>alert(1)</script>",
        "sent_at": datetime(2024, 6, 3, 10, 0, tzinfo=UTC),
        "secret": SECRET,
        "in_reply_to": "<CAF1234@mail.buyers.test>",
        "references": ["<root@buyers.test>"],
        "nonce": "n0nce",
    }
    return build_email(**{**options, **changes}).as_bytes()  # type: ignore[arg-type]


def test_build_email_threads_under_the_buyers_message() -> None:
    raw = outbound()
    parsed = parse_email(raw)
    assert parsed.message_id == "<ticket-7-msg-3.n0nce@mail.aftersail.test>"
    assert parsed.in_reply_to == "<CAF1234@mail.buyers.test>"
    assert parsed.references == ["<root@buyers.test>", "<CAF1234@mail.buyers.test>"]
    assert parsed.subject == "Re: Where is my parcel? [#T7]"
    assert parsed.reply_to == reply_address("support@shop.test", 7, SECRET)
    assert (parsed.from_name, parsed.from_address) == ("Müller Versand 客服", "support@shop.test")
    assert parsed.text == "Hello <Jane>,\n\nit ships today & arrives soon.\n<script>alert(1)</script>"
    assert parsed.kind == "message"
    assert b"Auto-Submitted" not in raw
    assert raw.isascii()  # RFC 2047 names and QP/base64 bodies: safe through any relay


def test_build_email_html_alternative_is_escaped() -> None:
    raw = outbound(text="<script>alert(1)</script> & <b>", in_reply_to="")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    markup = next(p for p in message.walk() if p.get_content_subtype() == "html").get_content()
    assert "<script>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in markup


def test_build_email_marks_automatic_acknowledgements_only_when_asked() -> None:
    parsed = parse_email(outbound(auto_submitted=True))
    assert parsed.kind == "auto_reply"
    assert b"Auto-Submitted: auto-replied" in outbound(auto_submitted=True)


def test_long_message_ids_are_not_encoded_and_long_threads_are_trimmed() -> None:
    outlook = "<AM0PR01MB1234567890ABCDEF1234567890ABCDEF1234@AM0PR01MB1234.eurprd01.prod.outlook.com>"
    history = [f"<m{n}@buyers.test>" for n in range(40)]
    raw = outbound(in_reply_to=outlook, references=[*history, "not-an-id", "<bad id@x>"])
    parsed = parse_email(raw)
    assert b"=?utf-8?" not in raw.split(b"\r\n\r\n")[0].split(b"In-Reply-To")[1][:200]
    assert parsed.in_reply_to == outlook
    assert len(parsed.references) == 20
    assert parsed.references[0] == "<m0@buyers.test>" and parsed.references[-1] == outlook
    assert parsed.references[1:3] == ["<m22@buyers.test>", "<m23@buyers.test>"]  # root + newest 19


def test_thread_references_moves_the_parent_last_without_duplicates() -> None:
    assert thread_references(["<a@x>", "<p@x>", "<b@x>", "<a@x>"], "<p@x>") == ["<a@x>", "<b@x>", "<p@x>"]


@pytest.mark.parametrize(
    ("subject", "is_reply", "expected"),
    [
        ("Parcel", True, "Re: Parcel [#T7]"),
        ("Re: Parcel", True, "Re: Parcel [#T7]"),
        ("RE: Parcel [#T7]", True, "RE: Parcel [#T7]"),
        ("AW: Paket", True, "AW: Paket [#T7]"),
        ("回复：包裹", True, "回复：包裹 [#T7]"),
        ("Your return label", False, "Your return label [#T7]"),
        ("Evil\r\nBcc: all@x", True, "Re: Evil Bcc: all@x [#T7]"),
    ],
)
def test_reply_subject(subject: str, is_reply: bool, expected: str) -> None:
    assert reply_subject(subject, 7, is_reply=is_reply) == expected


def test_build_email_refuses_a_naive_date() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        outbound(sent_at=datetime(2024, 6, 3, 10, 0))


def test_build_email_attachments() -> None:
    label = EmailAttachment("Rücksendeetikett.pdf", "application/pdf", b"%PDF-1.4 label")
    parsed = parse_email(outbound(attachments=[label]))
    assert parsed.attachments == [label]


def buyer_reply(**fields: object) -> ParsedEmail:
    return ParsedEmail(kind="message", from_address="jane@buyers.test", **fields)  # type: ignore[arg-type]


def test_ticket_reference_from_our_message_id() -> None:
    via_in_reply_to = buyer_reply(in_reply_to="<ticket-42-msg-9.ab@mail.aftersail.test>")
    via_references = buyer_reply(
        in_reply_to="<other@buyers.test>", references=["<ticket-41-msg-1.a@MAIL.AFTERSAIL.TEST>", "<x@y>"]
    )
    foreign = buyer_reply(in_reply_to="<ticket-42-msg-9.ab@evil.test>")

    found = ticket_reference(via_in_reply_to, domain=DOMAIN, secret=SECRET)
    assert found is not None and (found.ticket_id, found.route) == (42, "message_id")
    assert ticket_reference(via_references, domain=DOMAIN, secret=SECRET).ticket_id == 41  # type: ignore[union-attr]
    assert ticket_reference(foreign, domain=DOMAIN, secret=SECRET) is None


def test_ticket_reference_from_a_signed_reply_address() -> None:
    address = reply_address("support@shop.test", 42, SECRET)
    assert address.startswith("support+t42.") and address.endswith("@shop.test")
    found = ticket_reference(
        buyer_reply(to=["other@shop.test"], cc=[address.upper()]), domain=DOMAIN, secret=SECRET
    )
    assert found is not None and (found.ticket_id, found.route) == (42, "reply_address")


def test_forged_reply_address_is_rejected() -> None:
    genuine = reply_address("support@shop.test", 42, SECRET)
    forged = genuine.replace("+t42.", "+t43.")  # another ticket, same tag
    guessed = "support+t43.00000000@shop.test"
    other_secret = reply_address("support@shop.test", 43, b"someone else's secret")
    for address in (forged, guessed, other_secret):
        assert ticket_reference(buyer_reply(to=[address]), domain=DOMAIN, secret=SECRET) is None


def test_ticket_reference_from_subject_token_and_route_order() -> None:
    by_subject = buyer_reply(subject="Re: Parcel [#t42]")
    found = ticket_reference(by_subject, domain=DOMAIN, secret=SECRET)
    assert found is not None and (found.ticket_id, found.route, found.evidence) == (42, "subject", "[#t42]")

    everything = buyer_reply(
        subject="Re: [#T3]",
        to=[reply_address("support@shop.test", 2, SECRET)],
        in_reply_to="<ticket-1-msg-1.a@mail.aftersail.test>",
    )
    assert ticket_reference(everything, domain=DOMAIN, secret=SECRET).ticket_id == 1  # type: ignore[union-attr]
    assert ticket_reference(buyer_reply(subject="Parcel"), domain=DOMAIN, secret=SECRET) is None


def test_reply_address_needs_a_mailbox() -> None:
    with pytest.raises(ValueError, match="mailbox"):
        reply_address("support", 1, SECRET)
    assert reply_address("support+old@shop.test", 5, SECRET).startswith("support+t5.")
