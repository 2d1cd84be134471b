"""The assistant's fast lane (ADR 0018): the buyer messages a chat-writer batch stored, answered in the same
process a few milliseconds after their commit, a whole batch in three statements on a connection of its
own, when the answer needs nothing but the templates and the order's status.

What it answers: greetings, thanks, clarifications, a return's first question and an order's status (not
delivered), when the message is the buyer's latest and less than `MAX_ANSWER_AGE` old, for tenants without
a model of their own, in conversations the assistant holds (`tickets.assistant_active`) or that nobody has
answered yet — its answer then stops the first-response clock as `sla` does, met in the business hours of
the case's team (a breach it leaves to the service, which records it). Everything else — a person's case,
a hand-off, an action (cancel, change link), a knowledge-base search, a tenant's model — it leaves to the
outbox job queued with the messages (`support.translate`), which runs the full service.

That job also makes an answer durable. On the writer's two-statement path it is queued
`chat_writer.LANE_GRACE` ahead, marked done by the lane when it answered every message, brought forward when
it did not, and run anyway when the lane never got to it (the process died between the commit and the
answer). Messages the writer stored through the full service (a case's first message) have their job due at
once: whichever of the two comes second finds the turn answered (the job locks the ticket first). The same
rules decide as in the service (`rules.plan_turn`), the same templates answer (`replies`), and the audit is
the same `AssistantDecision`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from aftersail.assistant import corrections, replies, wording
from aftersail.assistant.classify import Classification, classify_many
from aftersail.assistant.entities import Entities, extract_entities
from aftersail.assistant.models import ConversationState, Outcome
from aftersail.assistant.nlu import IntentModel
from aftersail.assistant.rules import Action, OrderFacts, Plan, TurnFacts, plan_turn
from aftersail.assistant.service import DECIDED_BY, MAX_ANSWER_AGE, MAX_TURN_CHARS, AssistantSettings
from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.db import Database
from aftersail.kit.outbox import wake_dispatchers
from aftersail.kit.outbox_models import OutboxStatus
from aftersail.kit.owned_connection import OwnedConnection
from aftersail.kit.realtime import RealtimeBus, tenant_channel
from aftersail.orders.models import OrderStatus
from aftersail.orders.rules import CHANGEABLE
from aftersail.support.business_hours import ALWAYS_OPEN, BusinessCalendar, business_time_between
from aftersail.support.chat_channel import chat_channel
from aftersail.support.chat_writer import StoredMessages
from aftersail.support.models import AuthorKind, Channel, ClockKind, ClockState, TicketStatus
from aftersail.support.rules import SupportPolicy
from aftersail.support.sla import LIVE_STATES

log = logging.getLogger("aftersail.assistant.lane")
MAX_BATCH = 400
SETTINGS_FOR_SECONDS = 2.0  # a tenant's settings and model are read again after this long
_FAST_ACTIONS = {Action.REPLY, Action.CLARIFY, Action.ORDER_STATUS}


@dataclass(slots=True)
class _Tenant:
    name: str
    settings: AssistantSettings
    has_model: bool  # a model of its own: the full service answers (and translates)
    calendar: BusinessCalendar  # the support policy's business hours (teams without their own)
    team_calendars: dict[int, BusinessCalendar]
    model: IntentModel | None
    read_at: float


@dataclass(slots=True)
class _Turn:
    message_id: int
    ticket_id: int
    customer_id: int
    language: str  # the ticket's
    body: str  # the latest message
    text: str  # every buyer message since the assistant last answered
    order_id: int | None
    tags: list[str]
    failed_turns: int
    last_situation: str
    zone: str | None
    team_id: int | None
    first_clock: dict[str, Any] | None  # the first-response clock this answer stops (a first answer)
    understood: Classification | None = None
    entities: Entities | None = None
    order: dict[str, Any] | None = None
    given: str | None = None


@dataclass(slots=True)
class _Batch:
    """What one tenant's batch becomes: rows for `WRITE_SQL`, and which jobs are done or due."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    clocks: list[dict[str, Any]] = field(default_factory=list)  # first-response clocks met: id, counted
    customers: dict[int, int] = field(default_factory=dict)  # ticket → customer (for the buyer's push)
    deferred: int = 0  # messages left to the job


class AnswerLane:
    """Takes the chat writer's committed batches (`stored`, never blocking it) and answers them in order, on
    one connection; PostgreSQL only (on SQLite the writer queues its jobs due at once)."""

    def __init__(self, db: Database, *, bus: RealtimeBus | None, data_dir: Path) -> None:
        self.bus = bus
        self.data_dir = data_dir
        self.owned = OwnedConnection(db.url, system=True, name="aftersail-assistant")
        self._queue: asyncio.Queue[StoredMessages] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._tenants: dict[int, _Tenant] = {}

    def stored(self, batch: Sequence[StoredMessages]) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="assistant-lane")
        for item in batch:
            self._queue.put_nowait(item)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.owned.close()

    async def _run(self) -> None:
        while True:
            waiting = [await self._queue.get()]
            while len(waiting) < MAX_BATCH and not self._queue.empty():
                waiting.append(self._queue.get_nowait())
            by_tenant: dict[int, list[StoredMessages]] = {}
            for item in waiting:
                by_tenant.setdefault(item.tenant_id, []).append(item)
            for tenant_id, items in by_tenant.items():
                try:
                    await self._answer(tenant_id, items)
                except Exception:
                    log.exception(
                        "the assistant's lane failed a batch of tenant %d: its jobs answer", tenant_id
                    )
                    await self._bring_forward(items)

    async def _answer(self, tenant_id: int, items: list[StoredMessages]) -> None:
        tenant = await self._tenant(tenant_id)
        if tenant is None or not tenant.settings.enabled or tenant.has_model or tenant.model is None:
            await self._bring_forward(items)
            return
        ids = sorted({message_id for item in items for message_id in item.message_ids})
        now = utcnow()
        async with self.owned.transaction() as connection:
            turns, deferred = _turns(await connection.fetch(TURNS_SQL, json.dumps(ids), tenant_id), now)
            batch = await self._decide(connection, tenant_id, turns, now)
            batch.deferred += deferred
            done, due = _jobs(items, answered_all=batch.deferred == 0)
            written = await connection.fetch(
                WRITE_SQL,
                json.dumps(batch.replies, ensure_ascii=False),
                json.dumps(batch.decisions, ensure_ascii=False),
                json.dumps(batch.conversations),
                json.dumps(batch.tickets),
                json.dumps(done),
                json.dumps(due),
                now,
                tenant_id,
                json.dumps(batch.clocks),
            )
        if due:
            wake_dispatchers()
        await self._push(tenant_id, batch, written, now)

    async def _decide(
        self, connection: asyncpg.Connection, tenant_id: int, turns: list[_Turn], now: datetime
    ) -> _Batch:
        tenant = self._tenants[tenant_id]
        batch = _Batch()
        if not turns:
            return batch
        assert tenant.model is not None
        understood = classify_many(
            tenant.model, [turn.text for turn in turns], hints=[t.language for t in turns]
        )
        for turn, classification in zip(turns, understood, strict=True):
            turn.understood = classification
            turn.entities = extract_entities(turn.text, lang=classification.lang, today=now.date())
        await _find_orders(connection, tenant_id, turns)
        for turn in turns:
            answer = _answer_turn(tenant, turn)
            met = _met(tenant, turn, now) if turn.first_clock is not None else None
            if answer is None or (turn.first_clock is not None and met is None):
                batch.deferred += 1  # a breach to record, or a plan for the service: the job decides
                continue
            if met is not None:
                batch.clocks.append(met)
            plan, text, lang, inputs, result = answer
            assert turn.understood is not None and turn.entities is not None
            batch.replies.append({"ticket_id": turn.ticket_id, "body": text, "language": lang})
            batch.decisions.append(
                {
                    "ticket_id": turn.ticket_id,
                    "message_id": turn.message_id,
                    "intent": turn.understood.intent,
                    "confidence": turn.understood.confidence,
                    "language": turn.understood.lang,
                    "entities": turn.entities.to_dict(),
                    "concepts": list(turn.understood.concepts),
                    "action": plan.action.value,
                    "inputs": inputs,
                    "result": result,
                    "reason": plan.reason,
                    "situation": plan.situation,
                }
            )
            batch.conversations.append(
                {
                    "ticket_id": turn.ticket_id,
                    "failed_turns": turn.failed_turns + 1 if plan.action is Action.CLARIFY else 0,
                    "last_message_id": turn.message_id,
                    "last_situation": plan.situation,
                }
            )
            batch.tickets.append(
                {
                    "id": turn.ticket_id,
                    "order_id": turn.order["id"] if turn.order else None,
                    "clock_id": met["id"] if met is not None else None,
                }
            )
            batch.customers[turn.ticket_id] = turn.customer_id
        return batch

    async def _push(
        self, tenant_id: int, batch: _Batch, written: Sequence[asyncpg.Record], now: datetime
    ) -> None:
        if self.bus is None or not written:
            return
        bodies = {reply["ticket_id"]: reply for reply in batch.replies}
        pushes: list[tuple[str, dict[str, Any]]] = []
        for row in written:
            reply = bodies[row["ticket_id"]]
            shown = {
                "ticket_id": row["ticket_id"],
                "id": row["id"],
                "author_kind": AuthorKind.ASSISTANT.value,
                "author_name": "",
                "internal": False,
                "body": reply["body"],
                "language": reply["language"],
                "channel": Channel.CHAT.value,
                "created_at": now.isoformat(),
            }
            pushes.append(
                (tenant_channel(tenant_id), {"topic": "realtime.message.created", "payload": shown})
            )
            buyer = chat_channel(tenant_id, batch.customers[row["ticket_id"]])
            pushes.append((buyer, {"type": "message", **shown, "text": reply["body"]}))
        try:
            await self.bus.publish_many(pushes)
        except Exception:  # stored; a live push is a courtesy (a client that missed it reloads)
            log.warning("realtime publish of %d assistant replies failed", len(pushes) // 2, exc_info=True)

    async def _bring_forward(self, items: list[StoredMessages]) -> None:
        """The jobs run now, through the full service (a tenant the lane does not answer, or a failure)."""
        due = [item.job_id for item in items if item.job_deferred and item.job_id is not None]
        if not due:
            return
        try:
            async with self.owned.run() as connection:
                await connection.execute(DUE_SQL, json.dumps(due), utcnow())
        except Exception:  # they run when their grace is over
            log.warning("could not bring %d assistant jobs forward", len(due), exc_info=True)
            return
        wake_dispatchers()

    async def _tenant(self, tenant_id: int) -> _Tenant | None:
        cached = self._tenants.get(tenant_id)
        if cached is not None and time.monotonic() - cached.read_at < SETTINGS_FOR_SECONDS:
            return cached
        async with self.owned.run() as connection:
            row = await connection.fetchrow("SELECT name, settings FROM tenants WHERE id = $1", tenant_id)
            teams = await connection.fetch(
                "SELECT team_id, calendar FROM team_routing WHERE tenant_id = $1", tenant_id
            )
        if row is None:
            return None
        policy = SupportPolicy.from_settings(row["settings"])
        raw = dict((row["settings"] or {}).get("assistant") or {})
        model_settings = raw.get("model") or {}
        settings = AssistantSettings.from_raw(raw)
        model = None
        if settings.enabled:  # loading may read the disk (or, the very first time, train): off the loop
            model = await asyncio.to_thread(corrections.model_for, self.data_dir, tenant_id)
        tenant = _Tenant(
            name=row["name"],
            settings=settings,
            has_model=bool(model_settings.get("kind") and model_settings.get("model")),
            calendar=BusinessCalendar.from_dict(policy.calendar) if policy.calendar else ALWAYS_OPEN,
            team_calendars={
                team["team_id"]: BusinessCalendar.from_dict(team["calendar"])
                for team in teams
                if team["calendar"]
            },
            model=model,
            read_at=time.monotonic(),
        )
        self._tenants[tenant_id] = tenant
        return tenant


def _first_clock(row: asyncpg.Record) -> dict[str, Any] | None:
    """The running first-response clock of a case nobody answered yet, when the lane can stop it (counting,
    not breached); else None."""
    clock = row["first_clock"]
    if clock is None or clock["state"] != ClockState.RUNNING.value or clock["breached"] or not clock["run"]:
        return None
    return {**clock, "run": datetime.fromisoformat(clock["run"])}


def _turns(rows: Sequence[asyncpg.Record], now: datetime) -> tuple[list[_Turn], int]:
    """The turns the lane may answer (each ticket's latest message of the batch), and how many messages it
    leaves to the job. A message that is not its ticket's latest is part of the newer one's turn; one
    answered already (a job that ran first) needs nothing."""
    latest: dict[int, asyncpg.Record] = {}
    for row in rows:
        if row["ticket_id"] not in latest or row["id"] > latest[row["ticket_id"]]["id"]:
            latest[row["ticket_id"]] = row
    turns: list[_Turn] = []
    deferred = 0
    for row in latest.values():
        if row["id"] <= row["last_message_id"] or row["newest"] > row["id"]:
            continue
        first_clock = _first_clock(row)
        first_answer = row["unanswered"] and (row["first_clock"] is None or first_clock is not None)
        if (
            row["status"] != TicketStatus.OPEN.value
            or row["merged_into_id"] is not None
            or row["state"] == ConversationState.HANDED_OFF.value
            # The assistant holds it, or nobody has answered yet (ADR 0018); else a person has it.
            or not (row["assistant_active"] or first_answer)
            or row["next_clock_runs"]
            or (row["first_clock"] is not None and not first_answer)
            or as_utc(row["created_at"]) < now - MAX_ANSWER_AGE
        ):
            deferred += 1  # the service decides: silence, a release to people, a clock it must stop
            continue
        text = (row["since"] or row["body"])[-MAX_TURN_CHARS:]
        turns.append(
            _Turn(
                message_id=row["id"],
                ticket_id=row["ticket_id"],
                customer_id=row["customer_id"],
                language=row["language"],
                body=row["body"],
                text=text,
                order_id=row["order_id"],
                tags=list(row["tags"] or []),
                failed_turns=row["failed_turns"],
                last_situation=row["last_situation"],
                team_id=row["team_id"],
                first_clock=first_clock,
                zone=row["time_zone"],
            )
        )
    return turns, deferred


async def _find_orders(connection: asyncpg.Connection, tenant_id: int, turns: list[_Turn]) -> None:
    """Each turn's order: a number the buyer wrote (only their own orders), else the ticket's."""
    wanted: list[dict[str, Any]] = []
    for turn in turns:
        assert turn.entities is not None
        for mention in turn.entities.order_numbers:
            for number in {mention.value, mention.value.upper()}:
                wanted.append({"c": turn.customer_id, "n": number})
    by_ticket = sorted({turn.order_id for turn in turns if turn.order_id is not None})
    if not wanted and not by_ticket:
        return
    rows = await connection.fetch(ORDERS_SQL, tenant_id, json.dumps(wanted), json.dumps(by_ticket))
    by_id = {row["id"]: dict(row) for row in rows}
    by_number = {(row["customer_id"], row["number"].upper()): dict(row) for row in rows}
    for turn in turns:
        assert turn.entities is not None
        numbers = [mention.value for mention in turn.entities.order_numbers]
        for number in numbers:
            found = by_number.get((turn.customer_id, number.upper()))
            if found is not None:
                turn.order, turn.given = found, number
                break
        else:
            turn.given = numbers[0] if numbers else None
            if turn.order_id is not None:
                turn.order = by_id.get(turn.order_id)


def _answer_turn(
    tenant: _Tenant, turn: _Turn
) -> tuple[Plan, str, str, dict[str, Any], dict[str, Any]] | None:
    """The plan, the reply's text and language, and the audited inputs and result; None when the service
    must decide (a hand-off, an action, a search, a delivered order)."""
    assert turn.understood is not None
    order = turn.order
    facts = TurnFacts(
        intent=turn.understood.intent,
        confidence=turn.understood.confidence,
        order=_facts(order) if order is not None else None,
        order_number_given=turn.given,
        failed_turns=turn.failed_turns,
        vip=tenant.settings.vip_tag in turn.tags,
        high_value=order is not None and order["total_minor"] >= tenant.settings.high_value_minor,
        last_situation=turn.last_situation,
    )
    plan = plan_turn(facts)
    if plan.handoff is not None or plan.action not in _FAST_ACTIONS:
        return None
    lang = turn.understood.lang
    values = wording.common_values(
        shop_name=tenant.name, order_number=order["number"] if order else None, body=turn.body
    )
    result: dict[str, Any] = {}
    if plan.action is Action.ORDER_STATUS:
        if order is None:
            return None
        answer = wording.order_status_answer(
            status=order["status"],
            placed_at=order["placed_at"],
            released_at=order["released_at"],
            updated_at=order["updated_at"],
            warehouse=order["warehouse"] or "",
            transit_days=order["transit_days"] or 0,
            when=lambda at: wording.local_when(at, zone=turn.zone, lang=lang),
        )
        if answer is None:
            return None
        situation, found, result = answer
        values.update(found)
        plan = Plan(Action.ORDER_STATUS, situation, plan.reason)
    needed = replies.needed(plan.situation)
    reply = replies.render(plan.situation, lang, {name: values.get(name, "") for name in needed})
    inputs = {"order_number": order["number"] if order else turn.given}
    return plan, reply.text, reply.lang, inputs, result


def _met(tenant: _Tenant, turn: _Turn, now: datetime) -> dict[str, Any] | None:
    """The first-response clock stopped by this answer, as `sla` stops it: its business time counted up to
    now; None when that would breach it (the service records the breach)."""
    clock = turn.first_clock
    assert clock is not None
    calendar = tenant.team_calendars.get(turn.team_id or 0, tenant.calendar)
    counted = clock["counted"] + int(
        business_time_between(calendar, as_utc(clock["run"]), now).total_seconds()
    )
    if counted > clock["target"]:
        return None
    return {"id": clock["id"], "counted": counted}


def _facts(order: dict[str, Any]) -> OrderFacts:
    return OrderFacts(
        number=order["number"],
        status=order["status"],
        changeable=OrderStatus(order["status"]) in CHANGEABLE,
        total_minor=order["total_minor"],
        currency=order["currency"],
        placed_at=order["placed_at"],
    )


def _jobs(items: list[StoredMessages], *, answered_all: bool) -> tuple[list[int], list[int]]:
    """The deferred jobs to mark done (every message answered) or to run now (some left to the service)."""
    deferred = [item.job_id for item in items if item.job_deferred and item.job_id is not None]
    return (deferred, []) if answered_all else ([], deferred)


_ID_LIST = "SELECT value::bigint FROM json_array_elements_text({}::json)"
_RESPONSE_CLOCKS = f"'{ClockKind.FIRST_RESPONSE}', '{ClockKind.NEXT_RESPONSE}'"
_LIVE = ", ".join(f"'{state}'" for state in LIVE_STATES)

# The batch's buyer messages with what decides their turn, their tickets locked (an agent's reply, or the
# writer's next batch for the same buyer, waits for the answer).
TURNS_SQL = f"""
SELECT m.id, m.ticket_id, m.created_at, m.body,
       t.status, t.language, t.order_id, t.tags, t.customer_id, t.merged_into_id, t.assistant_active,
       t.team_id, t.first_response_at IS NULL AS unanswered,
       c.state, coalesce(c.last_message_id, 0) AS last_message_id,
       coalesce(c.failed_turns, 0) AS failed_turns, coalesce(c.last_situation, '') AS last_situation,
       (SELECT max(n.id) FROM ticket_messages n
        WHERE n.ticket_id = t.id AND n.author_kind = '{AuthorKind.CUSTOMER}') AS newest,
       EXISTS (SELECT 1 FROM sla_clocks k
               WHERE k.tenant_id = t.tenant_id AND k.ticket_id = t.id AND k.kind = '{ClockKind.NEXT_RESPONSE}'
                 AND k.state IN ({_LIVE}) AND k.stopped_at IS NULL) AS next_clock_runs,
       (SELECT json_build_object('id', k.id, 'counted', k.counted_seconds, 'target', k.target_seconds,
                                 'run', k.run_started_at, 'breached', k.breached_at IS NOT NULL,
                                 'state', k.state)
        FROM sla_clocks k
        WHERE k.tenant_id = t.tenant_id AND k.ticket_id = t.id AND k.kind = '{ClockKind.FIRST_RESPONSE}'
          AND k.state IN ({_LIVE}) AND k.stopped_at IS NULL
        ORDER BY k.id LIMIT 1) AS first_clock,
       (SELECT string_agg(s.body, E'\\n' ORDER BY s.id) FROM ticket_messages s
        WHERE s.ticket_id = t.id AND s.author_kind = '{AuthorKind.CUSTOMER}'
          AND s.id > coalesce(c.last_message_id, 0) AND s.id <= m.id) AS since,
       u.time_zone
FROM ticket_messages m
JOIN tickets t ON t.id = m.ticket_id
JOIN customers u ON u.id = t.customer_id
LEFT JOIN assistant_conversations c ON c.ticket_id = t.id
WHERE m.id IN ({_ID_LIST.format("$1")}) AND m.tenant_id = $2
  AND m.author_kind = '{AuthorKind.CUSTOMER}' AND NOT m.internal
ORDER BY m.id
FOR UPDATE OF t
"""

# The orders the turns name ($2: [{"c": customer, "n": number}]) or their tickets have ($3: ids), with the
# first live allocation's warehouse and the longest transit (as `orders.order_allocations` sees them).
ORDERS_SQL = f"""
SELECT o.id, o.customer_id, o.number, o.status, o.total_minor, o.currency, o.placed_at, o.released_at,
       o.updated_at,
       (SELECT w.name FROM allocations a JOIN warehouses w ON w.id = a.warehouse_id
        WHERE a.order_id = o.id AND a.status <> 'cancelled' ORDER BY a.id LIMIT 1) AS warehouse,
       (SELECT max(a.transit_days) FROM allocations a
        WHERE a.order_id = o.id AND a.status <> 'cancelled') AS transit_days
FROM orders o
WHERE o.tenant_id = $1
  AND o.id IN (SELECT w.id FROM orders w
               JOIN json_to_recordset($2::json) AS q(c bigint, n text)
                 ON w.number = q.n AND w.customer_id = q.c
               WHERE w.tenant_id = $1
               UNION
               {_ID_LIST.format("$3")})
"""

# Replies, decisions, conversations, first-response clocks met ($9), tickets and the jobs, in one round trip
# ($7: now, $8: the tenant).
WRITE_SQL = f"""
WITH reply AS (
    INSERT INTO ticket_messages (tenant_id, ticket_id, author_kind, author_name, channel, internal, body,
                                 language, mentions, created_at, delivery)
    SELECT $8, r.ticket_id, '{AuthorKind.ASSISTANT}', '', '{Channel.CHAT}', false, r.body, r.language, '[]',
           $7, '{{}}'
    FROM json_to_recordset($1::json) AS r(ticket_id bigint, body text, language text)
    RETURNING id, ticket_id
), decided AS (
    INSERT INTO assistant_decisions (tenant_id, ticket_id, message_id, intent, confidence, language, entities,
                                     concepts, decided_by, action, inputs, result, reason, outcome, situation,
                                     reply_message_id, created_at)
    SELECT $8, d.ticket_id, d.message_id, d.intent, d.confidence, d.language, d.entities, d.concepts,
           '{DECIDED_BY}', d.action, d.inputs, d.result, d.reason, '{Outcome.ANSWERED}', d.situation,
           reply.id, $7
    FROM json_to_recordset($2::json) AS d(ticket_id bigint, message_id bigint, intent text,
                                          confidence float8, language text, entities json, concepts json,
                                          action text, inputs json, result json, reason text, situation text)
    JOIN reply ON reply.ticket_id = d.ticket_id
), held AS (
    INSERT INTO assistant_conversations (tenant_id, ticket_id, state, failed_turns, last_message_id,
                                         last_situation, handoff, reply_by, updated_at)
    SELECT $8, v.ticket_id, '{ConversationState.ACTIVE}', v.failed_turns, v.last_message_id,
           v.last_situation, '{{}}', NULL, $7
    FROM json_to_recordset($3::json) AS v(ticket_id bigint, failed_turns int, last_message_id bigint,
                                          last_situation text)
    ON CONFLICT (ticket_id) DO UPDATE
    SET failed_turns = excluded.failed_turns, last_message_id = excluded.last_message_id,
        last_situation = excluded.last_situation, updated_at = excluded.updated_at
), met AS (
    UPDATE sla_clocks k
    SET counted_seconds = c.counted, run_started_at = NULL, due_at = NULL, warn_at = NULL,
        state = '{ClockState.MET}', stopped_at = $7
    FROM json_to_recordset($9::json) AS c(id bigint, counted int)
    WHERE k.id = c.id AND k.stopped_at IS NULL
), touched AS (
    UPDATE tickets t
    SET first_response_at = coalesce(t.first_response_at, $7), last_public_reply_at = $7, updated_at = $7,
        assistant_active = true, order_id = coalesce(t.order_id, u.order_id),
        -- the nearest due time of the clocks still running (the statement's snapshot still shows the
        -- stopped clock running: left out by id)
        next_due_at = CASE WHEN u.clock_id IS NULL THEN t.next_due_at ELSE (
            SELECT min(r.due_at) FROM sla_clocks r
            WHERE r.tenant_id = t.tenant_id AND r.ticket_id = t.id AND r.state IN ({_LIVE})
              AND r.stopped_at IS NULL AND r.due_at IS NOT NULL AND r.id <> u.clock_id) END
    FROM json_to_recordset($4::json) AS u(id bigint, order_id bigint, clock_id bigint)
    WHERE t.id = u.id
), done AS (
    UPDATE outbox_events e SET status = '{OutboxStatus.DONE}', finished_at = $7
    WHERE e.id IN ({_ID_LIST.format("$5")}) AND e.status = '{OutboxStatus.PENDING}'
), due AS (
    UPDATE outbox_events e SET due_at = $7
    WHERE e.id IN ({_ID_LIST.format("$6")}) AND e.status = '{OutboxStatus.PENDING}'
)
SELECT id, ticket_id FROM reply
"""

DUE_SQL = f"""
UPDATE outbox_events SET due_at = $2
WHERE id IN ({_ID_LIST.format("$1")}) AND status = '{OutboxStatus.PENDING}'
"""
