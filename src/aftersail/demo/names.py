"""Short per-language name lists for demo customers, written for this project.

Each entry is `(display, latin)`: the name as the buyer writes it and a Latin spelling used for email
addresses. Latin-script names simply repeat themselves.
"""

from __future__ import annotations

Name = tuple[str, str]


def _latin(names: str) -> tuple[Name, ...]:
    return tuple((name, name) for name in names.split(","))


US_FIRST = _latin(
    "Emily,Madison,Olivia,Ava,Sophia,Chloe,Jacob,Ethan,Michael,Tyler,Brandon,Ashley,Jessica,Ryan,"
    "Kayla,Justin,Megan,Austin,Hannah,Noah"
)
US_LAST = _latin(
    "Smith,Johnson,Williams,Brown,Jones,Miller,Davis,Wilson,Anderson,Taylor,Thomas,Moore,Jackson,"
    "White,Harris,Clark,Lewis,Walker,Young,Allen"
)
HISPANIC_FIRST = _latin("María,José,Lucía,Carlos,Sofía,Diego,Valentina,Javier,Camila,Alejandro,Daniela,Mateo")
HISPANIC_LAST = _latin(
    "García,Rodríguez,Martínez,Hernández,López,González,Pérez,Sánchez,Ramírez,Torres,Flores,Rivera"
)
DE_FIRST = _latin(
    "Lukas,Leon,Finn,Jonas,Felix,Paul,Maximilian,Mia,Emma,Hannah,Lena,Lea,Anna,Laura,Sophie,"
    "Katharina,Julia,Tobias"
)
DE_LAST = _latin(
    "Müller,Schmidt,Schneider,Fischer,Weber,Meyer,Wagner,Becker,Schulz,Hoffmann,Schäfer,Koch,"
    "Bauer,Richter,Klein,Wolf,Neumann,Schwarz"
)
GB_FIRST = _latin(
    "Oliver,George,Harry,Jack,Charlie,Thomas,James,William,Amelia,Isla,Ava,Emily,Poppy,Isabella,"
    "Jessica,Lily,Sophie,Grace"
)
GB_LAST = _latin(
    "Smith,Jones,Taylor,Brown,Williams,Wilson,Johnson,Davies,Robinson,Wright,Thompson,Evans,Walker,"
    "White,Roberts,Green,Hall,Hughes"
)
FR_FIRST = _latin(
    "Gabriel,Louis,Raphaël,Jules,Arthur,Hugo,Lucas,Léo,Emma,Jade,Louise,Alice,Chloé,Léa,Manon,"
    "Camille,Inès,Juliette"
)
FR_LAST = _latin(
    "Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Leroy,Moreau,Simon,Laurent,Lefebvre,"
    "Michel,Garcia,David,Bertrand,Roux"
)
ES_FIRST = _latin(
    "Hugo,Martín,Lucas,Daniel,Pablo,Alejandro,Álvaro,Lucía,Sofía,Martina,María,Paula,Julia,Carmen,Elena,Irene"
)
ES_LAST = _latin(
    "García,Fernández,González,Rodríguez,López,Martínez,Sánchez,Pérez,Gómez,Martín,Jiménez,Ruiz,"
    "Hernández,Díaz,Moreno,Muñoz"
)
IT_FIRST = _latin(
    "Leonardo,Francesco,Alessandro,Lorenzo,Mattia,Andrea,Gabriele,Sofia,Giulia,Aurora,Alice,"
    "Ginevra,Emma,Giorgia,Chiara,Martina"
)
IT_LAST = _latin(
    "Rossi,Russo,Ferrari,Esposito,Bianchi,Romano,Colombo,Ricci,Marino,Greco,Bruno,Gallo,Conti,"
    "De Luca,Costa,Giordano"
)
NL_FIRST = _latin("Daan,Sem,Lucas,Levi,Finn,Milan,Bram,Emma,Julia,Tess,Sophie,Zoë,Sara,Anna,Fleur,Lotte")
NL_LAST = _latin(
    "de Jong,Jansen,de Vries,van den Berg,van Dijk,Bakker,Janssen,Visser,Smit,Meijer,de Boer,"
    "Mulder,de Groot,Bos,Vos,Peters"
)
EXPAT_FIRST = _latin(
    "Priya,Rahul,Anjali,Arjun,Deepa,Vikram,Maria,John,Sarah,David,Anna,Omar,Fatima,Joseph,Grace,Daniel"
)
EXPAT_LAST = _latin(
    "Sharma,Nair,Menon,Pillai,Fernandes,D'Souza,Khan,Walker,Thomas,Santos,Reyes,Ivanova,Mathew,"
    "Joseph,Kapoor,Iyer"
)

EMIRATI_FIRST: tuple[Name, ...] = (
    ("محمد", "Mohammed"),
    ("أحمد", "Ahmed"),
    ("خالد", "Khalid"),
    ("عبدالله", "Abdullah"),
    ("سعيد", "Saeed"),
    ("راشد", "Rashid"),
    ("حمدان", "Hamdan"),
    ("سلطان", "Sultan"),
    ("فاطمة", "Fatima"),
    ("مريم", "Maryam"),
    ("نورة", "Noura"),
    ("عائشة", "Aisha"),
    ("شما", "Shamma"),
    ("هند", "Hind"),
    ("ميثاء", "Maitha"),
    ("لطيفة", "Latifa"),
)
EMIRATI_LAST: tuple[Name, ...] = (
    ("المنصوري", "Al Mansoori"),
    ("الهاشمي", "Al Hashimi"),
    ("الكعبي", "Al Kaabi"),
    ("الشامسي", "Al Shamsi"),
    ("النعيمي", "Al Nuaimi"),
    ("المهيري", "Al Muhairi"),
    ("الظاهري", "Al Dhaheri"),
    ("السويدي", "Al Suwaidi"),
    ("الفلاسي", "Al Falasi"),
    ("المزروعي", "Al Mazrouei"),
)
SAUDI_FIRST: tuple[Name, ...] = (
    ("عبدالعزيز", "Abdulaziz"),
    ("فيصل", "Faisal"),
    ("تركي", "Turki"),
    ("نواف", "Nawaf"),
    ("فهد", "Fahad"),
    ("سلمان", "Salman"),
    ("ماجد", "Majed"),
    ("يوسف", "Yousef"),
    ("سارة", "Sara"),
    ("ريم", "Reem"),
    ("لمى", "Lama"),
    ("جواهر", "Jawaher"),
    ("العنود", "Alanoud"),
    ("منيرة", "Munira"),
    ("دانة", "Dana"),
    ("رهف", "Rahaf"),
)
SAUDI_LAST: tuple[Name, ...] = (
    ("القحطاني", "Al Qahtani"),
    ("العتيبي", "Al Otaibi"),
    ("الغامدي", "Al Ghamdi"),
    ("الزهراني", "Al Zahrani"),
    ("الشهري", "Al Shehri"),
    ("الدوسري", "Al Dossari"),
    ("الحربي", "Al Harbi"),
    ("المطيري", "Al Mutairi"),
    ("السبيعي", "Al Subaie"),
    ("الشمري", "Al Shammari"),
)
JP_FIRST: tuple[Name, ...] = (
    ("陽翔", "Haruto"),
    ("蓮", "Ren"),
    ("湊", "Minato"),
    ("大翔", "Hiroto"),
    ("健太", "Kenta"),
    ("翔太", "Shota"),
    ("拓海", "Takumi"),
    ("悠真", "Yuma"),
    ("結菜", "Yuna"),
    ("陽菜", "Hina"),
    ("芽依", "Mei"),
    ("さくら", "Sakura"),
    ("美咲", "Misaki"),
    ("葵", "Aoi"),
    ("凛", "Rin"),
    ("愛子", "Aiko"),
)
JP_LAST: tuple[Name, ...] = (
    ("佐藤", "Sato"),
    ("鈴木", "Suzuki"),
    ("高橋", "Takahashi"),
    ("田中", "Tanaka"),
    ("伊藤", "Ito"),
    ("渡辺", "Watanabe"),
    ("山本", "Yamamoto"),
    ("中村", "Nakamura"),
    ("小林", "Kobayashi"),
    ("加藤", "Kato"),
    ("吉田", "Yoshida"),
    ("山田", "Yamada"),
    ("松本", "Matsumoto"),
    ("井上", "Inoue"),
)
