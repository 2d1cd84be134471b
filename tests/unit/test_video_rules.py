"""The pure rules of inspection calls: the state machine, seats, what the pages' reports mean, when the
watchdog ends a call, bitrates for weak networks, retention bounds, the marks staff draw, the media server's
tokens and generated configuration, and how raw recordings are grouped by feed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aftersail.kit.errors import IllegalTransition, InvalidInput
from aftersail.video.janus_server import JanusLayout, write_config
from aftersail.video.media import sign_token
from aftersail.video.recording import find_segments
from aftersail.video.rules import (
    RECONNECT_GRACE,
    SEAT_SILENCE,
    TRANSITIONS,
    WEAK_NETWORK_BITRATE,
    CallStatus,
    EndReason,
    Seat,
    SeatState,
    bitrate_for,
    is_abandoned,
    retention_days,
    seat_taken_by_other,
    status_for_media,
    transition,
)
from aftersail.video.service import check_marks

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("current", list(CallStatus))
def test_every_move_outside_the_table_is_refused_naming_both_states(current: CallStatus) -> None:
    for target in CallStatus:
        if target in TRANSITIONS[current]:
            assert transition(current, target) is target
        else:
            with pytest.raises(IllegalTransition) as raised:
                transition(current, target)
            assert current.value in raised.value.message and target.value in raised.value.message


def test_an_ended_call_goes_nowhere_and_every_live_one_can_end() -> None:
    assert TRANSITIONS[CallStatus.ENDED] == frozenset()
    assert all(CallStatus.ENDED in TRANSITIONS[s] for s in CallStatus if s is not CallStatus.ENDED)


def test_a_seat_is_refused_only_to_someone_else_while_its_holder_is_heard_from() -> None:
    held = SeatState("phone-a", NOW - timedelta(seconds=3), True)
    assert seat_taken_by_other(held, "phone-b", NOW)  # a third participant
    assert not seat_taken_by_other(held, "phone-a", NOW)  # the same page coming back
    assert not seat_taken_by_other(held, "phone-b", NOW + SEAT_SILENCE)  # its holder went silent
    assert not seat_taken_by_other(SeatState("", None, False), "phone-b", NOW)  # nobody sat there yet


def test_the_call_is_connected_when_both_sides_have_media_and_reconnects_when_one_loses_it() -> None:
    up, down = SeatState("a", NOW, True), SeatState("b", NOW, False)
    assert status_for_media(CallStatus.RINGING, up, up) is CallStatus.CONNECTED
    assert status_for_media(CallStatus.RINGING, up, down) is CallStatus.RINGING
    assert status_for_media(CallStatus.CONNECTED, up, down) is CallStatus.RECONNECTING
    assert status_for_media(CallStatus.RECONNECTING, up, up) is CallStatus.CONNECTED
    assert status_for_media(CallStatus.ENDED, up, up) is CallStatus.ENDED


def test_the_watchdog_ends_an_unanswered_link_and_a_reconnect_that_never_comes_back() -> None:
    expires = NOW + timedelta(hours=24)
    assert is_abandoned(CallStatus.RINGING, NOW, expires, NOW) is None
    assert is_abandoned(CallStatus.RINGING, NOW, expires, expires) is EndReason.NOT_ANSWERED
    assert is_abandoned(CallStatus.RECONNECTING, NOW, expires, NOW + RECONNECT_GRACE / 2) is None
    assert is_abandoned(CallStatus.RECONNECTING, NOW, expires, NOW + RECONNECT_GRACE) is EndReason.DROPPED
    assert is_abandoned(CallStatus.CONNECTED, NOW, expires, NOW + timedelta(days=2)) is None


@pytest.mark.parametrize(
    ("effective_type", "downlink", "expected"),
    [
        ("4g", 10.0, 1_000_000),
        ("3g", 1.5, WEAK_NETWORK_BITRATE),
        ("2g", None, WEAK_NETWORK_BITRATE),
        ("4g", 0.4, WEAK_NETWORK_BITRATE),  # says 4g, measures a weak link
        ("", None, 1_000_000),  # the browser does not say (Safari): the room's cap
    ],
)
def test_a_weak_network_gets_a_lower_bitrate(
    effective_type: str, downlink: float | None, expected: int
) -> None:
    assert bitrate_for(effective_type, downlink, 1_000_000) == expected
    assert bitrate_for(effective_type, downlink, 200_000) == 200_000  # never above the room's cap


def test_retention_is_the_tenants_setting_within_bounds() -> None:
    assert retention_days(None) == 180
    assert retention_days({"video": {"retention_days": 30}}) == 30
    assert retention_days({"video": {"retention_days": 1}}) == 7
    assert retention_days({"video": {"retention_days": 10**6}}) == 3650
    assert retention_days({"video": {"retention_days": True}}) == 180


def test_marks_are_rects_or_circles_inside_the_frame() -> None:
    marks = check_marks([{"shape": "rect", "x": 0.1, "y": 0.2, "w": 0.3, "h": 0.25}])
    assert marks == [{"shape": "rect", "x": 0.1, "y": 0.2, "w": 0.3, "h": 0.25}]
    for bad in (
        [{"shape": "arrow", "x": 0, "y": 0, "w": 1, "h": 1}],
        [{"shape": "rect", "x": 1.5, "y": 0, "w": 0.1, "h": 0.1}],
        [{"shape": "rect", "x": 0.1, "y": 0.1, "w": "wide", "h": 0.1}],
        [{"shape": "rect", "x": 0.1, "y": 0.1, "w": 0.1, "h": 0.1}] * 21,
        "rect",
    ):
        with pytest.raises(InvalidInput) as raised:
            check_marks(bad)
        assert raised.value.details["field"] == "marks"


def test_media_tokens_carry_their_expiry_and_plugins_and_an_hmac_janus_can_check() -> None:
    token = sign_token("s3cret", ("janus.plugin.videoroom",), 1_900_000_000)
    data, _, mac = token.partition(":")
    assert data == "1900000000,janus,janus.plugin.videoroom"
    expected = hmac.new(b"s3cret", data.encode(), hashlib.sha1).digest()
    assert base64.b64decode(mac) == expected


def test_the_generated_janus_configuration_keeps_only_what_calls_need(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for folder, names in (
        ("plugins", ["libjanus_videoroom.so", "libjanus_echotest.so", "libjanus_sip.so"]),
        ("transports", ["libjanus_websockets.so", "libjanus_http.so", "libjanus_mqtt.so"]),
    ):
        (lib / folder).mkdir(parents=True)
        for name in names:
            (lib / folder / name).write_bytes(b"")
    layout = JanusLayout(
        lib_dir=lib,
        ws_port=18188,
        http_port=18088,
        token_secret="tok",
        admin_key="adm",
        public_ip="203.0.113.9",
    )
    folder = write_config(tmp_path / "config", layout)
    main = (folder / "janus.jcfg").read_text()
    assert "token_auth = true" in main and 'token_auth_secret = "tok"' in main
    assert 'disable = "libjanus_sip.so"' in main and 'disable = "libjanus_mqtt.so"' in main
    assert 'nat_1_1_mapping = "203.0.113.9"' in main
    websockets = (folder / "janus.transport.websockets.jcfg").read_text()
    assert "ws_port = 18188" in websockets and 'ws_ip = "127.0.0.1"' in websockets
    assert 'admin_key = "adm"' in (folder / "janus.plugin.videoroom.jcfg").read_text()


def test_raw_recordings_are_grouped_by_feed_and_side(tmp_path: Path) -> None:
    for name in (
        "videoroom-7-user-11-1796329634955800-audio-0.mjr",
        "videoroom-7-user-11-1796329634955876-video-1.mjr",
        "videoroom-7-user-22-1796329635282466-audio-0.mjr",
        "videoroom-7-user-22-1796329635282532-video-1.mjr",
        "videoroom-7-user-33-1796329639000000-video-1.mjr",  # the buyer again, after a reconnect
        "notes.txt",
    ):
        (tmp_path / name).write_bytes(b"x")
    segments = find_segments(tmp_path, {11: Seat.STAFF, 22: Seat.BUYER, 33: Seat.BUYER})
    assert [(s.feed, s.seat) for s in segments] == [(11, Seat.STAFF), (22, Seat.BUYER), (33, Seat.BUYER)]
    assert segments[1].video is not None and segments[1].audio is not None
    assert segments[2].audio is None
