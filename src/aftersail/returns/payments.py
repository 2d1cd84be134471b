"""Refunds through a payment provider behind a small Protocol: Stripe's refund API, or by hand.

The caller stores its refund row with an idempotency key before it calls `refund`, and a retry of the same
logical refund sends the same key: the provider then answers from its idempotency cache instead of paying
twice. See docs/payments.md.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx
from pydantic import SecretStr

from aftersail.kit.errors import Conflict, DomainError, InvalidInput, ServiceUnavailable

if TYPE_CHECKING:
    from aftersail.kit.config import Settings

RefundStatus = Literal["succeeded", "pending", "failed"]

STRIPE_BASE_URL = "https://api.stripe.com"
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_IDEMPOTENCY_KEY_CHARS = 255  # Stripe's limit
# Stripe answers 409 while another request with the same idempotency key is still running; its own client
# libraries retry that (the retry then gets the stored result), and so do we, a few times.
CONFLICT_RETRIES = 3
CONFLICT_BACKOFF_SECONDS = 0.5
# Stripe's refund reasons; ours (damaged, does_not_fit, ...) are all the buyer's request.
STRIPE_REASONS = {"duplicate": "duplicate", "fraudulent": "fraudulent"}
# requires_action: the buyer has to do something first (some local payment methods); canceled: never paid.
STRIPE_STATUSES: dict[str, RefundStatus] = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}
# Stripe's request parameters → the RefundOrder field a person would correct.
STRIPE_PARAMS = {"amount": "amount_minor", "charge": "payment_ref", "payment_intent": "payment_ref"}


@dataclass(frozen=True, slots=True)
class RefundOrder:
    """One logical refund. `idempotency_key` is stable for it (e.g. "return-42-refund-1") and is sent again,
    unchanged, on every retry; `payment_ref` is the order's charge (ch_…) or payment intent (pi_…)."""

    idempotency_key: str
    payment_ref: str
    amount_minor: int
    currency: str
    reason: str
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.idempotency_key or len(self.idempotency_key) > MAX_IDEMPOTENCY_KEY_CHARS:
            raise InvalidInput(
                f"the idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters long",
                field="idempotency_key",
            )
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise InvalidInput("the refund amount must be an integer in minor units", field="amount_minor")
        if self.amount_minor <= 0:
            raise InvalidInput(
                f"the refund amount must be positive, got {self.amount_minor}", field="amount_minor"
            )
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise InvalidInput(
                f"currency must be a 3-letter ISO code, got {self.currency!r}", field="currency"
            )


@dataclass(frozen=True, slots=True)
class RefundReceipt:
    """What the provider answered. `replayed` is True when it answered from its idempotency cache (a retry of
    a refund it had already made); `amount_minor` and `currency` are the provider's."""

    provider: str
    provider_refund_id: str
    status: RefundStatus
    amount_minor: int
    currency: str
    replayed: bool = False


class PaymentGateway(Protocol):
    name: str

    async def refund(self, order: RefundOrder) -> RefundReceipt:
        """Refunds `order` once however often it is called with the same idempotency key. Raises
        InvalidInput (the provider refused the refund as asked), Conflict (the key was used for a different
        refund) or ServiceUnavailable (retry later with the same key)."""
        ...

    async def aclose(self) -> None: ...


class ManualRefunds:
    """No provider: the seller pays out by hand. The receipt stays pending, under an id derived from the
    idempotency key so that a retry names the same refund."""

    name = "manual"

    async def refund(self, order: RefundOrder) -> RefundReceipt:
        digest = hashlib.sha256(order.idempotency_key.encode()).hexdigest()[:24]
        return RefundReceipt(self.name, f"manual_{digest}", "pending", order.amount_minor, order.currency)

    async def aclose(self) -> None:
        return None


def stripe_form(order: RefundOrder) -> dict[str, str]:
    """The form fields of `POST /v1/refunds` for `order` (the currency is the charge's; Stripe takes none)."""
    target = "payment_intent" if order.payment_ref.startswith("pi_") else "charge"
    form = {
        target: order.payment_ref,
        "amount": str(order.amount_minor),
        "reason": STRIPE_REASONS.get(order.reason, "requested_by_customer"),
    }
    form |= {f"metadata[{key}]": value for key, value in order.metadata.items()}
    return form


class StripeRefunds:
    """Stripe's `POST /v1/refunds`, form-encoded, with the secret key as a bearer token and the order's
    idempotency key in the `Idempotency-Key` header. Owns its HTTP client unless one is given."""

    name = "stripe"

    def __init__(
        self,
        api_key: SecretStr,
        *,
        base_url: str = STRIPE_BASE_URL,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        conflict_retries: int = CONFLICT_RETRIES,
        conflict_backoff_seconds: float = CONFLICT_BACKOFF_SECONDS,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not api_key.get_secret_value():
            raise ValueError("the stripe payment gateway needs a secret key (AFTERSAIL_PAYMENTS_API_KEY)")
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._api_key = api_key
        self._conflict_retries = conflict_retries
        self._conflict_backoff = conflict_backoff_seconds
        self._label = f"Stripe at {self.base_url}"
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds))

    def __repr__(self) -> str:
        return f"StripeRefunds(base_url={self.base_url!r}, timeout_seconds={self.timeout_seconds:g})"

    async def refund(self, order: RefundOrder) -> RefundReceipt:
        if not order.payment_ref:
            raise InvalidInput(
                "a Stripe refund needs the order's charge or payment intent", field="payment_ref"
            )
        form = stripe_form(order)
        for attempt in range(self._conflict_retries + 1):
            response = await self._post(form, order.idempotency_key)
            if response.status_code != 409 or response.headers.get("stripe-should-retry") == "false":
                break
            if attempt < self._conflict_retries:
                await asyncio.sleep(self._conflict_backoff * 2**attempt)
        if response.status_code != 200:
            raise self._refusal(response, order)
        return self._receipt(response)

    async def _post(self, form: dict[str, str], idempotency_key: str) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self._api_key.get_secret_value()}",
            "Idempotency-Key": idempotency_key,
        }
        try:
            async with asyncio.timeout(self.timeout_seconds):  # a total deadline, not only per network read
                return await self._client.post(f"{self.base_url}/v1/refunds", data=form, headers=headers)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ServiceUnavailable(
                f"{self._label} did not answer within {self.timeout_seconds:g} s; retry with the same key",
                provider=self.name,
            ) from exc
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"{self._label} is unreachable: {exc}", provider=self.name) from exc

    def _receipt(self, response: httpx.Response) -> RefundReceipt:
        body = _json_or_none(response)
        refund = body if isinstance(body, dict) else {}
        refund_id, amount, currency = refund.get("id"), refund.get("amount"), refund.get("currency")
        status = STRIPE_STATUSES.get(str(refund.get("status")))
        if (
            refund.get("object") != "refund"
            or not isinstance(refund_id, str)
            or not isinstance(amount, int)
            or not isinstance(currency, str)
            or status is None
        ):
            # The refund may have been made: a retry with the same key gets the stored answer.
            raise ServiceUnavailable(f"{self._label} answered without a refund object", provider=self.name)
        replayed = response.headers.get("idempotent-replayed", "").lower() == "true"
        return RefundReceipt(self.name, refund_id, status, amount, currency.upper(), replayed)

    def _refusal(self, response: httpx.Response, order: RefundOrder) -> DomainError:
        status = response.status_code
        body = _json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = str(error.get("message") or f"HTTP {status}")[:300]
        kind, code, param = error.get("type"), error.get("code"), error.get("param")
        details: dict[str, Any] = {
            "provider": self.name,
            "provider_status": status,
            "provider_type": kind,
            "provider_code": code,
            "request_id": response.headers.get("request-id"),
        }
        if kind == "idempotency_error" and status in (400, 422):
            return Conflict(
                f"{self._label}: the idempotency key {order.idempotency_key!r} was used for a different "
                f"refund ({message})",
                **details,
            )
        if status in (401, 403):
            return ServiceUnavailable(
                f"{self._label} refused the secret key (AFTERSAIL_PAYMENTS_API_KEY): {message}", **details
            )
        if status == 409:
            return ServiceUnavailable(
                f"{self._label} is still working on a request with the same key; retry later ({message})",
                **details,
            )
        if status == 429 or status >= 500:
            return ServiceUnavailable(f"{self._label} failed with HTTP {status}: {message}", **details)
        field_name = str(param).split("[")[0] if param else None
        return InvalidInput(
            f"{self._label} refused the refund: {message}",
            field=STRIPE_PARAMS.get(field_name or "", field_name),
            **details,
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def gateway_from_settings(settings: Settings) -> PaymentGateway:
    """The gateway `AFTERSAIL_PAYMENTS_PROVIDER` names ("manual" unless set)."""
    if settings.payments_provider == "stripe":
        if settings.payments_api_key is None:
            raise ValueError("AFTERSAIL_PAYMENTS_API_KEY is required when AFTERSAIL_PAYMENTS_PROVIDER=stripe")
        return StripeRefunds(settings.payments_api_key, base_url=settings.payments_base_url)
    return ManualRefunds()
