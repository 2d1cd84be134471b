"""The carriers of the demo's lanes as their tracking pages speak: number formats, each carrier's words for
a parcel's steps (German for DHL Paket, French for Colissimo …), hub and gateway names, and the shape of the
raw event each carrier's API sends. Plain data for `demo/tracking.py`; nothing here is used outside the
demo."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from aftersail.demo.warehouses import EU_COUNTRIES
from aftersail.shipping.rules import Status, SubStatus

# A parcel's steps in the demo's stories and the normalized status each one is.
STEPS: Mapping[str, tuple[Status, SubStatus]] = {
    "label": (Status.INFO_RECEIVED, SubStatus.NONE),
    "pickup": (Status.IN_TRANSIT, SubStatus.NONE),
    "origin_hub": (Status.IN_TRANSIT, SubStatus.NONE),
    "linehaul": (Status.IN_TRANSIT, SubStatus.NONE),
    "export": (Status.IN_TRANSIT, SubStatus.NONE),
    "arrive_dest": (Status.IN_TRANSIT, SubStatus.NONE),
    "customs": (Status.CUSTOMS, SubStatus.NONE),
    "held": (Status.CUSTOMS, SubStatus.CUSTOMS_HELD),
    "docs": (Status.CUSTOMS, SubStatus.DOCUMENTS_REQUIRED),
    "duties": (Status.CUSTOMS, SubStatus.DUTIES_DUE),
    "released": (Status.CUSTOMS, SubStatus.CUSTOMS_RELEASED),
    "dest_hub": (Status.IN_TRANSIT, SubStatus.NONE),
    "delay": (Status.IN_TRANSIT, SubStatus.NONE),
    "out": (Status.OUT_FOR_DELIVERY, SubStatus.NONE),
    "attempt": (Status.ATTEMPT_FAILED, SubStatus.NONE),
    "pickup_point": (Status.AVAILABLE_FOR_PICKUP, SubStatus.NONE),
    "address": (Status.EXCEPTION, SubStatus.ADDRESS_ISSUE),
    "delivered": (Status.DELIVERED, SubStatus.NONE),
    "collected": (Status.DELIVERED, SubStatus.NONE),
    "rts": (Status.EXCEPTION, SubStatus.RETURNED_TO_SENDER),
    "lost": (Status.EXCEPTION, SubStatus.LOST),
    "damaged": (Status.EXCEPTION, SubStatus.DAMAGED),
}
# Steps that happen on the buyer's side of the lane (local time and place of the buyer's country).
DESTINATION_SIDE = frozenset(STEPS) - {"label", "pickup", "origin_hub", "linehaul", "export"}

ENGLISH: Mapping[str, str] = {
    "label": "Shipment information received",
    "pickup": "Picked up by the carrier",
    "origin_hub": "Processed at origin facility",
    "linehaul": "Departed facility",
    "export": "Departed from the origin country",
    "arrive_dest": "Arrived in the destination country",
    "customs": "Customs clearance in progress",
    "held": "Held by customs",
    "docs": "Customs clearance: documents required from the receiver",
    "duties": "Import duties and taxes due from the receiver",
    "released": "Released by customs",
    "dest_hub": "Arrived at delivery facility",
    "delay": "Delayed: processing backlog at the facility",
    "out": "Out for delivery",
    "attempt": "Delivery attempted: receiver not available",
    "pickup_point": "Available for collection at the pickup point",
    "address": "Address incomplete: delivery not possible",
    "delivered": "Delivered",
    "collected": "Collected by the receiver at the pickup point",
    "rts": "Returned to sender",
    "lost": "Shipment could not be located: declared lost after investigation",
    "damaged": "Shipment damaged in transit: held for inspection",
}


@dataclass(frozen=True, slots=True)
class Carrier:
    slug: str  # the carrier's slug as tracking aggregators name it (stored on the shipment)
    name: str
    style: str  # the shape of its raw events (`raw_event`)
    number: Callable[[random.Random], str]
    words: Mapping[str, str]  # its own words per step; ENGLISH fills the rest

    def says(self, step: str, place: str) -> str:
        return (self.words.get(step) or ENGLISH[step]).format(place=place)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


def _s10(prefix: str, country: str) -> Callable[[random.Random], str]:
    """A UPU S10 number (two letters, eight digits, a check digit, the country), as posts number parcels."""

    def make(rng: random.Random) -> str:
        body = _digits(rng, 8)
        total = sum(int(d) * w for d, w in zip(body, (8, 6, 4, 2, 3, 5, 9, 7), strict=True))
        check = 11 - total % 11
        return f"{prefix}{body}{0 if check == 10 else 5 if check == 11 else check}{country}"

    return make


def _fixed(prefix: str, digits: int) -> Callable[[random.Random], str]:
    return lambda rng: prefix + _digits(rng, digits)


def _ups(service: str) -> Callable[[random.Random], str]:
    return lambda rng: f"1ZA8F31V{service}{_digits(rng, 8)}"


def _postnl(rng: random.Random) -> str:
    return "3S" + "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(4)) + _digits(rng, 8)


DHL_PAKET = Carrier(
    "dhl-germany",
    "DHL Paket",
    "dhl",
    _fixed("00340434", 12),
    {
        "label": "Die Auftragsdaten zu dieser Sendung wurden vom Absender elektronisch an DHL übermittelt.",
        "pickup": "Die Sendung wurde abgeholt.",
        "origin_hub": "Die Sendung wurde im Start-Paketzentrum bearbeitet.",
        "linehaul": "Die Sendung wird zum Ziel-Paketzentrum transportiert.",
        "export": "Die Sendung hat das Start-Land verlassen.",
        "arrive_dest": "Die Sendung ist im Zielland eingetroffen.",
        "dest_hub": "Die Sendung wurde im Ziel-Paketzentrum bearbeitet.",
        "delay": "Die Sendung konnte nicht wie geplant bearbeitet werden. Es kommt zu einer Verzögerung.",
        "out": "Die Sendung wurde in das Zustellfahrzeug geladen.",
        "attempt": "Der Empfänger wurde nicht angetroffen. Die Sendung wird in eine Filiale weitergeleitet.",
        "pickup_point": "Die Sendung liegt in der Filiale {place} zur Abholung bereit.",
        "address": (
            "Die Anschrift des Empfängers ist unvollständig. Die Sendung kann nicht zugestellt werden."
        ),
        "delivered": "Die Sendung wurde erfolgreich zugestellt.",
        "collected": "Die Sendung wurde in der Filiale vom Empfänger abgeholt.",
        "rts": "Die Sendung wird an den Absender zurückgesendet.",
        "lost": "Die Sendung konnte nicht ermittelt werden. Der Nachforschungsauftrag ist abgeschlossen.",
        "damaged": "Die Sendung wurde beschädigt und wird im Paketzentrum geprüft.",
    },
)
DHL_EXPRESS = Carrier(
    "dhl",
    "DHL Express",
    "dhl",
    _fixed("", 10),
    {
        "label": "Shipment information received",
        "pickup": "Shipment picked up",
        "origin_hub": "Processed at {place}",
        "linehaul": "Departed Facility in {place}",
        "export": "Departed Facility in {place}",
        "arrive_dest": "Arrived at Sort Facility {place}",
        "customs": "Customs status updated",
        "held": "Shipment is on hold. Customs clearance is delayed.",
        "docs": "Awaiting documents from the receiver for customs clearance",
        "duties": "Duty and tax payment required. The receiver has been contacted.",
        "released": "Clearance processing complete at {place}",
        "dest_hub": "Arrived at Delivery Facility in {place}",
        "delay": "Shipment delayed: scheduled for movement to the next facility",
        "out": "With delivery courier",
        "attempt": "Delivery attempted; recipient not home",
        "pickup_point": "Available for pickup at a DHL Service Point in {place}",
        "delivered": "Delivered",
        "collected": "Delivered - collected at the DHL Service Point",
        "rts": "Returned to shipper",
    },
)
UPS_WORDS: Mapping[str, str] = {
    "label": "Shipper created a label, UPS has not received the package yet.",
    "pickup": "Pickup Scan",
    "origin_hub": "Origin Scan",
    "linehaul": "Departed from Facility",
    "export": "Departed from Facility",
    "arrive_dest": "Arrived at Facility",
    "customs": "Your package is being processed by the clearing agency.",
    "held": "Your package is being held for clearance.",
    "docs": "The receiver's import documents are needed for customs clearance.",
    "duties": "Brokerage charges, duties and taxes are due. The receiver has been notified.",
    "released": "Your package was released by the clearing agency.",
    "dest_hub": "Arrived at Facility",
    "delay": "Due to operating conditions, your package may be delayed.",
    "out": "Out For Delivery Today",
    "attempt": (
        "The receiver was not available for delivery. We'll make a second attempt the next business day."
    ),
    "pickup_point": "Delivered to UPS Access Point™ location and awaiting customer pickup.",
    "address": "The address is incomplete. We're trying to obtain a corrected address.",
    "delivered": "DELIVERED",
    "collected": "Picked up by the customer at the UPS Access Point™ location.",
    "rts": "The package will be returned to the sender.",
    "lost": "We were unable to locate your package. The trace has been closed.",
}
USPS_WORDS: Mapping[str, str] = {
    "label": "Shipping Label Created, USPS Awaiting Item",
    "pickup": "Accepted at USPS Origin Facility",
    "origin_hub": "Arrived at USPS Regional Origin Facility",
    "linehaul": "Departed USPS Regional Facility",
    "export": "Processed Through Facility {place}",
    "arrive_dest": "Arrived at Facility",
    "customs": "Customs Clearance",
    "held": "Held in Customs",
    "docs": "Customs Clearance: Documents Required from Addressee",
    "duties": "Customs Duty Payment Required",
    "released": "Customs Clearance Processing Complete",
    "dest_hub": "Arrived at USPS Regional Destination Facility",
    "delay": "In Transit, Arriving Late",
    "out": "Out for Delivery",
    "attempt": "Notice Left (No Authorized Recipient Available)",
    "pickup_point": "Available for Pickup",
    "address": "Insufficient Address",
    "delivered": "Delivered, In/At Mailbox",
    "collected": "Delivered, Individual Picked Up at Post Office",
    "rts": "Return to Sender Processed",
}
ROYAL_MAIL_WORDS: Mapping[str, str] = {
    "label": "Sender preparing item",
    "pickup": "We've received your item",
    "origin_hub": "Item received at {place}",
    "linehaul": "Your item is in transit",
    "arrive_dest": "Item received in the UK",
    "customs": "Item with UK Customs",
    "held": "Held by UK Customs",
    "docs": "Held by UK Customs: documents needed from the recipient",
    "duties": "Fee to pay: we're holding your item until the fee is paid",
    "released": "Item released from UK Customs",
    "dest_hub": "Item received at {place}",
    "out": "Out for delivery",
    "attempt": "Sorry we missed you: we tried to deliver your item",
    "pickup_point": "Your item is being held at {place} for collection",
    "address": "Address inaccessible: we couldn't deliver your item",
    "delivered": "Delivered",
    "collected": "Collected from {place}",
    "rts": "Item being returned to sender",
}
DPD_WORDS: Mapping[str, str] = {
    "label": "We have your parcel details",
    "pickup": "Your parcel has been collected by DPD",
    "origin_hub": "Your parcel is at the DPD hub",
    "linehaul": "Your parcel has left the hub",
    "export": "Your parcel has left the origin country",
    "arrive_dest": "Your parcel has arrived in the destination country",
    "customs": "Your parcel is being processed by customs",
    "held": "Your parcel is being held by customs",
    "docs": "Customs need documents from you to release your parcel",
    "duties": "Import charges are due: please pay to release your parcel",
    "released": "Your parcel has been cleared by customs",
    "dest_hub": "Your parcel is at the local DPD depot",
    "delay": "Your parcel is delayed and will be delivered as soon as possible",
    "out": "Your parcel is out for delivery",
    "attempt": "We're sorry we missed you",
    "pickup_point": "Your parcel is at a DPD Pickup shop ({place})",
    "address": "We're unable to deliver your parcel as the address is incorrect",
    "delivered": "Your parcel has been delivered",
    "collected": "Your parcel has been collected from the Pickup shop",
    "rts": "Your parcel is being returned to the sender",
}
ARAMEX_WORDS: Mapping[str, str] = {
    "label": "Record created.",
    "pickup": "Shipment picked up",
    "origin_hub": "Received at Origin Facility",
    "linehaul": "Departed Operations Facility",
    "export": "Departed Operations Facility",
    "arrive_dest": "Received at Operations Facility",
    "customs": "Under clearance processing",
    "held": "Held for clearance",
    "docs": "Awaiting consignee documents for clearance",
    "duties": "Payment of duties and taxes required from consignee",
    "released": "Clearance completed",
    "dest_hub": "Received at Operations Facility",
    "delay": "Shipment delayed in transit",
    "out": "Out for Delivery",
    "attempt": "Consignee not available",
    "pickup_point": "Ready for collection at Aramex office",
    "address": "Incomplete address: consignee contacted",
    "delivered": "Delivered",
    "collected": "Collected by consignee",
    "rts": "Returned to shipper",
}
JAPAN_POST = Carrier(
    "japan-post",
    "Japan Post",
    "japan_post",
    _s10("EJ", "JP"),
    {
        "arrive_dest": "Arrival at Inward Office of Exchange",
        "customs": "Customs inspection",
        "held": "Held at Customs",
        "docs": "Held at Customs (documents required)",
        "duties": "Customs duty to be paid on delivery",
        "released": "Released from Customs",
        "dest_hub": "En route",
        "delay": "En route (delayed)",
        "out": "Out for delivery",
        "attempt": "Absence. Attempted delivery.",
        "pickup_point": "Held at the delivery Post Office",
        "delivered": "Final delivery",
        "collected": "Final delivery (delivered at post office counter)",
        "rts": "Returned to sender",
    },
)
COLISSIMO = Carrier(
    "colissimo",
    "Colissimo",
    "generic",
    _fixed("6A", 11),
    {
        "label": (
            "Votre Colissimo va bientôt nous être confié ! Il est en cours de préparation chez l'expéditeur."
        ),
        "pickup": "Votre colis est pris en charge par La Poste.",
        "origin_hub": "Votre colis est en cours d'acheminement.",
        "linehaul": "Votre colis est en cours d'acheminement.",
        "export": "Votre colis a quitté le pays d'expédition.",
        "arrive_dest": "Votre colis est arrivé dans le pays de destination.",
        "dest_hub": "Votre colis est arrivé sur son site de distribution.",
        "delay": "Votre colis a pris du retard dans son acheminement.",
        "out": "Votre colis est en cours de livraison.",
        "attempt": "Votre colis n'a pas pu être livré : destinataire absent.",
        "pickup_point": "Votre colis est disponible dans votre point de retrait.",
        "address": "L'adresse de livraison est incomplète.",
        "delivered": "Votre colis est livré.",
        "collected": "Votre colis a été remis au destinataire dans le point de retrait.",
        "rts": "Votre colis est retourné à l'expéditeur.",
    },
)
SEUR = Carrier(
    "spain-seur",
    "SEUR",
    "generic",
    _fixed("", 14),
    {
        "label": "Envío registrado",
        "pickup": "Recogido en origen",
        "origin_hub": "En tránsito",
        "linehaul": "En tránsito",
        "export": "El envío ha salido del país de origen",
        "arrive_dest": "El envío ha llegado al país de destino",
        "dest_hub": "En delegación de destino",
        "delay": "Retraso en el tránsito",
        "out": "En reparto",
        "attempt": "Ausente: no se ha podido entregar",
        "pickup_point": "Disponible para recoger en tienda Pickup",
        "address": "Dirección incorrecta o incompleta",
        "delivered": "Entregado",
        "collected": "Entregado en punto Pickup",
        "rts": "Devuelto al remitente",
    },
)
BRT = Carrier(
    "brt",
    "BRT",
    "generic",
    _fixed("", 12),
    {
        "label": "Spedizione registrata",
        "pickup": "Ritirata",
        "origin_hub": "Partita dalla filiale di origine",
        "linehaul": "In transito",
        "export": "La spedizione ha lasciato il paese di origine",
        "arrive_dest": "La spedizione è arrivata nel paese di destinazione",
        "dest_hub": "Arrivata nella filiale di destinazione",
        "delay": "Ritardo nella consegna",
        "out": "In consegna",
        "attempt": "Destinatario assente: consegna non effettuata",
        "pickup_point": "In giacenza presso BRT-fermopoint",
        "address": "Indirizzo errato o incompleto",
        "delivered": "Consegnata",
        "collected": "Ritirata dal destinatario presso il BRT-fermopoint",
        "rts": "Resa al mittente",
    },
)
POSTNL = Carrier(
    "postnl",
    "PostNL",
    "generic",
    _postnl,
    {
        "label": "Zending is aangemeld maar nog niet ontvangen door PostNL",
        "pickup": "Zending is ontvangen door PostNL",
        "origin_hub": "Zending is gesorteerd",
        "linehaul": "Zending is onderweg",
        "export": "Zending heeft het land van herkomst verlaten",
        "arrive_dest": "Zending is aangekomen in het land van bestemming",
        "dest_hub": "Zending is bij het sorteercentrum",
        "delay": "Zending is vertraagd",
        "out": "Bezorger is onderweg",
        "attempt": "Zending is niet bezorgd: niemand thuis",
        "pickup_point": "Zending ligt klaar bij het PostNL-punt",
        "address": "Adres onvolledig: zending kan niet worden bezorgd",
        "delivered": "Zending is bezorgd",
        "collected": "Zending is opgehaald bij het PostNL-punt",
        "rts": "Zending wordt teruggestuurd naar de afzender",
    },
)

# Lane carrier names (catalog lanes, `demo/warehouses.py`) → how they speak.
CARRIERS: Mapping[str, Carrier] = {
    "DHL Paket": DHL_PAKET,
    "DHL Express": DHL_EXPRESS,
    "DHL Parcel UK": Carrier("dhl-parcel-uk", "DHL Parcel UK", "generic", _fixed("JD0146", 14), {}),
    "UPS Ground": Carrier("ups", "UPS Ground", "ups", _ups("03"), UPS_WORDS),
    "UPS Standard": Carrier("ups", "UPS Standard", "ups", _ups("11"), UPS_WORDS),
    "USPS Ground Advantage": Carrier(
        "usps", "USPS Ground Advantage", "usps", _fixed("94001", 17), USPS_WORDS
    ),
    "USPS Priority Mail International": Carrier(
        "usps", "USPS Priority Mail International", "usps", _s10("LZ", "US"), USPS_WORDS
    ),
    "Royal Mail Tracked 48": Carrier(
        "royal-mail", "Royal Mail Tracked 48", "royal_mail", _s10("TT", "GB"), ROYAL_MAIL_WORDS
    ),
    "DPD": Carrier("dpd", "DPD", "dpd", _fixed("15501", 9), DPD_WORDS),
    "Aramex": Carrier("aramex", "Aramex", "aramex", _fixed("4", 10), ARAMEX_WORDS),
    "SMSA Express": Carrier("smsa-express", "SMSA Express", "aramex", _fixed("29", 10), {}),
    "Colissimo": COLISSIMO,
    "SEUR": SEUR,
    "BRT": BRT,
    "PostNL": POSTNL,
    "bpost": Carrier("bpost", "bpost", "generic", _fixed("3232", 20), {}),
    "GLS": Carrier("gls", "GLS", "generic", _fixed("", 11), {}),
    "PostNord": Carrier("postnord", "PostNord", "generic", _s10("UA", "SE"), {}),
    "CTT": Carrier("portugal-ctt", "CTT", "generic", _s10("DA", "PT"), {}),
}
# A postal lane hands the parcel to the destination's post for the last mile (its words, its scans).
LAST_MILE: Mapping[tuple[str, str], Carrier] = {
    ("USPS Priority Mail International", "JP"): JAPAN_POST,
    ("USPS Priority Mail International", "GB"): Carrier(
        "royal-mail", "Royal Mail", "royal_mail", _s10("TT", "GB"), ROYAL_MAIL_WORDS
    ),
}
FALLBACK = Carrier("other", "Carrier", "generic", _fixed("", 14), {})


def carrier_for(lane_carrier: str) -> Carrier:
    return CARRIERS.get(lane_carrier, FALLBACK)


# --- places -------------------------------------------------------------------------------------------------

# Warehouse code → (origin sorting hub, export gateway).
ORIGIN: Mapping[str, tuple[str, str]] = {
    "LAX": ("Ontario, CA", "Los Angeles, CA (ISC)"),
    "EWR": ("Cranbury, NJ", "Jamaica, NY (JFK ISC)"),
    "FRA": ("Obertshausen", "Leipzig"),
    "FXT": ("Ipswich", "East Midlands"),
    "DXB": ("Jebel Ali", "Dubai"),
}
# Destination country → (import gateway, regional hubs).
DESTINATION: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "US": ("Cincinnati, OH", ("Chicago, IL", "Dallas, TX", "Atlanta, GA", "Louisville, KY", "Denver, CO")),
    "CA": ("Toronto, ON", ("Toronto, ON", "Vancouver, BC", "Montréal, QC")),
    "MX": ("Ciudad de México", ("Ciudad de México", "Guadalajara", "Monterrey")),
    "DE": ("Leipzig", ("Hamburg", "Börnicke", "Köln-Eifeltor", "Aschheim", "Nürnberg-Feucht", "Bochum")),
    "GB": (
        "East Midlands",
        ("Birmingham Mail Centre", "Manchester Mail Centre", "Glasgow Mail Centre", "Hinckley"),
    ),
    "IE": ("Dublin", ("Dublin", "Athlone", "Cork")),
    "FR": ("Roissy", ("Paris Nord", "Lyon", "Marseille", "Lille", "Bordeaux")),
    "ES": ("Madrid", ("Madrid", "Barcelona", "Valencia", "Sevilla")),
    "IT": ("Milano", ("Milano", "Roma", "Bologna", "Napoli")),
    "NL": ("Amsterdam", ("Nieuwegein", "Amsterdam", "Rotterdam", "Eindhoven")),
    "AE": ("Dubai", ("Dubai", "Abu Dhabi", "Sharjah")),
    "SA": ("Riyadh", ("Riyadh", "Jeddah", "Dammam")),
    "JP": ("Kawasaki Port", ("Tokyo International", "Osaka International", "Shin-Tokyo")),
}
CUSTOMS_UNION = frozenset(EU_COUNTRIES)


def crosses_customs(origin: str, destination: str) -> bool:
    """Whether a parcel from `origin` to `destination` is cleared by customs (none inside the EU)."""
    return origin != destination and not (origin in CUSTOMS_UNION and destination in CUSTOMS_UNION)


def hubs(country: str) -> tuple[str, tuple[str, ...]]:
    return DESTINATION.get(country, (country, (country,)))


# --- raw events -------------------------------------------------------------------------------------------

_DHL_CODES = {
    Status.INFO_RECEIVED: "pre-transit",
    Status.DELIVERED: "delivered",
    Status.EXCEPTION: "failure",
    Status.ATTEMPT_FAILED: "failure",
}
_UPS_TYPES = {
    Status.INFO_RECEIVED: "M",
    Status.DELIVERED: "D",
    Status.EXCEPTION: "X",
    Status.ATTEMPT_FAILED: "X",
}
_USPS_CODES = {
    "label": "MA",
    "pickup": "03",
    "out": "OF",
    "delivered": "01",
    "collected": "01",
    "attempt": "02",
    "pickup_point": "07",
    "rts": "04",
    "address": "21",
    "customs": "CC",
    "held": "CH",
    "docs": "CH",
    "duties": "CD",
    "released": "CR",
}
_ROYAL_MAIL_CODES = {
    "label": "EVNMI",
    "pickup": "EVAIP",
    "out": "EVKOP",
    "delivered": "EVKSP",
    "collected": "EVKSP",
    "attempt": "EVKNR",
    "pickup_point": "EVKLC",
    "rts": "EVKRT",
}


_STEP_INDEX = {step: 3 * index + 1 for index, step in enumerate(STEPS)}


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def raw_event(
    carrier: Carrier,
    step: str,
    status: Status,
    description: str,
    place: str,
    country: str,
    at: datetime,
    zone: str,
) -> dict[str, Any]:
    """The event as `carrier`'s API would send it: its field names, its codes, local time with offset."""
    local = at.astimezone(_zone(zone))
    stamp = local.isoformat(timespec="seconds")
    if carrier.style == "dhl":
        return {
            "timestamp": stamp,
            "location": {"address": {"addressLocality": place, "countryCode": country}},
            "statusCode": _DHL_CODES.get(status, "transit"),
            "status": description,
        }
    if carrier.style == "ups":
        return {
            "date": local.strftime("%Y%m%d"),
            "time": local.strftime("%H%M%S"),
            "location": {"address": {"city": place, "countryCode": country}},
            "status": {"type": _UPS_TYPES.get(status, "I"), "description": description, "code": step.upper()},
        }
    if carrier.style == "usps":
        return {
            "eventTimestamp": stamp,
            "eventType": description,
            "eventCity": place.upper(),
            "eventCountry": country,
            "eventCode": _USPS_CODES.get(step, "10"),
        }
    if carrier.style == "royal_mail":
        return {
            "eventCode": _ROYAL_MAIL_CODES.get(step, "EVAIE"),
            "eventName": description,
            "eventDateTime": stamp,
            "locationName": place,
        }
    if carrier.style == "aramex":
        return {
            "UpdateCode": f"SH{_STEP_INDEX[step]:03d}",
            "UpdateDescription": description,
            "UpdateDateTime": stamp,
            "UpdateLocation": f"{place}, {country}",
            "Comments": "",
        }
    if carrier.style == "japan_post":
        return {
            "date": local.strftime("%Y/%m/%d %H:%M"),
            "status": description,
            "office": place.upper(),
            "country": country,
        }
    if carrier.style == "dpd":
        return {
            "date": local.strftime("%Y-%m-%d"),
            "time": local.strftime("%H:%M"),
            "status": step.upper(),
            "description": description,
            "depot": place,
        }
    return {"time": stamp, "code": step.upper(), "text": description, "location": place, "country": country}
