"""Refunds through the payment gateways: Stripe's adapter against a local server speaking Stripe's refund API,
and the manual gateway. No database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr, ValidationError

from aftersail.kit.config import Settings
from aftersail.kit.errors import Conflict, InvalidInput, ServiceUnavailable
from aftersail.returns.payments import (
    ManualRefunds,
    PaymentGateway,
    RefundOrder,
    RefundReceipt,
    StripeRefunds,
    gateway_from_settings,
)
from tests.e2e.servers import free_port
from tests.payment_server import PaymentServer, serve_in_thread

SECRET = "sk_test_51Hq8Zx9SecretPaymentsKey"


@pytest.fixture(scope="session")
def payment_server() -> Iterator[PaymentServer]:
    with serve_in_thread(api_key=SECRET) as server:
        yield server


@pytest.fixture
def server(payment_server: PaymentServer) -> Iterator[PaymentServer]:
    yield payment_server
    payment_server.reset()


@pytest.fixture
async def stripe(server: PaymentServer) -> AsyncIterator[StripeRefunds]:
    gateway = StripeRefunds(
        SecretStr(SECRET), base_url=server.url, timeout_seconds=2.0, conflict_backoff_seconds=0.05
    )
    yield gateway
    await gateway.aclose()


def order(payment_ref: str, amount_minor: int = 1500, **changes: object) -> RefundOrder:
    fields: dict[str, object] = {
        "idempotency_key": "return-42-refund-1",
        "payment_ref": payment_ref,
        "amount_minor": amount_minor,
        "currency": "USD",
        "reason": "damaged",
        "metadata": {"return_id": "42", "tenant": "shenzhen-gadgets"},
    }
    return RefundOrder(**(fields | changes))  # type: ignore[arg-type]


async def test_a_refund_on_a_payment_intent_speaks_stripes_wire_format(
    stripe: StripeRefunds, server: PaymentServer
) -> None:
    receipt = await stripe.refund(order("pi_3Pusd5000"))

    [refund] = server.refunds
    assert receipt == RefundReceipt("stripe", refund["id"], "succeeded", 1500, "USD", replayed=False)
    assert refund["id"].startswith("re_") and refund["charge"] == "ch_3Pusd5000"
    assert refund["metadata"] == {"return_id": "42", "tenant": "shenzhen-gadgets"}
    assert server.form_bodies[-1] == [
        ("amount", "1500"),
        ("metadata[return_id]", "42"),
        ("metadata[tenant]", "shenzhen-gadgets"),
        ("payment_intent", "pi_3Pusd5000"),
        ("reason", "requested_by_customer"),
    ]
    headers = server.headers[-1]
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert headers["idempotency-key"] == "return-42-refund-1"
    assert headers["content-type"] == "application/x-www-form-urlencoded"


async def test_a_charge_is_refunded_by_its_id_and_the_currency_comes_back_upper_case(
    stripe: StripeRefunds, server: PaymentServer
) -> None:
    receipt = await stripe.refund(order("ch_3Pjpy4800", 800, currency="JPY", reason="duplicate"))

    assert (receipt.amount_minor, receipt.currency) == (800, "JPY")
    assert ("charge", "ch_3Pjpy4800") in server.form_bodies[-1]
    assert ("reason", "duplicate") in server.form_bodies[-1]


async def test_the_same_key_twice_refunds_once(stripe: StripeRefunds, server: PaymentServer) -> None:
    first = await stripe.refund(order("pi_3Pusd5000"))
    again = await stripe.refund(order("pi_3Pusd5000"))

    assert len(server.refunds) == 1
    assert again.provider_refund_id == first.provider_refund_id
    assert (first.replayed, again.replayed) == (False, True)


async def test_the_same_key_at_the_same_time_refunds_once(
    stripe: StripeRefunds, server: PaymentServer
) -> None:
    server.behaviour.processing_seconds = 0.2  # long enough for the others to arrive while the first runs
    payment = server.add_charge(10_000, payment_intent=True)

    receipts = await asyncio.gather(*(stripe.refund(order(payment)) for _ in range(4)))

    assert len(server.refunds_of(payment)) == 1
    assert {receipt.provider_refund_id for receipt in receipts} == {server.refunds[0]["id"]}
    assert sorted(receipt.replayed for receipt in receipts) == [False, True, True, True]
    assert (409, False) in server.responses  # they did meet the in-progress key, and retried


async def test_the_same_key_for_a_different_refund_is_a_conflict(
    stripe: StripeRefunds, server: PaymentServer
) -> None:
    await stripe.refund(order("pi_3Pusd5000", 1500))

    with pytest.raises(Conflict, match="return-42-refund-1") as failure:
        await stripe.refund(order("pi_3Pusd5000", 2000))
    assert "same parameters" in failure.value.message
    assert failure.value.details["provider_type"] == "idempotency_error"
    assert len(server.refunds) == 1


async def test_refunding_more_than_remains_is_invalid_with_stripes_message(
    stripe: StripeRefunds, server: PaymentServer
) -> None:
    with pytest.raises(InvalidInput) as failure:
        await stripe.refund(order("ch_3Peur12990", 20_000, currency="EUR"))

    assert "Refund amount (€200.00) is greater than unrefunded amount on charge (€129.90)" in str(
        failure.value
    )
    assert failure.value.field == "amount_minor"
    assert failure.value.details["provider_code"] == "amount_too_large"
    assert server.refunds == []


async def test_partial_refunds_add_up_to_the_charge_and_no_further(
    stripe: StripeRefunds, server: PaymentServer
) -> None:
    await stripe.refund(order("ch_3Peur12990", 10_000, currency="EUR", idempotency_key="return-7-refund-1"))
    await stripe.refund(order("ch_3Peur12990", 2_990, currency="EUR", idempotency_key="return-7-refund-2"))

    with pytest.raises(InvalidInput, match="has already been refunded") as failure:
        await stripe.refund(order("ch_3Peur12990", 1, currency="EUR", idempotency_key="return-7-refund-3"))
    assert failure.value.details["provider_code"] == "charge_already_refunded"
    assert [refund["amount"] for refund in server.refunds] == [10_000, 2_990]


async def test_an_unknown_charge_is_invalid_on_the_payment_ref(stripe: StripeRefunds) -> None:
    with pytest.raises(InvalidInput, match="No such charge: 'ch_nowhere'") as failure:
        await stripe.refund(order("ch_nowhere"))

    assert failure.value.field == "payment_ref"


async def test_a_server_error_is_unavailable_and_a_retry_with_the_same_key_refunds_once(
    stripe: StripeRefunds, server: PaymentServer
) -> None:
    server.fail_next(1, status=500)

    with pytest.raises(ServiceUnavailable, match="HTTP 500") as failure:
        await stripe.refund(order("pi_3Pusd5000"))
    assert failure.value.details["provider_status"] == 500
    receipt = await stripe.refund(order("pi_3Pusd5000"))

    assert [refund["id"] for refund in server.refunds] == [receipt.provider_refund_id]
    assert receipt.status == "succeeded"


async def test_a_hanging_server_times_out_as_unavailable(server: PaymentServer) -> None:
    server.hang_next(seconds=3)
    gateway = StripeRefunds(SecretStr(SECRET), base_url=server.url, timeout_seconds=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match=r"did not answer within 0\.3 s"):
            await gateway.refund(order("pi_3Pusd5000"))
        assert time.monotonic() - started < 1.5
        assert server.refunds == []
    finally:
        await gateway.aclose()


async def test_an_answer_lost_after_the_refund_is_found_again_by_the_retry(server: PaymentServer) -> None:
    server.hang_next(seconds=3, after_refund=True)
    gateway = StripeRefunds(SecretStr(SECRET), base_url=server.url, timeout_seconds=0.5)
    try:
        with pytest.raises(ServiceUnavailable, match="retry with the same key"):
            await gateway.refund(order("pi_3Pusd5000"))
        receipt = await gateway.refund(order("pi_3Pusd5000"))
    finally:
        await gateway.aclose()

    assert [refund["id"] for refund in server.refunds] == [receipt.provider_refund_id]
    assert receipt.replayed


async def test_an_unreachable_server_is_unavailable() -> None:
    gateway = StripeRefunds(SecretStr(SECRET), base_url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    try:
        with pytest.raises(ServiceUnavailable, match="unreachable"):
            await gateway.refund(order("pi_3Pusd5000"))
    finally:
        await gateway.aclose()


async def test_a_wrong_key_is_refused_without_showing_it(server: PaymentServer) -> None:
    wrong = "sk_test_51Hq8Zx9WrongPaymentsKey0000"
    gateway = StripeRefunds(SecretStr(wrong), base_url=server.url)
    try:
        with pytest.raises(ServiceUnavailable, match="AFTERSAIL_PAYMENTS_API_KEY") as failure:
            await gateway.refund(order("pi_3Pusd5000"))
    finally:
        await gateway.aclose()

    assert failure.value.details["provider_status"] == 401
    assert wrong not in str(failure.value) and SECRET not in str(failure.value)
    assert server.refunds == []


@pytest.mark.parametrize(("stripe_status", "ours"), [("pending", "pending"), ("requires_action", "pending")])
async def test_a_refund_stripe_has_not_finished_is_pending(
    stripe: StripeRefunds, server: PaymentServer, stripe_status: str, ours: str
) -> None:
    server.behaviour.refund_status = stripe_status

    assert (await stripe.refund(order("pi_3Pusd5000"))).status == ours


def test_an_order_is_checked_before_any_request() -> None:
    with pytest.raises(InvalidInput) as failure:
        order("pi_3Pusd5000", 0)
    assert failure.value.field == "amount_minor"
    with pytest.raises(InvalidInput, match="3-letter ISO code"):
        order("pi_3Pusd5000", currency="usd")
    with pytest.raises(InvalidInput) as failure:
        order("pi_3Pusd5000", idempotency_key="")
    assert failure.value.field == "idempotency_key"


async def test_manual_refunds_are_pending_under_an_id_the_key_decides() -> None:
    gateway: PaymentGateway = ManualRefunds()

    first = await gateway.refund(order("ord-A-1001"))
    retried = await gateway.refund(order("ord-A-1001"))
    other = await gateway.refund(order("ord-A-1001", idempotency_key="return-42-refund-2"))

    assert first == retried
    assert (first.provider, first.status, first.amount_minor, first.currency) == (
        "manual",
        "pending",
        1500,
        "USD",
    )
    assert first.provider_refund_id.startswith("manual_") and len(first.provider_refund_id) <= 40
    assert other.provider_refund_id != first.provider_refund_id


def payment_settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


async def test_settings_choose_the_gateway(server: PaymentServer) -> None:
    assert isinstance(gateway_from_settings(payment_settings()), ManualRefunds)

    settings = payment_settings(
        payments_provider="stripe", payments_base_url=server.url, payments_api_key=SECRET
    )
    gateway = gateway_from_settings(settings)
    try:
        assert isinstance(gateway, StripeRefunds)
        assert (await gateway.refund(order("pi_3Pusd5000"))).provider == "stripe"
    finally:
        await gateway.aclose()


def test_stripe_without_a_key_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValidationError, match="AFTERSAIL_PAYMENTS_API_KEY"):
        payment_settings(payments_provider="stripe")
    with pytest.raises(ValidationError, match="AFTERSAIL_PAYMENTS_API_KEY"):
        payment_settings(payments_provider="stripe", payments_api_key="")
    with pytest.raises(ValidationError):
        payment_settings(payments_provider="paypal")


def test_the_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSAIL_PAYMENTS_PROVIDER", "stripe")
    monkeypatch.setenv("AFTERSAIL_PAYMENTS_API_KEY", SECRET)
    monkeypatch.setenv("AFTERSAIL_PAYMENTS_BASE_URL", "http://127.0.0.1:12111")

    settings = payment_settings()

    assert settings.payments_provider == "stripe"
    assert settings.payments_base_url == "http://127.0.0.1:12111"
    assert settings.payments_api_key is not None and settings.payments_api_key.get_secret_value() == SECRET


async def test_the_secret_key_never_prints(server: PaymentServer) -> None:
    settings = payment_settings(
        payments_provider="stripe", payments_base_url=server.url, payments_api_key=SECRET
    )
    gateway = gateway_from_settings(settings)
    try:
        for shown in (repr(settings), str(settings), repr(gateway), str(gateway), repr(vars(settings))):
            assert SECRET not in shown
        assert server.url in repr(gateway)
    finally:
        await gateway.aclose()
