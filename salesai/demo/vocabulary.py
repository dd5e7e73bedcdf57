"""Word lists the synthetic CRM draws from: names, places, industries, titles and sources.

Kept apart from the generator so the process (who converts, when, why) reads without scrolling
through lists. Everything here is plain data; the order of every list matters for determinism.
"""

from typing import NamedTuple

FIRST_NAMES = (
    "Anna",
    "Lukas",
    "Sofia",
    "Jonas",
    "Emma",
    "Noah",
    "Mia",
    "Elias",
    "Lena",
    "Felix",
    "Olivia",
    "Liam",
    "Charlotte",
    "James",
    "Amelia",
    "Oliver",
    "Isla",
    "Harry",
    "Ava",
    "George",
    "Chloé",
    "Louis",
    "Camille",
    "Hugo",
    "Léa",
    "Jules",
    "Manon",
    "Gabriel",
    "Inès",
    "Arthur",
    "Sara",
    "Daan",
    "Julia",
    "Sem",
    "Tess",
    "Lars",
    "Astrid",
    "Erik",
    "Maja",
    "Oskar",
    "Lucía",
    "Mateo",
    "Carmen",
    "Pablo",
    "Elena",
    "Diego",
    "Marta",
    "Javier",
    "Laura",
    "Carlos",
    "Emily",
    "Michael",
    "Sarah",
    "David",
    "Jessica",
    "Daniel",
    "Ashley",
    "Matthew",
    "Hannah",
    "Ryan",
    "Priya",
    "Arjun",
    "Mei",
    "Wei",
    "Yuki",
    "Kenji",
    "Fatima",
    "Omar",
    "Aylin",
    "Mehmet",
    "Nina",
    "Paul",
    "Clara",
    "Max",
    "Johanna",
    "Leon",
    "Marie",
    "Tobias",
    "Katharina",
    "Simon",
)

LAST_NAMES = (
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Keller",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Evans",
    "Walker",
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "Mulder",
    "Bos",
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Lindberg",
    "Berg",
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Ruiz",
    "Miller",
    "Davis",
    "Anderson",
    "Clark",
    "Lewis",
    "Young",
    "Hall",
    "Allen",
    "King",
    "Wright",
    "Patel",
    "Sharma",
    "Chen",
    "Wang",
    "Tanaka",
    "Sato",
    "Khan",
    "Ali",
    "Yılmaz",
    "Kaya",
)


class Country(NamedTuple):
    name: str
    weight: float
    tld: str
    currency: str
    time_zone: str
    phone_prefix: str
    cities: tuple[str, ...]
    language: str


COUNTRIES = (
    Country(
        "United States",
        0.30,
        "com",
        "USD",
        "America/New_York",
        "+1",
        ("New York", "San Francisco", "Austin", "Chicago", "Boston", "Seattle", "Denver"),
        "English",
    ),
    Country(
        "Germany",
        0.20,
        "de",
        "EUR",
        "Europe/Berlin",
        "+49",
        ("Berlin", "Munich", "Hamburg", "Cologne", "Frankfurt", "Stuttgart"),
        "German",
    ),
    Country(
        "United Kingdom",
        0.15,
        "co.uk",
        "GBP",
        "Europe/London",
        "+44",
        ("London", "Manchester", "Edinburgh", "Bristol", "Leeds"),
        "English",
    ),
    Country(
        "France", 0.10, "fr", "EUR", "Europe/Paris", "+33", ("Paris", "Lyon", "Toulouse", "Nantes", "Lille"), "French"
    ),
    Country(
        "Netherlands",
        0.08,
        "nl",
        "EUR",
        "Europe/Amsterdam",
        "+31",
        ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"),
        "Dutch",
    ),
    Country(
        "Spain", 0.07, "es", "EUR", "Europe/Madrid", "+34", ("Madrid", "Barcelona", "Valencia", "Seville"), "Spanish"
    ),
    Country("Sweden", 0.05, "se", "EUR", "Europe/Stockholm", "+46", ("Stockholm", "Gothenburg", "Malmö"), "Swedish"),
    Country("Canada", 0.05, "ca", "USD", "America/Toronto", "+1", ("Toronto", "Vancouver", "Montreal"), "English"),
)

LEGAL_SUFFIX = {
    "United States": ("Inc.", "LLC", "Corp."),
    "Germany": ("GmbH", "AG", "GmbH & Co. KG"),
    "United Kingdom": ("Ltd", "plc", "Ltd"),
    "France": ("SAS", "SA", "SARL"),
    "Netherlands": ("B.V.", "N.V."),
    "Spain": ("S.L.", "S.A."),
    "Sweden": ("AB",),
    "Canada": ("Inc.", "Ltd."),
}

COMPANY_STEMS = (
    "Acorn",
    "Bluefin",
    "Northwind",
    "Helix",
    "Cobalt",
    "Granite",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orchard",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Summit",
    "Tidal",
    "Vertex",
    "Willow",
    "Zephyr",
    "Aurora",
    "Beacon",
    "Cedar",
    "Delta",
    "Ember",
    "Falcon",
    "Glacier",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lighthouse",
    "Maple",
    "Nova",
    "Onyx",
    "Polaris",
    "Quill",
    "Riverstone",
    "Sapphire",
    "Thistle",
    "Umbra",
    "Vantage",
    "Westbrook",
    "Yellowpine",
    "Alder",
    "Brightline",
    "Crescent",
    "Driftwood",
    "Evergreen",
    "Foxglove",
    "Goldcrest",
    "Highfield",
)

# industry -> (relative weight, fit bonus, nouns used in company names)
INDUSTRIES = {
    "Software": (0.22, 0.6, ("Software", "Labs", "Cloud", "Systems", "Digital")),
    "Financial Services": (0.10, 0.4, ("Capital", "Finance", "Payments", "Partners")),
    "Manufacturing": (0.14, 0.0, ("Industries", "Manufacturing", "Components", "Works")),
    "Retail": (0.10, -0.2, ("Retail", "Stores", "Goods", "Brands")),
    "Healthcare": (0.09, 0.1, ("Health", "Medical", "Care", "Clinics")),
    "Logistics": (0.09, 0.2, ("Logistics", "Freight", "Transport", "Shipping")),
    "Marketing & Advertising": (0.08, 0.3, ("Media", "Creative", "Agency", "Studios")),
    "Education": (0.06, -0.5, ("Learning", "Academy", "Education")),
    "Real Estate": (0.06, -0.3, ("Properties", "Estates", "Realty")),
    "Energy": (0.06, 0.1, ("Energy", "Power", "Renewables")),
}

SENIORITIES = (
    # (title template, weight, fit bonus); "{function}" / "{chief}" are filled in
    ("{chief}", 0.05, 0.6),
    ("VP {function}", 0.09, 0.7),
    ("Director of {function}", 0.14, 0.6),
    ("Head of {function}", 0.14, 0.5),
    ("{function} Manager", 0.24, 0.2),
    ("Senior {function} Specialist", 0.12, -0.1),
    ("{function} Analyst", 0.14, -0.3),
    ("{function} Intern", 0.08, -0.9),
)

# function -> (weight, fit bonus); "Chief Sales Officer" etc. read naturally for these.
FUNCTIONS = {
    "Sales": (0.28, 0.6),
    "Revenue Operations": (0.10, 0.8),
    "Marketing": (0.20, 0.3),
    "Operations": (0.12, 0.0),
    "Finance": (0.08, -0.1),
    "IT": (0.10, -0.1),
    "Customer Success": (0.07, 0.2),
    "HR": (0.05, -0.6),
}

CHIEF_TITLES = {
    "Sales": "Chief Sales Officer",
    "Revenue Operations": "Chief Revenue Officer",
    "Marketing": "Chief Marketing Officer",
    "Operations": "Chief Operating Officer",
    "Finance": "Chief Financial Officer",
    "IT": "Chief Information Officer",
    "Customer Success": "Chief Customer Officer",
    "HR": "Chief People Officer",
}

# lead source -> (weight, fit bonus): referrals and events convert better than cold outbound.
LEAD_SOURCES = {
    "Organic search": (0.22, 0.1),
    "Paid search": (0.16, -0.1),
    "Referral": (0.10, 0.6),
    "Event": (0.10, 0.3),
    "Outbound": (0.20, -0.4),
    "Partner": (0.07, 0.4),
    "Webinar": (0.10, 0.1),
    "Social media": (0.05, -0.3),
}

FREE_EMAIL_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.com",
    "gmx.de",
    "web.de",
    "icloud.com",
    "proton.me",
)

# Our own sales team: the contact owners.
REPS = (
    "lena.hoffmann@demo.salesai.example",
    "marcus.reed@demo.salesai.example",
    "sofia.alvarez@demo.salesai.example",
    "tom.becker@demo.salesai.example",
    "priya.nair@demo.salesai.example",
    "jonas.lindqvist@demo.salesai.example",
)

PRODUCTS = ("Analytics", "Automation", "Integrations", "Forecasting")

COMPETITORS = ("Pipewise", "SalesGrid", "Leadly", "Forecastr", "OrbitCRM", "the in-house tool")

BUDGET_RANGES = ("< 10k", "10k-50k", "50k-200k", "200k+")

DEAL_PIPELINE = "Sales Pipeline"
OPEN_DEAL_STAGES = (
    ("Appointment scheduled", 0.25),
    ("Qualified to buy", 0.25),
    ("Presentation scheduled", 0.20),
    ("Decision maker bought-in", 0.15),
    ("Contract sent", 0.15),
)
WON_STAGE = "Closed won"
LOST_STAGE = "Closed lost"
