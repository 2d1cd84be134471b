"""Photo fingerprints: copies of a picture match, different pictures don't, EXIF dates and their zones are
read back, capture dates are judged against the order, and bad bytes are rejected without decoding them."""

from __future__ import annotations

import io
import itertools
import random
import struct
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from PIL import ExifTags, Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from aftersail.assistant.photos import (
    FUTURE_TOLERANCE,
    MAX_PHOTO_BYTES,
    REUSE_MAX_DISTANCE,
    TAKEN_AT_TOLERANCE,
    DateFinding,
    PhotoFingerprint,
    PhotoRejected,
    Reuse,
    check_taken_at,
    find_reuse,
    fingerprint_photo,
    hash_distance,
)

# Tags (EXIF 2.32).
DATE_TIME, DATE_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 306, 36867, 36881
MAKE, MODEL, ORIENTATION = 271, 272, 274

SEEDS = range(10)


def synthetic_photo(seed: int, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A stand-in for a photo: a two-colour gradient in a random direction under a dozen random shapes,
    softened and grained. Different seeds give pictures with nothing in common."""
    rng = random.Random(seed)
    width, height = size
    ramp = Image.linear_gradient("L").resize(size)
    ramp = ramp.rotate(rng.uniform(0, 360), resample=Image.Resampling.BICUBIC, fillcolor=128)
    picture = ImageOps.colorize(ramp, _colour(rng), _colour(rng))
    draw = ImageDraw.Draw(picture)
    for _ in range(rng.randint(10, 16)):
        x, y = rng.randrange(width), rng.randrange(height)
        box = (x, y, x + rng.randint(width // 10, width // 2), y + rng.randint(height // 10, height // 2))
        match rng.choice(("ellipse", "rectangle", "polygon")):
            case "ellipse":
                draw.ellipse(box, fill=_colour(rng))
            case "rectangle":
                draw.rectangle(box, fill=_colour(rng))
            case _:
                corners = [(rng.randrange(width), rng.randrange(height)) for _ in range(rng.randint(3, 6))]
                draw.polygon(corners, fill=_colour(rng))
    picture = picture.filter(ImageFilter.GaussianBlur(1.5))
    grain = Image.frombytes("L", size, rng.randbytes(width * height)).convert("RGB")
    return Image.blend(picture, grain, 0.12)


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def encode(picture: Image.Image, format: str = "JPEG", **params: object) -> bytes:
    out = io.BytesIO()
    picture.save(out, format, **params)
    return out.getvalue()


@cache
def original(seed: int) -> bytes:
    """The photo as the buyer's phone saved it."""
    return encode(synthetic_photo(seed), quality=92)


@cache
def _decoded(seed: int) -> Image.Image:
    return Image.open(io.BytesIO(original(seed))).convert("RGB")


def _crop(left: float, top: float, right: float, bottom: float) -> Callable[[Image.Image], bytes]:
    """Cuts the given fractions off each edge."""

    def crop(picture: Image.Image) -> bytes:
        w, h = picture.size
        return encode(
            picture.crop((round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom))))
        )

    return crop


def _rotated_by_exif(picture: Image.Image) -> bytes:
    # Pixels stored a quarter turn anticlockwise, Orientation 6 says "turn clockwise to show": the same view.
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    return encode(picture.transpose(Image.Transpose.ROTATE_90), exif=exif)


def _screenshot(picture: Image.Image) -> bytes:
    # Shown full width on a 1170-pixel phone screen, a touch brighter, saved as PNG.
    w, h = picture.size
    shown = picture.resize((1170, round(h * 1170 / w)), Image.Resampling.BICUBIC)
    return encode(ImageEnhance.Brightness(shown).enhance(1.05), "PNG", compress_level=1)


# What a photo goes through when re-sent: each must stay within REUSE_MAX_DISTANCE of the original.
COPIES: dict[str, Callable[[Image.Image], bytes]] = {
    "jpeg_quality_60": lambda p: encode(p, quality=60),
    "half_size": lambda p: encode(p.resize((p.width // 2, p.height // 2), Image.Resampling.LANCZOS)),
    "png": lambda p: encode(p, "PNG", compress_level=1),
    "webp": lambda p: encode(p, "WEBP", quality=80),
    "rotated_by_exif": _rotated_by_exif,
    "screenshot": _screenshot,
    "cropped_5pct_around": _crop(0.025, 0.025, 0.025, 0.025),
}
RE_ENCODINGS = ("jpeg_quality_60", "half_size", "png", "webp", "rotated_by_exif", "screenshot")
# 5 % cut off one side shifts the whole picture: most such copies still match, not all (see the threshold).
ONE_SIDED_CROPS: dict[str, Callable[[Image.Image], bytes]] = {
    "cropped_5pct_left": _crop(0.05, 0, 0, 0),
    "cropped_5pct_top": _crop(0, 0.05, 0, 0),
    "cropped_5pct_right": _crop(0, 0, 0.05, 0),
    "cropped_5pct_bottom": _crop(0, 0, 0, 0.05),
}


@cache
def fingerprint_of(seed: int) -> PhotoFingerprint:
    return fingerprint_photo(original(seed))


@cache
def copy_fingerprint(seed: int, copy: str) -> PhotoFingerprint:
    return fingerprint_photo({**COPIES, **ONE_SIDED_CROPS}[copy](_decoded(seed)))


def copy_distance(seed: int, copy: str) -> int:
    """The larger of the phash and dhash distances between the photo and a copy of it."""
    copied, first = copy_fingerprint(seed, copy), fingerprint_of(seed)
    assert copied.sha256 != first.sha256
    return max(hash_distance(copied.phash, first.phash), hash_distance(copied.dhash, first.dhash))


# --- reuse -----------------------------------------------------------------------------------------------


def test_the_same_bytes_are_identical() -> None:
    again = fingerprint_photo(original(0))
    assert find_reuse(again, [("claim-1", fingerprint_of(0))]) == [Reuse("claim-1", 0, identical=True)]


@pytest.mark.parametrize("copy", COPIES)
def test_a_copy_of_a_photo_is_found_as_reused(copy: str) -> None:
    for seed in SEEDS:
        [reuse] = find_reuse(copy_fingerprint(seed, copy), [("claim-1", fingerprint_of(seed))])
        assert (reuse.key, reuse.identical) == ("claim-1", False)
        assert reuse.distance == copy_distance(seed, copy) <= REUSE_MAX_DISTANCE, (seed, copy)


def test_re_encoded_copies_are_much_closer_than_cropped_ones() -> None:
    assert max(copy_distance(seed, copy) for seed in SEEDS for copy in RE_ENCODINGS) <= 4


def test_most_one_sided_crops_are_found() -> None:
    # Measured on 60 seeds: 95 % within the threshold, all within 16. On these ten: 37 of 40.
    distances = [copy_distance(seed, copy) for seed in SEEDS for copy in ONE_SIDED_CROPS]
    assert sum(distance <= REUSE_MAX_DISTANCE for distance in distances) >= 0.9 * len(distances)
    assert max(distances) <= 16


def test_different_photos_are_not_flagged_against_each_other() -> None:
    for seed in SEEDS:
        others = [(other, fingerprint_of(other)) for other in SEEDS if other != seed]
        assert find_reuse(fingerprint_of(seed), others) == []


def test_copies_and_different_photos_are_apart_by_a_margin() -> None:
    # Measured on these ten seeds: copies ≤ 12 (the trimmed one; re-encodings ≤ 4), different pictures ≥ 26.
    max_copy = max(copy_distance(seed, copy) for seed in SEEDS for copy in COPIES)
    min_different = min(
        max(
            hash_distance(fingerprint_of(a).phash, fingerprint_of(b).phash),
            hash_distance(fingerprint_of(a).dhash, fingerprint_of(b).dhash),
        )
        for a, b in itertools.combinations(SEEDS, 2)
    )
    assert max_copy <= REUSE_MAX_DISTANCE < min_different
    assert min_different - REUSE_MAX_DISTANCE >= 8


def test_rotation_is_undone_before_hashing_and_in_the_size() -> None:
    stored = Image.open(io.BytesIO(_rotated_by_exif(_decoded(0))))
    assert stored.size == (600, 800)
    rotated = copy_fingerprint(0, "rotated_by_exif")
    assert (rotated.width, rotated.height) == (800, 600)
    assert copy_distance(0, "rotated_by_exif") <= 2


def test_animated_pictures_are_fingerprinted_on_their_first_frame() -> None:
    first, second = synthetic_photo(1), synthetic_photo(2)
    animated = encode(first, "PNG", save_all=True, append_images=[second], duration=100)
    assert getattr(Image.open(io.BytesIO(animated)), "n_frames", 1) == 2
    assert fingerprint_photo(animated).phash == fingerprint_photo(encode(first, "PNG")).phash


def test_sixteen_bit_greyscale_matches_its_eight_bit_copy() -> None:
    grey = _decoded(3).convert("L")
    # Each 8-bit value v becomes 257 v (little-endian bytes v, v): the same picture on 16 bits.
    deep = Image.frombytes("I;16", grey.size, bytes(b for v in grey.tobytes() for b in (v, v)))
    assert Image.open(io.BytesIO(encode(deep, "PNG"))).mode == "I;16"
    [reuse] = find_reuse(
        fingerprint_photo(encode(deep, "PNG")), [("grey", fingerprint_photo(encode(grey, "PNG")))]
    )
    assert reuse.distance <= 2


def test_reuse_is_sorted_closest_first_with_any_key_type() -> None:
    def fingerprint(sha256: str, phash: str, dhash: str) -> PhotoFingerprint:
        return PhotoFingerprint(sha256, phash, dhash, 800, 600, "image/jpeg", None, False, None)

    photo = fingerprint("a", "0000000000000000", "0000000000000000")
    earlier = [
        (101, fingerprint("b", "00000000000000ff", "0000000000000001")),  # 8 and 1
        (102, fingerprint("c", "0000000000000003", "0000000000000003")),  # 2 and 2
        (103, fingerprint("a", "0000000000000000", "0000000000000000")),  # the same bytes
        (104, fingerprint("d", "0000000000000000", "000000000000ffff")),  # phash 0 but dhash 16: too far
        (105, fingerprint("e", "0000000000000000", "0000000000000000")),  # same hashes, other bytes
    ]
    assert find_reuse(photo, earlier) == [
        Reuse(103, 0, identical=True),
        Reuse(105, 0, identical=False),
        Reuse(102, 2, identical=False),
        Reuse(101, 8, identical=False),
    ]


def test_hash_distance() -> None:
    assert hash_distance("0f0f0f0f0f0f0f0f", "0f0f0f0f0f0f0f0f") == 0
    assert hash_distance("0000000000000000", "ffffffffffffffff") == 64
    assert hash_distance("8000000000000001", "0000000000000000") == 2
    with pytest.raises(ValueError, match="different lengths"):
        hash_distance("00", "0000")


def test_fingerprint_fields() -> None:
    fingerprint = fingerprint_of(0)
    assert len(fingerprint.sha256) == 64
    assert len(fingerprint.phash) == len(fingerprint.dhash) == 16
    int(fingerprint.phash, 16), int(fingerprint.dhash, 16)
    assert (fingerprint.width, fingerprint.height, fingerprint.media_type) == (800, 600, "image/jpeg")
    assert (fingerprint.taken_at, fingerprint.taken_at_zone_known, fingerprint.camera) == (None, False, None)


@pytest.mark.parametrize(("format", "media_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_media_type(format: str, media_type: str) -> None:
    assert fingerprint_photo(encode(synthetic_photo(0, (64, 48)), format)).media_type == media_type


# --- EXIF date and camera -------------------------------------------------------------------------------


def _with_exif(
    tags: dict[int, object], *, in_exif_ifd: dict[int, object] | None = None, format: str = "JPEG"
) -> bytes:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[tag] = value
    if in_exif_ifd:
        exif.get_ifd(ExifTags.IFD.Exif).update(in_exif_ifd)
    return encode(synthetic_photo(0, (64, 48)), format, exif=exif)


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP"])
def test_date_taken_with_its_offset_is_read_back_in_utc(format: str) -> None:
    data = _with_exif(
        {MAKE: "Apple", MODEL: "iPhone 13"},
        in_exif_ifd={DATE_TIME_ORIGINAL: "2024:05:17 14:03:22", OFFSET_TIME_ORIGINAL: "+09:00"},
        format=format,
    )
    fingerprint = fingerprint_photo(data, fallback_zone=ZoneInfo("Europe/Paris"))
    assert fingerprint.taken_at == datetime(2024, 5, 17, 5, 3, 22, tzinfo=UTC)
    assert fingerprint.taken_at.tzinfo is UTC
    assert fingerprint.taken_at_zone_known
    assert fingerprint.camera == "Apple iPhone 13"


def test_date_tags_written_in_the_first_ifd_are_read_too() -> None:
    # Some writers (and Image.Exif used naively) put DateTimeOriginal beside Make and Model.
    data = _with_exif({DATE_TIME_ORIGINAL: "2024:05:17 14:03:22", OFFSET_TIME_ORIGINAL: "-05:30"})
    assert fingerprint_photo(data).taken_at == datetime(2024, 5, 17, 19, 33, 22, tzinfo=UTC)


def test_naive_date_is_read_in_the_fallback_zone() -> None:
    data = _with_exif({}, in_exif_ifd={DATE_TIME_ORIGINAL: "2024:07:01 09:30:00"})
    in_paris = fingerprint_photo(data, fallback_zone=ZoneInfo("Europe/Paris"))
    assert in_paris.taken_at == datetime(2024, 7, 1, 7, 30, tzinfo=UTC)  # summer time, UTC+2
    assert not in_paris.taken_at_zone_known
    assert fingerprint_photo(data).taken_at == datetime(2024, 7, 1, 9, 30, tzinfo=UTC)


def test_date_original_wins_over_date_modified() -> None:
    data = _with_exif(
        {DATE_TIME: "2025:01:02 10:00:00"}, in_exif_ifd={DATE_TIME_ORIGINAL: "2024:05:17 14:03:22"}
    )
    assert fingerprint_photo(data).taken_at == datetime(2024, 5, 17, 14, 3, 22, tzinfo=UTC)
    only_modified = _with_exif({DATE_TIME: "2025:01:02 10:00:00"})
    assert fingerprint_photo(only_modified).taken_at == datetime(2025, 1, 2, 10, tzinfo=UTC)


@pytest.mark.parametrize("unset", ["0000:00:00 00:00:00", "    :  :     :  :  ", "yesterday", ""])
def test_unset_or_garbled_dates_are_no_date(unset: str) -> None:
    fingerprint = fingerprint_photo(_with_exif({}, in_exif_ifd={DATE_TIME_ORIGINAL: unset}))
    assert (fingerprint.taken_at, fingerprint.taken_at_zone_known) == (None, False)


def test_an_impossible_offset_is_ignored() -> None:
    data = _with_exif(
        {}, in_exif_ifd={DATE_TIME_ORIGINAL: "2024:05:17 14:03:22", OFFSET_TIME_ORIGINAL: "+25:00"}
    )
    fingerprint = fingerprint_photo(data)
    assert (fingerprint.taken_at, fingerprint.taken_at_zone_known) == (
        datetime(2024, 5, 17, 14, 3, 22, tzinfo=UTC),
        False,
    )


def test_camera_make_is_not_repeated_when_the_model_names_it() -> None:
    assert fingerprint_photo(_with_exif({MAKE: "Canon", MODEL: "Canon EOS R6\x00"})).camera == "Canon EOS R6"
    assert fingerprint_photo(_with_exif({MODEL: "Pixel 8"})).camera == "Pixel 8"


# --- capture date against the order ---------------------------------------------------------------------

ORDERED = datetime(2024, 5, 1, 12, tzinfo=UTC)
DELIVERED = datetime(2024, 5, 6, 15, tzinfo=UTC)
RECEIVED = datetime(2024, 5, 8, 9, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("taken_at", "delivered_at", "finding"),
    [
        (None, DELIVERED, DateFinding.NO_EXIF_DATE),
        (datetime(2023, 12, 25, tzinfo=UTC), DELIVERED, DateFinding.BEFORE_ORDER),
        (ORDERED - TAKEN_AT_TOLERANCE - SECOND, DELIVERED, DateFinding.BEFORE_ORDER),
        (ORDERED - TAKEN_AT_TOLERANCE, None, DateFinding.AFTER_ORDER),
        (ORDERED - TAKEN_AT_TOLERANCE, DELIVERED, DateFinding.BEFORE_DELIVERY),
        (datetime(2024, 5, 3, tzinfo=UTC), DELIVERED, DateFinding.BEFORE_DELIVERY),
        (DELIVERED - TAKEN_AT_TOLERANCE - SECOND, DELIVERED, DateFinding.BEFORE_DELIVERY),
        (DELIVERED - TAKEN_AT_TOLERANCE, DELIVERED, DateFinding.AFTER_ORDER),
        (datetime(2024, 5, 3, tzinfo=UTC), None, DateFinding.AFTER_ORDER),
        (datetime(2024, 5, 7, tzinfo=UTC), DELIVERED, DateFinding.AFTER_ORDER),
        (RECEIVED + FUTURE_TOLERANCE, DELIVERED, DateFinding.AFTER_ORDER),
        (RECEIVED + FUTURE_TOLERANCE + SECOND, DELIVERED, DateFinding.IN_FUTURE),
        (datetime(2030, 1, 1, tzinfo=UTC), None, DateFinding.IN_FUTURE),
    ],
)
def test_check_taken_at(
    taken_at: datetime | None, delivered_at: datetime | None, finding: DateFinding
) -> None:
    found = check_taken_at(taken_at, ordered_at=ORDERED, delivered_at=delivered_at, received_at=RECEIVED)
    assert found is finding


def test_check_taken_at_compares_instants_not_wall_clocks() -> None:
    # 20:30 in Tokyo is 11:30 UTC: half an hour before the order, inside the tolerance.
    taken_in_tokyo = datetime(2024, 5, 1, 20, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert (
        check_taken_at(taken_in_tokyo, ordered_at=ORDERED, delivered_at=None, received_at=RECEIVED)
        == "after_order"
    )


def test_check_taken_at_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware datetime for ordered_at"):
        check_taken_at(None, ordered_at=datetime(2024, 5, 1), delivered_at=None, received_at=RECEIVED)


# --- rejected bytes -------------------------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR chunk for a picture of any size, with no pixel data behind them."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def _rejected(data: bytes) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as caught:
        fingerprint_photo(data)
    assert isinstance(caught.value, ValueError)
    assert caught.value.message == str(caught.value)
    return caught.value


def test_rejects_empty_bytes() -> None:
    rejected = _rejected(b"")
    assert (rejected.reason, rejected.message) == ("not_an_image", "The file is empty.")


def test_rejects_a_text_file() -> None:
    assert _rejected(b"Dear seller, the blender arrived broken.\n").reason == "not_an_image"


def test_rejects_a_file_over_the_byte_limit_without_reading_it() -> None:
    rejected = _rejected(original(0) + bytes(MAX_PHOTO_BYTES))
    assert rejected.reason == "too_large"
    assert "the limit is 15 MB" in rejected.message


def test_rejects_a_decompression_bomb_from_its_header() -> None:
    # 60,000 × 60,000 is 3.6 gigapixels, beyond Pillow's own guard too.
    assert _rejected(_png_header(60_000, 60_000)).reason == "too_many_pixels"


def test_rejects_too_many_pixels_even_when_pillow_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # another part of the process turned Pillow's off
    rejected = _rejected(_png_header(60_000, 60_000))
    assert rejected.reason == "too_many_pixels"
    assert "60,000 × 60,000" in rejected.message
    # Under Pillow's default guard (89 MP) but over ours.
    assert _rejected(_png_header(8_000, 8_000)).reason == "too_many_pixels"


@pytest.mark.parametrize("keep", [0.5, 0.1, 200])
def test_rejects_a_truncated_jpeg(keep: float) -> None:
    data = original(0)
    cut = data[: int(len(data) * keep) if keep < 1 else int(keep)]
    assert _rejected(cut).reason == "not_an_image"


@pytest.mark.parametrize(
    "damaged",
    [
        b"\xff\xd8\xff" + bytes(100),
        b"\x89PNG\r\n\x1a\n" + bytes(40),
        b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(20),
    ],
    ids=["jpeg", "png", "webp"],
)
def test_a_damaged_header_of_an_accepted_format_is_damaged_not_unsupported(damaged: bytes) -> None:
    rejected = _rejected(damaged)
    assert (rejected.reason, rejected.message) == (
        "not_an_image",
        "The picture is damaged; please send it again.",
    )


@pytest.mark.parametrize("format", ["GIF", "BMP", "TIFF"])
def test_rejects_other_picture_formats_by_name(format: str) -> None:
    rejected = _rejected(encode(synthetic_photo(0, (64, 48)), format))
    assert rejected.reason == "unsupported_format"
    assert rejected.message.startswith(format if format != "TIFF" else "TIF")


def test_rejects_heic_when_pillow_cannot_open_it() -> None:
    heic_start = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    # Without a HEIF plugin the format is refused as such; with one, this stub is no decodable picture.
    expected = "not_an_image" if "HEIF" in Image.OPEN else "unsupported_format"
    assert _rejected(heic_start).reason == expected
