"""The buyer markets of the demo: currency, languages, people, cities and address formats per country."""

from __future__ import annotations

from dataclasses import dataclass

from aftersail.demo import names as n
from aftersail.demo.names import Name

# Fixed exchange rates (units of currency per US dollar) so that prices never depend on the day of the run.
USD_RATES: dict[str, float] = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "AED": 3.6725, "SAR": 3.75, "JPY": 152.0}


@dataclass(frozen=True, slots=True)
class People:
    """One group of buyers in a market: the language they write in and the names they carry."""

    language: str
    weight: int
    first: tuple[Name, ...]
    last: tuple[Name, ...]
    family_first: bool = False
    native_script_share: float = 0.0  # how often the name is shown in its own script (Arabic, Japanese)


@dataclass(frozen=True, slots=True)
class City:
    name: str
    region: str
    postal_codes: tuple[str, ...]
    time_zone: str


@dataclass(frozen=True, slots=True)
class Market:
    country: str
    currency: str
    people: tuple[People, ...]
    cities: tuple[City, ...]
    streets: tuple[str, ...]
    street_format: str  # "{number} {street}" or "{street} {number}"
    phone_format: str  # digits drawn for each "#"
    email_domains: tuple[str, ...]
    marketplace: str
    street_per_city: bool = False  # streets[i] lies in cities[i] (Japanese district names)


def _cities(time_zone: str, *rows: tuple[str, str, str]) -> tuple[City, ...]:
    return tuple(
        City(name, region, tuple(code for code in codes.split(",") if code != "-"), time_zone)
        for name, region, codes in rows
    )


MARKETS: dict[str, Market] = {
    "US": Market(
        "US",
        "USD",
        (People("en", 88, n.US_FIRST, n.US_LAST), People("es", 12, n.HISPANIC_FIRST, n.HISPANIC_LAST)),
        _cities(
            "America/New_York",
            ("New York", "NY", "10001,10011,10025"),
            ("Brooklyn", "NY", "11201,11215"),
            ("Boston", "MA", "02108,02116"),
            ("Miami", "FL", "33130,33139"),
            ("Atlanta", "GA", "30303,30309"),
        )
        + _cities(
            "America/Chicago",
            ("Chicago", "IL", "60614,60657"),
            ("Houston", "TX", "77002,77006"),
            ("Austin", "TX", "78701,78704"),
        )
        + _cities("America/Denver", ("Denver", "CO", "80202,80206"))
        + _cities("America/Phoenix", ("Phoenix", "AZ", "85004,85016"))
        + _cities(
            "America/Los_Angeles",
            ("Los Angeles", "CA", "90012,90026,90034"),
            ("San Francisco", "CA", "94103,94110"),
            ("Seattle", "WA", "98101,98103"),
        ),
        (
            "Maple Street",
            "Oak Avenue",
            "Main Street",
            "Park Avenue",
            "Elm Street",
            "Lakeview Drive",
            "Sunset Boulevard",
            "Cedar Lane",
            "Pine Street",
            "Washington Avenue",
        ),
        "{number} {street}",
        "+1 ### 555 01##",
        ("mail.example", "inbox.example", "post.example"),
        "Amazon US",
    ),
    "DE": Market(
        "DE",
        "EUR",
        (People("de", 100, n.DE_FIRST, n.DE_LAST),),
        _cities(
            "Europe/Berlin",
            ("Berlin", "", "10115,10243,10999"),
            ("Hamburg", "", "20095,22765"),
            ("München", "", "80331,80469"),
            ("Köln", "", "50667,50823"),
            ("Frankfurt am Main", "", "60311"),
            ("Stuttgart", "", "70173"),
            ("Düsseldorf", "", "40213"),
            ("Leipzig", "", "04109"),
        ),
        (
            "Hauptstraße",
            "Bahnhofstraße",
            "Gartenstraße",
            "Schillerstraße",
            "Goethestraße",
            "Lindenallee",
            "Bergstraße",
            "Friedrichstraße",
        ),
        "{street} {number}",
        "+49 15# #######",
        ("web.example", "mailbox.example", "post.example"),
        "Amazon DE",
    ),
    "GB": Market(
        "GB",
        "GBP",
        (People("en", 100, n.GB_FIRST, n.GB_LAST),),
        _cities(
            "Europe/London",
            ("London", "", "E2 8AA,N1 9GU,SE15 4QL,NW5 2HB"),
            ("Manchester", "", "M1 4BT,M20 2RN"),
            ("Birmingham", "", "B1 1AA,B15 2TT"),
            ("Leeds", "", "LS1 4AP"),
            ("Glasgow", "", "G2 3BZ"),
            ("Bristol", "", "BS1 5TR"),
            ("Edinburgh", "", "EH1 1YZ"),
        ),
        (
            "High Street",
            "Station Road",
            "Church Lane",
            "Victoria Road",
            "Park Road",
            "Mill Lane",
            "Queen's Road",
        ),
        "{number} {street}",
        "+44 7700 900###",
        ("mail.example", "inbox.example"),
        "Amazon UK",
    ),
    "FR": Market(
        "FR",
        "EUR",
        (People("fr", 100, n.FR_FIRST, n.FR_LAST),),
        _cities(
            "Europe/Paris",
            ("Paris", "", "75011,75015,75018"),
            ("Lyon", "", "69003,69007"),
            ("Marseille", "", "13001,13006"),
            ("Toulouse", "", "31000"),
            ("Bordeaux", "", "33000"),
            ("Lille", "", "59000"),
            ("Nantes", "", "44000"),
        ),
        (
            "rue de la République",
            "avenue Jean Jaurès",
            "rue Victor Hugo",
            "boulevard Voltaire",
            "rue des Lilas",
            "rue Pasteur",
            "avenue de la Gare",
        ),
        "{number} {street}",
        "+33 6 ## ## ## ##",
        ("courriel.example", "mail.example"),
        "Amazon FR",
    ),
    "ES": Market(
        "ES",
        "EUR",
        (People("es", 100, n.ES_FIRST, n.ES_LAST),),
        _cities(
            "Europe/Madrid",
            ("Madrid", "Madrid", "28004,28013,28045"),
            ("Barcelona", "Barcelona", "08001,08010"),
            ("Valencia", "Valencia", "46001"),
            ("Sevilla", "Sevilla", "41001"),
            ("Bilbao", "Bizkaia", "48001"),
            ("Málaga", "Málaga", "29001"),
        ),
        (
            "Calle Mayor",
            "Calle de Alcalá",
            "Gran Vía",
            "Calle del Sol",
            "Avenida de la Constitución",
            "Calle Real",
        ),
        "{street}, {number}",
        "+34 6## ### ###",
        ("correo.example", "mail.example"),
        "Amazon ES",
    ),
    "IT": Market(
        "IT",
        "EUR",
        (People("it", 100, n.IT_FIRST, n.IT_LAST),),
        _cities(
            "Europe/Rome",
            ("Roma", "RM", "00184,00153"),
            ("Milano", "MI", "20121,20144"),
            ("Napoli", "NA", "80133"),
            ("Torino", "TO", "10121"),
            ("Firenze", "FI", "50122"),
            ("Bologna", "BO", "40121"),
        ),
        ("Via Roma", "Via Garibaldi", "Corso Vittorio Emanuele II", "Via Dante", "Via Mazzini", "Via Verdi"),
        "{street}, {number}",
        "+39 3## ### ####",
        ("posta.example", "mail.example"),
        "Amazon IT",
    ),
    "NL": Market(
        "NL",
        "EUR",
        (People("nl", 90, n.NL_FIRST, n.NL_LAST), People("en", 10, n.EXPAT_FIRST, n.EXPAT_LAST)),
        _cities(
            "Europe/Amsterdam",
            ("Amsterdam", "", "1012 AB,1072 LH,1053 RT"),
            ("Rotterdam", "", "3011 AD"),
            ("Utrecht", "", "3511 AB"),
            ("Den Haag", "", "2511 CV"),
            ("Eindhoven", "", "5611 AB"),
        ),
        ("Kerkstraat", "Dorpsstraat", "Prinsengracht", "Molenweg", "Stationsweg", "Julianastraat"),
        "{street} {number}",
        "+31 6 ########",
        ("mail.example", "post.example"),
        "bol.com",
    ),
    "AE": Market(
        "AE",
        "AED",
        (
            People("ar", 55, n.EMIRATI_FIRST, n.EMIRATI_LAST, native_script_share=0.4),
            People("en", 45, n.EXPAT_FIRST, n.EXPAT_LAST),
        ),
        _cities(
            "Asia/Dubai",
            ("Dubai Marina, Dubai", "Dubai", "-"),
            ("Jumeirah, Dubai", "Dubai", "-"),
            ("Business Bay, Dubai", "Dubai", "-"),
            ("Al Barsha, Dubai", "Dubai", "-"),
            ("Al Reem Island, Abu Dhabi", "Abu Dhabi", "-"),
            ("Al Majaz, Sharjah", "Sharjah", "-"),
        ),
        (
            "Al Wasl Road",
            "Sheikh Zayed Road",
            "Al Khail Road",
            "Marina Walk",
            "Al Sufouh Road",
            "Corniche Street",
        ),
        "Villa {number}, {street}",
        "+971 5# ### ####",
        ("mail.example", "inbox.example"),
        "noon",
    ),
    "SA": Market(
        "SA",
        "SAR",
        (
            People("ar", 90, n.SAUDI_FIRST, n.SAUDI_LAST, native_script_share=0.5),
            People("en", 10, n.EXPAT_FIRST, n.EXPAT_LAST),
        ),
        _cities(
            "Asia/Riyadh",
            ("Riyadh", "Riyadh", "12211,11564,12271"),
            ("Jeddah", "Makkah", "23435,21589"),
            ("Dammam", "Eastern Province", "32241"),
            ("Al Khobar", "Eastern Province", "34447"),
        ),
        ("King Fahd Road", "Prince Sultan Street", "Olaya Street", "Tahlia Street", "King Abdullah Road"),
        "{number} {street}",
        "+966 5# ### ####",
        ("mail.example", "inbox.example"),
        "noon",
    ),
    "JP": Market(
        "JP",
        "JPY",
        (People("ja", 100, n.JP_FIRST, n.JP_LAST, family_first=True, native_script_share=0.8),),
        _cities(
            "Asia/Tokyo",
            ("Shibuya-ku, Tokyo", "Tokyo", "150-0002,150-0041"),
            ("Shinjuku-ku, Tokyo", "Tokyo", "160-0022"),
            ("Kita-ku, Osaka", "Osaka", "530-0001"),
            ("Nishi-ku, Yokohama", "Kanagawa", "220-0011"),
            ("Naka-ku, Nagoya", "Aichi", "460-0008"),
            ("Chuo-ku, Fukuoka", "Fukuoka", "810-0001"),
        ),
        ("Jinnan", "Nishishinjuku", "Umeda", "Minatomirai", "Sakae", "Tenjin"),
        "{street} {number}",
        "+81 90 #### ####",
        ("mail.example", "keitai.example"),
        "Rakuten",
        street_per_city=True,
    ),
}
