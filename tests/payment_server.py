"""A payment server for tests on 127.0.0.1, speaking Stripe's refund API (`POST /v1/refunds`).

It knows a few charges and payment intents, checks the secret key and the form fields as Stripe does,
refuses to refund more than remains, and keeps Stripe's idempotency layer: the first answer to an
`Idempotency-Key` (success or failure, once the endpoint began) is stored and replayed to the same
parameters with `Idempotent-Replayed: true`; other parameters get 400 `idempotency_error`; a second
request while the first still runs gets 409. Every refund it made is in `server.refunds`.

    with serve_in_thread(api_key="sk_test_k") as server:
        StripeRefunds(SecretStr("sk_test_k"), base_url=server.url)
        server.fail_next(2)                  # the next 2 requests: 500, before the idempotency layer
        server.hang_next(seconds=3)          # the next request: no answer for 3 s (then 504), nothing done
        server.hang_next(after_refund=True)  # the next request refunds, then its answer is lost for a while
        server.behaviour.refund_status = "pending"
        server.refunds, server.responses     # refunds made; (status, replayed) of every answer, newest last
        server.reset()                       # the starting charges, nothing refunded, nothing stored

    python -m tests.payment_server --port 12111 --api-key sk_test_local
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.threaded_server import ThreadedServer

REFUND_FIELDS = {
    "amount", "charge", "currency", "customer", "expand[]", "instructions_email", "origin",
    "payment_intent", "reason", "refund_application_fee", "reverse_transfer",
}  # fmt: skip
REASONS = ("duplicate", "fraudulent", "requested_by_customer")
ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "isk", "ugx", "xaf", "xof"}
IDEMPOTENCY_KEY_MAX = 255


@dataclass
class Charge:
    id: str
    amount: int
    currency: str  # lower case, as Stripe writes it
    payment_intent: str | None = None
    refunded: int = 0


def starting_charges() -> list[Charge]:
    return [
        Charge("ch_3Pusd5000", 5000, "usd", "pi_3Pusd5000"),
        Charge("ch_3Peur12990", 12990, "eur"),
        Charge("ch_3Pjpy4800", 4800, "jpy", "pi_3Pjpy4800"),
        Charge("ch_3Prefunded", 2500, "gbp", refunded=2500),
    ]


@dataclass
class Behaviour:
    """What the server does; tests change it and `reset()` puts it back."""

    fail_count: int = 0  # answer this many next requests with `fail_status`, before anything else
    fail_status: int = 500
    hang_count: int = 0  # keep this many next requests waiting `hang_seconds`
    hang_seconds: float = 5.0
    hang_after_refund: bool = False  # hang after the refund is made and stored (the answer is lost)
    processing_seconds: float = 0.05  # the endpoint's own work, during which the key is in use
    refund_status: str = "succeeded"  # the status new refunds get


@dataclass
class Stored:
    params: list[tuple[str, str]]
    status: int
    body: dict[str, Any]


def money(amount: int, currency: str) -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}.get(currency, currency.upper() + " ")
    return f"{symbol}{amount}" if currency in ZERO_DECIMAL else f"{symbol}{amount / 100:.2f}"


def stripe_error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    *,
    code: str | None = None,
    param: str | None = None,
) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"message": message, "type": kind}
    if code:
        error |= {"code": code, "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"}
    if param:
        error["param"] = param
    return status, {"error": error}


def check_params(params: list[tuple[str, str]]) -> tuple[int, dict[str, Any]] | None:
    """Stripe's validation of the parameters, before the endpoint runs (its answers are not stored)."""
    seen: set[str] = set()
    for name, value in params:
        base = "metadata" if name.startswith("metadata[") else name
        if base not in REFUND_FIELDS and base != "metadata":
            return stripe_error(400, f"Received unknown parameter: {name}", param=name)
        if name in seen:
            return stripe_error(400, f"Received duplicate parameter: {name}", param=name)
        seen.add(name)
        if base == "metadata":
            key = name.removeprefix("metadata[").removesuffix("]")
            if not key or "[" in key or "]" in key or len(key) > 40:
                message = f"Invalid metadata key {key!r}: keys are 1 to 40 characters without brackets."
                return stripe_error(400, message, param=name)
            if len(value) > 500:
                return stripe_error(400, "Metadata values can have up to 500 characters.", param=name)
    form = dict(params)
    if "charge" not in form and "payment_intent" not in form:
        return stripe_error(400, "One of `charge` or `payment_intent` is required.", param="charge")
    if "charge" in form and "payment_intent" in form:
        message = "You cannot specify both `charge` and `payment_intent`; choose one of them."
        return stripe_error(400, message, param="payment_intent")
    amount = form.get("amount")
    if amount is not None and not (amount.isdigit() and int(amount) > 0):
        return stripe_error(400, f"Invalid positive integer: {amount!r}", param="amount")
    if "reason" in form and form["reason"] not in REASONS:
        message = f"Invalid reason: must be one of {', '.join(REASONS[:-1])}, or {REASONS[-1]}"
        return stripe_error(400, message, param="reason")
    return None


class PaymentServer(ThreadedServer):
    """The server on 127.0.0.1 (port 0: a free one) in a daemon thread; `url` once started."""

    what = "payment"

    def __init__(self, port: int = 0, *, api_key: str = "sk_test_payments") -> None:
        self.api_key = api_key
        self.behaviour = Behaviour()
        self.charges = {charge.id: charge for charge in starting_charges()}
        self.refunds: list[dict[str, Any]] = []  # every refund made, newest last
        self.responses: list[tuple[int, bool]] = []  # (HTTP status, replayed) of every answer
        self.form_bodies: list[list[tuple[str, str]]] = []  # the form fields of every refund request
        self.headers: list[dict[str, str]] = []  # their headers, names in lower case
        self._stored: dict[tuple[str, str], Stored] = {}
        self._running: set[tuple[str, str]] = set()
        super().__init__(self.create_app(), port)

    # --- what tests call ---------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        self.behaviour.fail_count, self.behaviour.fail_status = count, status

    def hang_next(self, count: int = 1, *, seconds: float = 5.0, after_refund: bool = False) -> None:
        self.behaviour.hang_count, self.behaviour.hang_seconds = count, seconds
        self.behaviour.hang_after_refund = after_refund

    def add_charge(self, amount: int, currency: str = "usd", *, payment_intent: bool = False) -> str:
        """A new charge (or payment intent, whose id it returns) that no other test has touched."""
        token = secrets.token_hex(6)
        charge = Charge(f"ch_{token}", amount, currency.lower(), f"pi_{token}" if payment_intent else None)
        self.charges[charge.id] = charge
        return charge.payment_intent or charge.id

    def refunds_of(self, payment_ref: str) -> list[dict[str, Any]]:
        return [r for r in self.refunds if payment_ref in (r["charge"], r["payment_intent"])]

    def reset(self) -> None:
        """The starting behaviour and charges, no refunds, nothing stored or received."""
        fresh = Behaviour()
        for spec in fields(Behaviour):
            setattr(self.behaviour, spec.name, getattr(fresh, spec.name))
        self.charges = {charge.id: charge for charge in starting_charges()}
        for received in (self.refunds, self.responses, self.form_bodies, self.headers):
            received.clear()
        self._stored.clear()
        self._running.clear()

    # --- Stripe ------------------------------------------------------------------------------------------

    def create_app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/refunds", self._create_refund, methods=["POST"])])

    def _answer(
        self, status: int, body: dict[str, Any], key: str | None, *, replayed: bool = False
    ) -> JSONResponse:
        self.responses.append((status, replayed))
        headers = {"Request-Id": f"req_{secrets.token_hex(7)}", "Stripe-Version": "2024-06-20"}
        if key is not None:
            headers["Idempotency-Key"] = key
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        if status == 409:
            headers["Stripe-Should-Retry"] = "true"
        return JSONResponse(body, status_code=status, headers=headers)

    def _authorized(self, request: Request) -> tuple[int, dict[str, Any]] | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            message = (
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
            )
            return stripe_error(401, message)
        if not secrets.compare_digest(key.encode(), self.api_key.encode()):
            return stripe_error(401, f"Invalid API Key provided: {key[:8]}{'*' * 12}{key[-4:]}")
        return None

    async def _create_refund(self, request: Request) -> JSONResponse:
        key = request.headers.get("idempotency-key")
        self.headers.append({name.lower(): value for name, value in request.headers.items()})
        behaviour = self.behaviour
        if behaviour.fail_count > 0:  # a failure in front of the API (load balancer, outage): nothing stored
            behaviour.fail_count -= 1
            return self._answer(
                *stripe_error(behaviour.fail_status, "An unknown error occurred", "api_error"), key
            )
        if behaviour.hang_count > 0 and not behaviour.hang_after_refund:
            behaviour.hang_count -= 1
            await asyncio.sleep(behaviour.hang_seconds)
            return self._answer(504, {"error": {"message": "Gateway timeout", "type": "api_error"}}, key)
        refused = self._authorized(request)
        if refused is not None:
            return self._answer(*refused, key)
        if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
            message = f"Idempotency keys can be at most {IDEMPOTENCY_KEY_MAX} characters long."
            return self._answer(*stripe_error(400, message, "idempotency_error"), key)
        form = await request.form()
        params = sorted((name, str(value)) for name, value in form.multi_items())
        self.form_bodies.append(params)
        invalid = check_params(params)
        if invalid is not None:
            return self._answer(*invalid, key)
        if key is None:
            status, body = await self._run(params)
            return self._answer(status, body, key)
        slot = (self.api_key, key)
        stored = self._stored.get(slot)
        if stored is not None:
            if stored.params != params:
                message = (
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request."
                )
                return self._answer(*stripe_error(400, message, "idempotency_error"), key)
            return self._answer(stored.status, stored.body, key, replayed=True)
        if slot in self._running:
            message = (
                "There is currently another in-progress request using this Stripe API key and "
                f"idempotency key ('{key}'). Please try again later."
            )
            return self._answer(
                *stripe_error(409, message, "idempotency_error", code="idempotency_key_in_use"), key
            )
        self._running.add(slot)
        try:
            status, body = await self._run(params)
            self._stored[slot] = Stored(params, status, body)
        finally:
            self._running.discard(slot)
        if behaviour.hang_count > 0 and behaviour.hang_after_refund:
            behaviour.hang_count -= 1
            await asyncio.sleep(behaviour.hang_seconds)
        return self._answer(status, body, key)

    async def _run(self, params: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        """The endpoint itself: find the charge, check what remains, make the refund."""
        await asyncio.sleep(self.behaviour.processing_seconds)
        form = dict(params)
        if "payment_intent" in form:
            pi = form["payment_intent"]
            charge = next((c for c in self.charges.values() if c.payment_intent == pi), None)
            if charge is None:
                return stripe_error(
                    404, f"No such payment_intent: '{pi}'", code="resource_missing", param="payment_intent"
                )
        else:
            charge = self.charges.get(form["charge"])
            if charge is None:
                message = f"No such charge: '{form['charge']}'"
                return stripe_error(404, message, code="resource_missing", param="charge")
        remaining = charge.amount - charge.refunded
        if remaining <= 0:
            message = f"Charge {charge.id} has already been refunded."
            return stripe_error(400, message, code="charge_already_refunded")
        amount = int(form.get("amount", remaining))
        if amount > remaining:
            message = (
                f"Refund amount ({money(amount, charge.currency)}) is greater than unrefunded amount on "
                f"charge ({money(remaining, charge.currency)})"
            )
            return stripe_error(400, message, code="amount_too_large", param="amount")
        charge.refunded += amount
        refund = {
            "id": f"re_{secrets.token_hex(12)}",
            "object": "refund",
            "amount": amount,
            "balance_transaction": f"txn_{secrets.token_hex(12)}",
            "charge": charge.id,
            "created": int(time.time()),
            "currency": charge.currency,
            "metadata": {
                name.removeprefix("metadata[").removesuffix("]"): value
                for name, value in params
                if name.startswith("metadata[")
            },
            "payment_intent": charge.payment_intent,
            "reason": form.get("reason"),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": self.behaviour.refund_status,
            "transfer_reversal": None,
        }
        self.refunds.append(refund)
        return 200, refund


@contextmanager
def serve_in_thread(port: int = 0, *, api_key: str = "sk_test_payments") -> Iterator[PaymentServer]:
    """A started server, stopped on leaving."""
    server = PaymentServer(port, api_key=api_key)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--api-key", default="sk_test_payments", help="the secret key it accepts")
    args = parser.parse_args()
    server = PaymentServer(args.port, api_key=args.api_key)
    print(f"Stripe refund test server on {server.url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
