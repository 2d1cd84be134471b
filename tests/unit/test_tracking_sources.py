"""The three tracking formats read without a database: the providers' codes mapped to AfterSail's taxonomy
(every table row, the unknown ones refused), their signatures as the providers specify them, and realistic
payloads turned into events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from aftersail.kit.errors import Unauthenticated
from aftersail.shipping.normalized import Source
from aftersail.shipping.rules import SUB_STATUSES, Status, SubStatus
from aftersail.shipping.sources import UnreadablePayload, aftership, formats, generic, seventeen_track
from tests.tracking_payloads import (
    aftership_body,
    aftership_checkpoint,
    customs_hold_story,
    generic_body,
    seventeen_event,
    seventeen_push,
    seventeen_tracking,
)

S, SUB = Status, SubStatus


# --- mapping tables -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subtag", "expected"),
    [
        ("InTransit_005", (S.CUSTOMS, SUB.CUSTOMS_RELEASED)),
        ("InTransit_006", (S.CUSTOMS, SUB.NONE)),
        ("Exception_002", (S.EXCEPTION, SUB.ADDRESS_ISSUE)),
        ("Exception_004", (S.CUSTOMS, SUB.CUSTOMS_HELD)),
        ("Exception_006", (S.CUSTOMS, SUB.DUTIES_DUE)),
        ("Exception_007", (S.EXCEPTION, SUB.ADDRESS_ISSUE)),
        ("Exception_010", (S.EXCEPTION, SUB.RETURNED_TO_SENDER)),
        ("Exception_011", (S.EXCEPTION, SUB.RETURNED_TO_SENDER)),
        ("Exception_012", (S.EXCEPTION, SUB.DAMAGED)),
        ("Exception_013", (S.EXCEPTION, SUB.LOST)),
        ("Exception_018", (S.CUSTOMS, SUB.DOCUMENTS_REQUIRED)),
        ("Exception_005", (S.EXCEPTION, SUB.NONE)),
    ],
)
def test_aftership_subtags_that_refine(subtag: str, expected: tuple[Status, SubStatus]) -> None:
    assert aftership.normalize(subtag.split("_")[0], subtag, "c") == expected


@pytest.mark.parametrize(
    ("tag", "subtag", "status"),
    [
        ("Pending", "Pending_001", S.PENDING),
        ("InfoReceived", "InfoReceived_001", S.INFO_RECEIVED),
        ("InTransit", "InTransit_007", S.IN_TRANSIT),
        ("InTransit", "InTransit_099", S.IN_TRANSIT),  # a new in-transit detail: still in transit
        ("OutForDelivery", "OutForDelivery_004", S.OUT_FOR_DELIVERY),
        ("AttemptFail", "AttemptFail_001", S.ATTEMPT_FAILED),
        ("AvailableForPickup", "AvailableForPickup_001", S.AVAILABLE_FOR_PICKUP),
        ("Delivered", "Delivered_005", S.DELIVERED),
        ("Expired", "Expired_001", S.EXPIRED),
        ("Exception", None, S.EXCEPTION),  # the tag alone: AfterShip said no more
    ],
)
def test_aftership_tags_whose_details_do_not_matter(tag: str, subtag: str | None, status: Status) -> None:
    assert aftership.normalize(tag, subtag, "c") == (status, SUB.NONE)


@pytest.mark.parametrize(
    ("tag", "subtag", "field"),
    [
        ("Exception", "Exception_099", "c.subtag"),  # an exception nobody mapped: never guessed
        ("Lost", None, "c.tag"),
        (None, "Customs_001", "c.subtag"),
        ("InTransit", "Exception_013", "c.subtag"),  # a subtag of another tag
    ],
)
def test_aftership_unknown_codes_are_refused(tag: str | None, subtag: str | None, field: str) -> None:
    with pytest.raises(UnreadablePayload) as caught:
        aftership.normalize(tag, subtag, "c")
    assert caught.value.field == field


def test_every_17track_sub_status_is_mapped_to_a_valid_pair() -> None:
    documented = {
        "NotFound": 2, "InfoReceived": 1, "InTransit": 7, "Expired": 1, "AvailableForPickup": 1,
        "OutForDelivery": 1, "DeliveryFailure": 5, "Delivered": 1, "Exception": 11,
    }  # fmt: skip
    counted = {main: 0 for main in documented}
    for code, (status, sub_status) in seventeen_track.SUB_STATUSES.items():
        counted[code.split("_")[0]] += 1
        assert sub_status in SUB_STATUSES.get(status, {SUB.NONE})
    assert counted == documented and len(seventeen_track.SUB_STATUSES) == 30


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("InTransit_CustomsProcessing", (S.CUSTOMS, SUB.NONE)),
        ("InTransit_CustomsRequiringInformation", (S.CUSTOMS, SUB.DOCUMENTS_REQUIRED)),
        ("InTransit_CustomsReleased", (S.CUSTOMS, SUB.CUSTOMS_RELEASED)),
        ("Exception_Security", (S.CUSTOMS, SUB.CUSTOMS_HELD)),
        ("Exception_Returning", (S.EXCEPTION, SUB.RETURNED_TO_SENDER)),
        ("Exception_Returned", (S.EXCEPTION, SUB.RETURNED_TO_SENDER)),
        ("Exception_Lost", (S.EXCEPTION, SUB.LOST)),
        ("Exception_Damage", (S.EXCEPTION, SUB.DAMAGED)),
        ("DeliveryFailure_InvalidAddress", (S.EXCEPTION, SUB.ADDRESS_ISSUE)),
        ("DeliveryFailure_NoBody", (S.ATTEMPT_FAILED, SUB.NONE)),
        ("AvailableForPickup_Other", (S.AVAILABLE_FOR_PICKUP, SUB.NONE)),
        ("Expired_Other", (S.EXPIRED, SUB.NONE)),
        ("InTransit_TransportArrived", (S.IN_TRANSIT, SUB.NONE)),  # seen in the wild, not documented
    ],
)
def test_17track_sub_statuses(code: str, expected: tuple[Status, SubStatus]) -> None:
    assert seventeen_track.normalize(code, "e") == expected


@pytest.mark.parametrize("code", ["Exception_Confiscated", "Customs_Held", "", "Exception"])
def test_17track_unknown_codes_are_refused(code: str) -> None:
    with pytest.raises(UnreadablePayload, match="not in AfterSail's table"):
        seventeen_track.normalize(code, "e")


# --- signatures -------------------------------------------------------------------------------------------


BODY = b'{"event":"tracking_update","msg":{"tracking_number":"1Z999AA10123456784"}}'


def test_aftership_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    expected = base64.b64encode(hmac.new(b"as-secret", BODY, hashlib.sha256).digest()).decode()
    assert aftership.sign("as-secret", BODY) == expected and len(expected) == 44
    aftership.check_signature("as-secret", BODY, expected)
    aftership.check_signature("as-secret", BODY, f"  {expected} ")
    for presented in (
        None,
        "",
        expected.lower(),
        aftership.sign("other", BODY),
        hashlib.sha256(BODY).hexdigest(),
    ):
        with pytest.raises(Unauthenticated):
            aftership.check_signature("as-secret", BODY, presented)
    with pytest.raises(Unauthenticated):
        aftership.check_signature("as-secret", BODY + b" ", expected)


def test_17track_sign_is_sha256_hex_of_body_slash_key() -> None:
    expected = hashlib.sha256(BODY + b"/" + b"17-key").hexdigest()
    assert seventeen_track.sign("17-key", BODY) == expected
    seventeen_track.check_signature("17-key", BODY, expected)
    seventeen_track.check_signature("17-key", BODY, expected.upper())  # hex compares in either case
    not_hmac = hmac.new(b"17-key", BODY, hashlib.sha256).hexdigest()
    for presented in (None, not_hmac, hashlib.sha256(BODY).hexdigest(), seventeen_track.sign("other", BODY)):
        with pytest.raises(Unauthenticated):
            seventeen_track.check_signature("17-key", BODY, presented)


def test_generic_signature_is_prefixed_hex_hmac() -> None:
    expected = "sha256=" + hmac.new(b"g-secret", BODY, hashlib.sha256).hexdigest()
    assert generic.sign("g-secret", BODY) == expected
    generic.check_signature("g-secret", BODY, expected)
    for presented in (
        None,
        expected.removeprefix("sha256="),
        "sha1=" + expected[7:],
        generic.sign("x", BODY),
    ):
        with pytest.raises(Unauthenticated):
            generic.check_signature("g-secret", BODY, presented)


# --- payloads ---------------------------------------------------------------------------------------------


def test_an_aftership_customs_hold_story_becomes_three_events() -> None:
    updates = aftership.parse(customs_hold_story("JD014600006281470133"))
    assert [(u.status, u.sub_status) for u in updates] == [
        (S.IN_TRANSIT, SUB.NONE),
        (S.CUSTOMS, SUB.NONE),
        (S.CUSTOMS, SUB.CUSTOMS_HELD),
    ]
    held = updates[-1]
    assert held.occurred_at == datetime(2025, 3, 3, 13, 5, tzinfo=UTC)
    assert (held.tracking_number, held.carrier, held.source) == (
        "JD014600006281470133",
        "dhl",
        Source.AFTERSHIP,
    )
    assert held.description == "Clearance delay - held by customs" and held.location == "Leipzig, DE"
    assert held.raw["subtag"] == "Exception_004" and held.raw["raw_tag"] == "PO"  # the checkpoint as it came


def test_aftership_local_times_without_offset_are_read_as_utc_and_location_is_built() -> None:
    checkpoint = aftership_checkpoint("2025-03-05T10:20:00", "Delivered", "Delivered_003", "Signed by Vogel")
    checkpoint["location"] = None
    (update,) = aftership.parse(aftership_body("JD1", [checkpoint]))
    assert update.occurred_at == datetime(2025, 3, 5, 10, 20, tzinfo=UTC)
    assert update.location == "Leipzig, Germany" and update.raw["checkpoint_time"] == "2025-03-05T10:20:00"


def test_an_aftership_tracking_without_checkpoints_has_no_events_and_replays_give_the_same_fingerprints() -> (
    None
):
    assert aftership.parse(aftership_body("JD2", [])) == []
    body = customs_hold_story("JD3")
    assert [u.fingerprint for u in aftership.parse(body)] == [u.fingerprint for u in aftership.parse(body)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (json.dumps({"event": "return.approved", "msg": {}}).encode(), "event"),
        (json.dumps({"event": "tracking_update"}).encode(), "msg"),
        (
            json.dumps({"event": "tracking_update", "msg": {"tracking_number": ""}}).encode(),
            "msg.tracking_number",
        ),
        (
            json.dumps({"event": "tracking_update", "msg": {"tracking_number": "X" * 70}}).encode(),
            "msg.tracking_number",
        ),
        (
            aftership_body("JD4", [aftership_checkpoint("yesterday", "InTransit", "InTransit_001", "x")]),
            "msg.checkpoints.0.checkpoint_time",
        ),
        (
            aftership_body(
                "JD5", [aftership_checkpoint("2025-03-01T10:00:00Z", "Exception", "Exception_014", "x")]
            ),
            "msg.checkpoints.0.subtag",
        ),
    ],
)
def test_unreadable_aftership_payloads_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(UnreadablePayload) as caught:
        aftership.parse(body)
    assert caught.value.field == field and caught.value.code == "unreadable_payload"


def test_a_17track_push_becomes_one_event_per_provider_event() -> None:
    events = [
        seventeen_event(
            "2025-03-05T08:02:00Z", "2025-03-05T09:02:00+01:00", "OutForDelivery_Other", "En reparto"
        ),
        seventeen_event(
            None, "2025-03-04T18:30:00+01:00", "InTransit_CustomsReleased", "Despachado de aduanas"
        ),
        seventeen_event(None, "2025-03-03T07:45:00", "InTransit_CustomsProcessing", "En aduanas"),
    ]
    updates = seventeen_track.parse(seventeen_push("ES8830041207", events))
    assert [(u.status, u.sub_status) for u in updates] == [
        (S.OUT_FOR_DELIVERY, SUB.NONE),
        (S.CUSTOMS, SUB.CUSTOMS_RELEASED),
        (S.CUSTOMS, SUB.NONE),
    ]
    assert [u.occurred_at.isoformat() for u in updates] == [
        "2025-03-05T08:02:00+00:00",
        "2025-03-04T17:30:00+00:00",
        "2025-03-03T07:45:00+00:00",  # no offset given: read as UTC
    ]
    first = updates[0]
    assert (first.carrier, first.location, first.source) == ("190271", "Madrid, ES", Source.SEVENTEEN_TRACK)
    assert first.raw == events[0]


def test_17track_stopped_and_pull_answers() -> None:
    assert seventeen_track.parse(seventeen_push("ES1", [], event="TRACKING_STOPPED")) == []
    answer = {
        "code": 0,
        "data": {
            "accepted": [
                seventeen_tracking(
                    "ES2", [seventeen_event("2025-03-05T08:02:00Z", None, "Delivered_Other", "Entregado")]
                ),
                {"number": "ES3", "carrier": 190271, "track_info": None},
            ],
            "rejected": [
                {"number": "ES4", "error": {"code": -18019909, "message": "No tracking information"}}
            ],
        },
    }
    (update,) = seventeen_track.parse_answer(json.dumps(answer).encode())
    assert (update.tracking_number, update.status) == ("ES2", S.DELIVERED)
    with pytest.raises(UnreadablePayload, match="code"):
        seventeen_track.parse_answer(json.dumps({"code": -18010002, "data": {}}).encode())
    assert formats()[seventeen_track.POLL_SOURCE].parse is seventeen_track.parse_answer


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"event": "TRACKING_PAUSED", "data": {}}, "event"),
        ({"event": "TRACKING_UPDATED", "data": []}, "data"),
        ({"event": "TRACKING_UPDATED", "data": {"carrier": 3011}}, "data.number"),
    ],
)
def test_unreadable_17track_pushes(document: dict[str, object], field: str) -> None:
    with pytest.raises(UnreadablePayload) as caught:
        seventeen_track.parse(json.dumps(document).encode())
    assert caught.value.field == field


def test_a_17track_event_with_an_unknown_code_or_no_time_is_refused() -> None:
    unknown = seventeen_push(
        "ES5", [seventeen_event("2025-03-05T08:02:00Z", None, "Exception_Confiscated", "x")]
    )
    with pytest.raises(UnreadablePayload) as caught:
        seventeen_track.parse(unknown)
    assert caught.value.field == "data.track_info.tracking.providers.0.events.0.sub_status"
    timeless = seventeen_push("ES6", [seventeen_event(None, None, "InTransit_Other", "x")])
    with pytest.raises(UnreadablePayload, match="neither time_utc nor time_iso"):
        seventeen_track.parse(timeless)


GOOD = {
    "tracking_number": "YD 7731-0042",
    "carrier": "Yodel",
    "occurred_at": "2025-03-04T09:12:00+00:00",
    "status": "customs",
    "sub_status": "duties_due",
    "description": "Import VAT to pay before delivery",
    "location": "Manchester, GB",
}


def test_the_generic_format() -> None:
    (update,) = generic.parse(generic_body(GOOD))
    assert (update.status, update.sub_status, update.carrier) == (S.CUSTOMS, SUB.DUTIES_DUE, "yodel")
    assert update.tracking_number == "YD 7731-0042" and update.raw == GOOD  # no `raw`: the event itself
    with_raw = generic.parse(generic_body(GOOD | {"raw": {"code": "IMP-12"}, "sub_status": None}))
    assert with_raw[0].raw == {"code": "IMP-12"} and with_raw[0].sub_status is SUB.NONE


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (generic_body(), "events"),
        (json.dumps({"events": [GOOD], "batch": 1}).encode(), "batch"),
        (generic_body(GOOD | {"colour": "red"}), "events.0.colour"),
        (generic_body({k: v for k, v in GOOD.items() if k != "status"}), "events.0.status"),
        (generic_body(GOOD | {"status": "held"}), "events.0.status"),
        (generic_body(GOOD | {"status": "in_transit"}), "events.0.sub_status"),  # duties_due is customs only
        (generic_body(GOOD | {"occurred_at": "2025-03-04T09:12:00"}), "events.0.occurred_at"),
        (generic_body(GOOD | {"raw": "IMP-12"}), "events.0.raw"),
        (generic_body(GOOD | {"description": "x" * 501}), "events.0.description"),
        (json.dumps({"events": [GOOD] * 1001}).encode(), "events"),
    ],
)
def test_unreadable_generic_payloads(body: bytes, field: str) -> None:
    with pytest.raises(UnreadablePayload) as caught:
        generic.parse(body)
    assert caught.value.field == field
