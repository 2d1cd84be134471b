"""What the buyer's returns pages say, marked for translation (locales/<lang>/LC_MESSAGES/returns.po): the
reason taxonomy, resolutions and statuses in a buyer's words, and every message the pages raise."""

from __future__ import annotations

from aftersail.kit.i18n import N_
from aftersail.returns.rules import Reason, Resolution, ReturnStatus

REASON_LABELS = {
    Reason.DOES_NOT_FIT: N_("It does not fit"),
    Reason.NOT_AS_DESCRIBED: N_("It is not as described"),
    Reason.DAMAGED: N_("It arrived damaged"),
    Reason.DEFECTIVE: N_("It is faulty"),
    Reason.WRONG_ITEM: N_("I received the wrong item"),
    Reason.MISSING_PARTS: N_("Parts are missing"),
    Reason.CHANGED_MIND: N_("I changed my mind"),
    Reason.ARRIVED_LATE: N_("It arrived too late"),
    Reason.OTHER: N_("Another reason"),
}
SUB_REASON_LABELS = {
    "too_small": N_("Too small"),
    "too_large": N_("Too large"),
    "too_long": N_("Too long"),
    "too_short": N_("Too short"),
    "colour": N_("The colour is different"),
    "material": N_("The material is different"),
    "size_chart": N_("The size chart was wrong"),
    "photos": N_("It does not look like the photos"),
    "function": N_("It does not do what was described"),
    "in_transit": N_("Damaged in transit"),
    "packaging": N_("The packaging was damaged"),
    "cosmetic": N_("Scratches or marks"),
    "dead_on_arrival": N_("It did not work on arrival"),
    "stopped_working": N_("It stopped working"),
    "battery": N_("Battery problem"),
    "charging": N_("It does not charge"),
    "wrong_product": N_("A different product"),
    "wrong_size": N_("The wrong size"),
    "wrong_colour": N_("The wrong colour"),
    "accessory": N_("An accessory is missing"),
    "manual": N_("The manual is missing"),
    "part_of_set": N_("Part of the set is missing"),
    "no_longer_needed": N_("I no longer need it"),
    "found_cheaper": N_("I found it cheaper"),
    "ordered_twice": N_("I ordered it twice"),
}
RESOLUTION_LABELS = {
    Resolution.REFUND: N_("Money back to my payment method"),
    Resolution.EXCHANGE: N_("Exchange for another size or colour"),
    Resolution.STORE_CREDIT: N_("Store credit for a next order"),
    Resolution.REPLACEMENT: N_("A new one of the same item"),
    Resolution.REPAIR: N_("Have it repaired"),
}
# The return's progress as the buyer sees it; the last step depends on what they asked for.
STEP_LABELS = {
    ReturnStatus.REQUESTED: N_("Request sent"),
    ReturnStatus.APPROVED: N_("Return approved"),
    ReturnStatus.IN_TRANSIT: N_("On its way to us"),
    ReturnStatus.RECEIVED: N_("Received by our warehouse"),
    ReturnStatus.GRADED: N_("Items checked"),
    ReturnStatus.REFUNDED: N_("Money refunded"),
    ReturnStatus.EXCHANGED: N_("Replacement sent"),
    ReturnStatus.REJECTED: N_("Not accepted"),
    ReturnStatus.KEEP_REFUNDED: N_("Refunded, keep the item"),
    ReturnStatus.CANCELLED: N_("Return cancelled"),
    ReturnStatus.CLOSED: N_("Return completed"),
}
REFUND_STATE_LABELS = {
    "requested": N_("Being prepared"),
    "pending": N_("On its way to you"),
    "succeeded": N_("Paid out"),
    "failed": N_("Delayed: our team is on it"),
}

# Find your order.
FIND_NOT_FOUND = N_(
    "We could not find a delivered order with these details. Check the order number and the email "
    "address or postal code, and try again."
)
FIND_MISSING = N_("Enter your order number, and your email address or the delivery postal code.")
TOO_MANY_TRIES = N_("Too many attempts from your connection. Wait a few minutes and try again.")
# The start form.
NOTHING_CHOSEN = N_("Choose at least one item and how many to send back.")
TOO_MANY_UNITS = N_("You asked to return more units than were delivered or are still returnable.")
NOT_IN_ORDER = N_("That item is not part of this order.")
CHOOSE_REASON = N_("Choose why you are returning the items.")
SUB_REASON_MISMATCH = N_("The detail you chose does not match the reason. Choose again.")
CHOOSE_RESOLUTION = N_("Choose what you would like instead.")
CHOOSE_VARIANT = N_("Choose the size or colour you would like in exchange.")
TOO_MANY_FILES = N_("Send at most %(count)s photos or videos.")
WRONG_FILE_TYPE = N_(
    "%(name)s is not a photo or video we can take. Send JPEG, PNG, WebP or HEIC photos, or MP4, MOV or "
    "WebM videos."
)
FILE_TOO_LARGE = N_("%(name)s is too large: photos may be up to %(photo)s MB, videos up to %(video)s MB.")
BODY_TOO_LARGE = N_(
    "The files you sent are too large together (at most %(total)s MB). Send fewer or smaller files."
)
FILES_AGAIN = N_("For your safety, files are not kept after an error: choose your photos again.")
NOT_RETURNABLE = N_("We could not take this request. Check the items and try again.")
NOT_CANCELLABLE = N_("It is too late to cancel this return.")
NO_LABEL = N_("This return has no label yet.")

BUYER_RETURN_MESSAGES = (
    *REASON_LABELS.values(),
    *SUB_REASON_LABELS.values(),
    *RESOLUTION_LABELS.values(),
    *STEP_LABELS.values(),
    *REFUND_STATE_LABELS.values(),
    FIND_NOT_FOUND,
    FIND_MISSING,
    TOO_MANY_TRIES,
    NOTHING_CHOSEN,
    TOO_MANY_UNITS,
    NOT_IN_ORDER,
    CHOOSE_REASON,
    SUB_REASON_MISMATCH,
    CHOOSE_RESOLUTION,
    CHOOSE_VARIANT,
    TOO_MANY_FILES,
    WRONG_FILE_TYPE,
    FILE_TOO_LARGE,
    BODY_TOO_LARGE,
    FILES_AGAIN,
    NOT_RETURNABLE,
    NOT_CANCELLABLE,
    NO_LABEL,
)
