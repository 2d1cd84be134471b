# ruff: noqa: E501 — sentences of demo text in several scripts read better unbroken
"""The demo's support desk: team routing with business hours, macros in several languages, and a dozen
tickets from buyers in their own languages — some waiting, some answered, some resolved and rated.

Unlike the order history (fixed at DEMO_NOW), tickets are dated relative to the moment the demo loads, so
that the inbox shows live SLA clocks rather than cases weeks overdue. Everything goes through the support
services, so routing, SLA clocks and the audit trail are the real ones. Text written for this demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.orders.models import Customer, Order
from aftersail.support import csat, intake, macros, messages, routing
from aftersail.support import service as tickets
from aftersail.support.models import Channel, TicketStatus
from aftersail.tenants.models import Team, User

TEAM_CATEGORIES = {
    "Returns": ["damaged", "wrong_item", "defective", "missing_item", "return"],
    "Complaints": ["billing", "cancel", "change_order"],
    "Inquiries": [],  # takes everything else
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def office_hours(time_zone: str) -> dict[str, object]:
    """Split shifts around lunch, Monday to Friday, plus a Saturday morning."""
    weekly: dict[str, list[list[str]]] = {day: [["09:00", "12:00"], ["13:30", "18:30"]] for day in WEEKDAYS}
    weekly["sat"] = [["10:00", "14:00"]]
    return {"time_zone": time_zone, "weekly": weekly, "holidays": [], "overrides": {}}


@dataclass(frozen=True)
class Case:
    language: str
    category: str
    subject: str
    buyer: tuple[str, ...]  # the buyer's messages, in order
    reply_zh: str = ""  # the agent's reply as written (Chinese console)
    reply_sent: str = ""  # what the buyer received, in their language
    hours_ago: float = 2.0
    resolve_with: int = 0  # a CSAT rating once resolved (0: left open)


CASES = (
    Case("de", "damaged", "Lampe zerbrochen angekommen",
         ("Guten Tag, meine Tischlampe kam mit zerbrochenem Glasschirm an. Fotos kann ich schicken.",),
         hours_ago=0.4),
    Case("fr", "where_is_my_order", "Où est mon colis ?",
         ("Bonjour, ma commande devait arriver lundi et le suivi ne bouge plus depuis quatre jours.",),
         "您好，我是客服小王。包裹在法国海关清关，预计周四送达。", "Bonjour, ici Wang du service client. Votre colis "
         "est en dédouanement en France ; livraison prévue jeudi.", hours_ago=5),
    Case("es", "sizing", "¿Qué talla elijo?",
         ("Hola, mido 1,70 y peso 62 kg. ¿La chaqueta en talla M me quedará bien?",), hours_ago=1.5),
    Case("ja", "wrong_item", "色が違う商品が届きました",
         ("注文したのは黒ですが、白が届きました。交換できますか？",), hours_ago=3),
    Case("ar", "return", "أريد إرجاع السماعات",
         ("مرحبا، السماعات لا تناسبني. كيف يمكنني إرجاعها؟",),
         "您好，我是小王。可以退货，我们会发给您迪拜仓的退货标签。", "مرحبًا، معك وانغ. يمكنك إرجاعها وسنرسل لك "
         "ملصق الإرجاع إلى مستودعنا في دبي.", hours_ago=26, resolve_with=5),
    Case("it", "defective", "Il caricatore non funziona",
         ("Buongiorno, il caricatore si spegne dopo pochi minuti.", "Ho provato anche un'altra presa."),
         hours_ago=8),
    Case("en", "thanks", "Thank you!",
         ("The replacement arrived today, thank you so much for the quick help!",),
         "谢谢您的反馈，祝您使用愉快！", "Thank you for letting us know — enjoy it!", hours_ago=30,
         resolve_with=4),
    Case("pt", "cancel", "Cancelar encomenda",
         ("Olá, encomendei duas vezes por engano. Podem cancelar a segunda encomenda?",), hours_ago=0.8),
    Case("ko", "usage", "블루투스 연결 방법",
         ("이어폰을 휴대폰에 연결하는 방법을 모르겠어요.",),
         "您好，请长按耳机按键五秒进入配对模式。", "안녕하세요, 이어폰 버튼을 5초간 길게 눌러 페어링 모드로 "
         "들어가 주세요.", hours_ago=4),
)  # fmt: skip

MACROS = {
    "damaged_reship": {
        "zh": ("包裹破损：补发", "您好{buyer_name}，我是客服{agent_name}，会在{reply_by}前回复您。",
               "您的订单{order_number}到货时有破损，非常抱歉。", "我们今天从最近的海外仓为您补发，预计{eta}送达，无需退回破损商品。",
               "如有任何问题，随时回复我。"),
        "en": ("Damaged parcel: reship", "Hi {buyer_name}, this is {agent_name}; you will hear from me by {reply_by}.",
               "Your order {order_number} arrived damaged — I am sorry.",
               "We are sending a replacement today from our nearest warehouse, arriving {eta}; no need to return "
               "the damaged item.", "Anything else, just reply here."),
        "de": ("Beschädigtes Paket: Ersatz", "Hallo {buyer_name}, hier ist {agent_name}; Sie hören bis {reply_by} "
               "von mir.", "Ihre Bestellung {order_number} kam beschädigt an — das tut mir leid.",
               "Wir senden heute Ersatz aus unserem nächstgelegenen Lager, Ankunft {eta}; den beschädigten Artikel "
               "müssen Sie nicht zurückschicken.", "Bei Fragen antworten Sie einfach hier."),
        "fr": ("Colis endommagé : renvoi", "Bonjour {buyer_name}, ici {agent_name} ; je vous réponds avant "
               "{reply_by}.", "Votre commande {order_number} est arrivée endommagée, j'en suis désolé.",
               "Nous envoyons aujourd'hui un remplacement depuis notre entrepôt le plus proche, livraison {eta} ; "
               "inutile de renvoyer l'article abîmé.", "Pour toute question, répondez simplement ici."),
    },
    "where_is_my_order": {
        "zh": ("包裹在哪里", "您好{buyer_name}，我是客服{agent_name}。", "您想知道订单{order_number}的位置。",
               "包裹已发出，预计{eta}送达，物流链接：{tracking_link}", "如有延误我会第一时间通知您。"),
        "en": ("Where is my order", "Hi {buyer_name}, this is {agent_name}.",
               "You asked where order {order_number} is.",
               "It is on its way and should arrive {eta}; track it here: {tracking_link}",
               "If anything changes I will tell you first."),
    },
}  # fmt: skip


async def write_support(session: AsyncSession, tenant_id: int, time_zone: str) -> dict[str, int]:
    """Routing, macros and the demo cases of one tenant (in the caller's transaction)."""
    now = utcnow()
    teams = list(await session.scalars(select(Team).where(Team.tenant_id == tenant_id).order_by(Team.id)))
    for team in teams:
        await routing.do_configure_team(
            session,
            tenant_id,
            team.id,
            mode="least_loaded",
            categories=TEAM_CATEGORIES.get(team.name, []),
            calendar=office_hours(time_zone),
        )
    users = list(await session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.id)))
    # Nobody is signed in yet: cases wait in their team's queue and are assigned as agents come online.
    agents = [u for u in users if u.role.value in ("agent", "admin")]
    for key, versions in MACROS.items():
        for language, (title, greeting, problem, solution, open_door) in versions.items():
            await macros.do_save_macro(
                session,
                tenant_id,
                {
                    "key": key,
                    "language": language,
                    "title": title,
                    "category": "damaged" if key == "damaged_reship" else "where_is_my_order",
                    "greeting": greeting,
                    "problem": problem,
                    "solution": solution,
                    "open_door": open_door,
                },
            )
    count = 0
    for case in CASES:
        customer = await session.scalar(
            select(Customer)
            .where(Customer.tenant_id == tenant_id, Customer.preferred_language == case.language)
            .order_by(Customer.id)
            .limit(1)
        )
        if customer is None:
            continue
        order = await session.scalar(
            select(Order).where(Order.tenant_id == tenant_id, Order.customer_id == customer.id).limit(1)
        )
        await _write_case(session, tenant_id, case, customer, order, agents, now)
        count += 1
    return {"macros": sum(len(v) for v in MACROS.values()), "tickets": count}


async def _write_case(
    session: AsyncSession,
    tenant_id: int,
    case: Case,
    customer: Customer,
    order: Order | None,
    agents: list[User],
    now: datetime,
) -> None:
    opened = now - timedelta(hours=case.hours_ago)
    first = await intake.do_receive(
        session,
        tenant_id,
        customer=customer,
        channel=Channel.CHAT if case.language in ("de", "es", "pt", "ko") else Channel.EMAIL,
        body=case.buyer[0],
        subject=case.subject,
        category=case.category,
        order=order,
        language=case.language,
        now=opened,
    )
    ticket = await tickets.access_ticket(session, tenant_id, first.ticket_id)
    for offset, text in enumerate(case.buyer[1:], start=1):
        await messages.do_add_customer_message(
            session,
            ticket,
            body=text,
            channel=ticket.channel,
            author_name=customer.name,
            language=case.language,
            now=opened + timedelta(minutes=3 * offset),
        )
    if case.reply_zh:
        agent = agents[0] if agents else None
        await messages.do_reply(
            session,
            ticket,
            author=agent,
            body=case.reply_zh,
            language="zh",
            sent_body=case.reply_sent,
            sent_provider="demo",
            now=opened + timedelta(minutes=25),
        )
    if case.resolve_with:
        resolved_at = opened + timedelta(hours=2)
        await tickets.do_change_status(session, ticket, TicketStatus.RESOLVED, actor="demo", now=resolved_at)
        await csat.do_rate(session, ticket, rating=case.resolve_with, now=resolved_at + timedelta(hours=1))
