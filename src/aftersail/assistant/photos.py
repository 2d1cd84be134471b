"""Fingerprints of the photos buyers send as claim evidence: perceptual hashes that still match when a photo
is re-sent resized, recompressed, re-encoded, slightly cropped or rotated, and the EXIF capture date checked
against the order's dates. Pure functions over bytes and datetimes; the caller stores and shows the results.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

import filetype
import imagehash
from PIL import ExifTags, Image, UnidentifiedImageError

MAX_PHOTO_BYTES = 15 * 1024 * 1024
# A 50 MP picture takes 150 MB decoded as RGB. Checked against the header's size before any pixel is
# decoded, whatever `Image.MAX_IMAGE_PIXELS` another part of the process has set.
MAX_PIXELS = 50_000_000

# Largest Hamming distance, on the phash and on the dhash (64 bits each), at which two photos are the same
# picture. Measured with the synthetic photos of tests/unit/test_photos.py, 60 pictures per transformation,
# as the larger of the two distances:
# - re-sent copies (JPEG quality 60, half size, PNG, WebP, EXIF rotation, full-width screenshot): ≤ 4;
# - 5 % of width and height trimmed around the picture: ≤ 12; 5 % off one side only: ≤ 16, 95 % within 12;
# - different pictures: ≥ 20 over 4,950 pairs (≥ 16 on the phash alone);
# - real photos (scikit-learn's two samples, a photo of a circuit board): ≥ 30 apart; 5 % crops of them
#   ≤ 12; a colour-graded copy of the board photo with a highlight box drawn on it: 10.
# One photo is compared with every earlier photo of the store, thousands of pairs per upload, so the limit
# stays well below the closest different pictures rather than reaching for the last one-sided crops.
REUSE_MAX_DISTANCE = 12

# A photo dated this much before the order (or the delivery) is still taken as after it: camera clocks drift,
# travellers leave them on another zone, and a naive EXIF time read in the buyer's zone can be off by the
# difference between the camera's zone and theirs.
TAKEN_AT_TOLERANCE = timedelta(hours=12)
# A date this far after the photo reached us is a wrong camera clock (or an edited EXIF), not a photo.
FUTURE_TOLERANCE = timedelta(days=1)

# Pillow format → media type; only these formats' parsers are given the bytes. MPO is how Pillow names a
# camera JPEG carrying extra frames (depth map, preview): the JPEG parser opens it. HEIF is there only when a
# plugin such as pillow-heif registered it.
_MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}
# JPEGs are decoded at 1/2, 1/4 or 1/8 scale as long as both sides stay at least this long: the hashes look
# at 32 × 32 pixels, and a 12 MP photo then decodes into 1/64 of the memory in half the time (0.06 s).
_DECODE_SIDE = 256

_EXIF_DATETIME = re.compile(r"\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"\s*([+-])(\d{2}):(\d{2})\s*$")
# Tag numbers (EXIF 2.32): where the capture time is, most trustworthy first, each with its UTC offset.
# DateTime (306) is when the file was last changed, so an edited copy carries the editing date.
_DATE_TAGS = ((36867, 36881), (36868, 36882), (306, 36880))
_MAKE, _MODEL, _ORIENTATION = 271, 272, 274
# EXIF orientation → the transposition that shows the picture upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

RejectReason = Literal["too_large", "not_an_image", "unsupported_format", "too_many_pixels"]
K = TypeVar("K")


class PhotoRejected(ValueError):
    """Bytes that cannot be fingerprinted; `reason` is stable, the message is for the person who sent them."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason: RejectReason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class PhotoFingerprint:
    """What is kept of one photo. `width` and `height` are as shown, after the EXIF orientation.

    `taken_at` is aware, in UTC. `taken_at_zone_known` is False when the EXIF time had no offset and was read
    in the fallback zone (or when there is no `taken_at`)."""

    sha256: str
    phash: str
    dhash: str
    width: int
    height: int
    media_type: str
    taken_at: datetime | None
    taken_at_zone_known: bool
    camera: str | None


@dataclass(frozen=True, slots=True)
class Reuse(Generic[K]):
    """An earlier photo that is the same picture: byte for byte (`identical`), or within REUSE_MAX_DISTANCE.

    `distance` is the larger of the phash and dhash distances (0 when identical)."""

    key: K
    distance: int
    identical: bool


class DateFinding(StrEnum):
    """What the EXIF capture date says about a claim photo. AFTER_ORDER is the unsuspicious one: taken after
    the order and, when the delivery date is known, after the delivery."""

    NO_EXIF_DATE = "no_exif_date"
    BEFORE_ORDER = "before_order"
    BEFORE_DELIVERY = "before_delivery"
    AFTER_ORDER = "after_order"
    IN_FUTURE = "in_future"


def fingerprint_photo(data: bytes, *, fallback_zone: ZoneInfo | None = None) -> PhotoFingerprint:
    """Hashes, size, type, capture date and camera of a JPEG, PNG or WebP photo (HEIC if Pillow can open it).

    A naive EXIF time is read in `fallback_zone` (UTC when None), usually the buyer's zone. Animated pictures
    are fingerprinted on their first frame. Raises PhotoRejected; no other error for any bytes."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRejected(
            "too_large",
            f"The photo is {len(data) / 1_048_576:.1f} MB; the limit is {MAX_PHOTO_BYTES // 1_048_576} MB.",
        )
    if not data:
        raise PhotoRejected("not_an_image", "The file is empty.")
    with _open(data) as image:
        media_type = _MEDIA_TYPES[str(image.format)]
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise _too_many_pixels(f"The picture is {width:,} × {height:,} pixels")
        try:
            greyscale = _decode_greyscale(image)
        except Exception as exc:
            # Malformed input reaches Pillow's decoders as OSError, SyntaxError, ValueError, EOFError,
            # struct.error…; Pillow's own fuzzers catch Exception for the same reason.
            raise PhotoRejected(
                "not_an_image", "The picture is damaged or incomplete; please send it again."
            ) from exc
        exif = _read_exif(image)
    orientation = exif.get(_ORIENTATION)
    if isinstance(orientation, int) and orientation in _UPRIGHT:
        greyscale = greyscale.transpose(_UPRIGHT[orientation])
        if orientation >= 5:  # a quarter turn: shown with the sides swapped
            width, height = height, width
    taken_at, zone_known = _taken_at(exif, fallback_zone or UTC)
    return PhotoFingerprint(
        sha256=hashlib.sha256(data).hexdigest(),
        phash=str(imagehash.phash(greyscale)),
        dhash=str(imagehash.dhash(greyscale)),
        width=width,
        height=height,
        media_type=media_type,
        taken_at=taken_at,
        taken_at_zone_known=zone_known,
        camera=_camera(exif),
    )


def hash_distance(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes of the same length."""
    if len(a) != len(b):
        raise ValueError(f"Hashes of different lengths cannot be compared: {a!r} and {b!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def find_reuse(photo: PhotoFingerprint, earlier: Iterable[tuple[K, PhotoFingerprint]]) -> list[Reuse[K]]:
    """The earlier photos (keyed by whatever the caller uses: claim id, attachment id) that are the same
    picture as `photo`, closest first."""
    found: list[Reuse[K]] = []
    for key, other in earlier:
        if other.sha256 == photo.sha256:
            found.append(Reuse(key, 0, identical=True))
            continue
        distance = max(hash_distance(photo.phash, other.phash), hash_distance(photo.dhash, other.dhash))
        if distance <= REUSE_MAX_DISTANCE:
            found.append(Reuse(key, distance, identical=False))
    found.sort(key=lambda reuse: (reuse.distance, not reuse.identical))
    return found


def check_taken_at(
    taken_at: datetime | None, *, ordered_at: datetime, delivered_at: datetime | None, received_at: datetime
) -> DateFinding:
    """How the photo's capture time relates to the order: before it, before the parcel arrived (a damage
    photo of an item the buyer did not have yet), after it, or after the photo reached us.

    Earlier boundaries give TAKEN_AT_TOLERANCE, the later one FUTURE_TOLERANCE; a time exactly on a
    boundary is not flagged. All datetimes must be aware."""
    for name, value in (
        ("taken_at", taken_at),
        ("ordered_at", ordered_at),
        ("delivered_at", delivered_at),
        ("received_at", received_at),
    ):
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"Expected an aware datetime for {name}, got naive {value.isoformat()}")
    if taken_at is None:
        return DateFinding.NO_EXIF_DATE
    if taken_at > received_at + FUTURE_TOLERANCE:
        return DateFinding.IN_FUTURE
    if taken_at < ordered_at - TAKEN_AT_TOLERANCE:
        return DateFinding.BEFORE_ORDER
    if delivered_at is not None and taken_at < delivered_at - TAKEN_AT_TOLERANCE:
        return DateFinding.BEFORE_DELIVERY
    return DateFinding.AFTER_ORDER


def _open(data: bytes) -> Image.Image:
    """The picture with its header read and no pixel decoded, in one of the accepted formats.

    Only the accepted formats' parsers ever see the bytes; anything else is named by sniffing."""
    Image.init()  # registers every plugin once, so that the check below sees HEIF if it is there
    formats = [name for name in _MEDIA_TYPES if name in Image.OPEN]
    try:
        return Image.open(io.BytesIO(data), formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limit (or its warning, when warnings are errors) fired while reading the header.
        raise _too_many_pixels("The picture has too many pixels") from exc
    except UnidentifiedImageError as exc:
        kind = filetype.guess(data[:8192])
        if kind is not None and kind.mime in {_MEDIA_TYPES[name] for name in formats}:
            # Its parser knew the signature and gave up on what follows.
            raise PhotoRejected("not_an_image", "The picture is damaged; please send it again.") from exc
        if kind is not None and kind.mime.startswith("image/"):
            raise PhotoRejected(
                "unsupported_format",
                f"{kind.extension.upper()} pictures cannot be read here; send the photo as {_accepted()}.",
            ) from exc
        raise PhotoRejected(
            "not_an_image", f"This file is not a picture; send a photo as {_accepted()}."
        ) from exc
    except Exception as exc:  # a header bad enough to break a parser
        raise PhotoRejected("not_an_image", "The picture is damaged; please send it again.") from exc


def _accepted() -> str:
    names = ["JPEG", "PNG", "WebP"]
    if "HEIF" in Image.OPEN:
        names.append("HEIC")
    return ", ".join(names[:-1]) + " or " + names[-1]


def _too_many_pixels(what: str) -> PhotoRejected:
    return PhotoRejected("too_many_pixels", f"{what}; the limit is {MAX_PIXELS // 1_000_000} megapixels.")


def _decode_greyscale(image: Image.Image) -> Image.Image:
    """The first frame's pixels as 8-bit greyscale, transparent parts shown on white."""
    image.draft(None, (_DECODE_SIDE, _DECODE_SIDE))  # JPEG only; a no-op elsewhere
    image.load()
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # convert("L") clips 16-bit values to 255, which turns most of the picture white.
        return image.convert("I").point(lambda value: value / 256).convert("L")
    if "A" in image.getbands() or "transparency" in image.info:
        flat = Image.new("RGBA", image.size, "white")
        flat.alpha_composite(image.convert("RGBA"))
        return flat.convert("L")
    return image.convert("L")


def _read_exif(image: Image.Image) -> dict[int, Any]:
    """IFD0 and the Exif sub-IFD in one dict, the sub-IFD winning (some writers put its tags in IFD0); {} when
    the EXIF block is unreadable, which should not cost the photo its fingerprint."""
    try:
        exif = image.getexif()
        return {**exif, **exif.get_ifd(ExifTags.IFD.Exif)}
    except Exception:  # same family of parser errors as in decoding; a bad EXIF block is just no EXIF
        return {}


def _taken_at(exif: dict[int, Any], fallback_zone: tzinfo) -> tuple[datetime | None, bool]:
    for date_tag, offset_tag in _DATE_TAGS:
        local = _exif_datetime(exif.get(date_tag))
        if local is None:
            continue
        offset = _exif_offset(exif.get(offset_tag))
        if offset is not None:
            return local.replace(tzinfo=timezone(offset)).astimezone(UTC), True
        return local.replace(tzinfo=fallback_zone).astimezone(UTC), False
    return None, False


def _exif_datetime(value: object) -> datetime | None:
    """EXIF's "2024:05:17 14:03:22" as a naive datetime; None for blanks and unset clocks' "0000:00:00 …"."""
    match = _EXIF_DATETIME.match(_exif_text(value) or "")
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)  # naive: the zone comes from another tag
    except ValueError:
        return None


def _exif_offset(value: object) -> timedelta | None:
    """EXIF's "+09:00" as 9 h; None when absent or not a real UTC offset."""
    match = _EXIF_OFFSET.match(_exif_text(value) or "")
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    if offset > timedelta(hours=14) or int(minutes) >= 60:
        return None
    return -offset if sign == "-" else offset


def _camera(exif: dict[int, Any]) -> str | None:
    make, model = _exif_text(exif.get(_MAKE)), _exif_text(exif.get(_MODEL))
    if make and model and model.casefold().startswith(make.casefold()):
        make = None  # "Canon" + "Canon EOS R6" reads as "Canon EOS R6"
    return " ".join(part for part in (make, model) if part)[:100] or None


def _exif_text(value: object) -> str | None:
    """An EXIF ASCII value as printable text (writers pad with NULs and spaces; some store bytes)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    return "".join(char for char in value if char.isprintable()).strip() or None
