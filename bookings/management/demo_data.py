"""Fixed data for the demo centre of ``seed_demo``: staff, tutors, products, names, texts."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from backoffice.models import Role
from bookings.models import CancellationPolicy, ProductKind, Scoring

PASSWORD = "seatdesk-demo"
SEED = 2026
CENTRE_TZ = ZoneInfo("Asia/Tashkent")
PAST_DAYS = 14
FUTURE_DAYS = 21
STUDENT_COUNT = 50
SEED_DATA = {"source": "seed"}

# username, first name, last name, role, phone
STAFF = (
    ("manager", "Bekzod", "Tursunov", Role.MANAGER, "+998903174258"),
    ("operator", "Dilnoza", "Rashidova", Role.OPERATOR, "+998935520614"),
    ("aziza", "Aziza", "Karimova", Role.TUTOR, "+998971186203"),
    ("james", "James", "Whitfield", Role.TUTOR, "+998909447312"),
)
TUTOR_PROFILES = {
    "aziza": {
        "timezone": "Asia/Tashkent",
        "auto_confirm": False,
        "cancellation_policy": CancellationPolicy.MODERATE,
        "min_notice_hours": 12,
    },
    # Teaches online from London and confirms at once; students pay him by Click.
    "james": {
        "timezone": "Europe/London",
        "auto_confirm": True,
        "cancellation_policy": CancellationPolicy.FLEXIBLE,
        "min_notice_hours": 24,
    },
}
PRODUCT_FIELDS = ("name", "kind", "duration_minutes", "default_capacity", "price", "payment_window_hours", "scoring")
PRODUCTS = {
    "IELTS-MOCK": ("IELTS mock test (paper-based)", ProductKind.EXAM, 180, 30, 350_000, 24, Scoring.IELTS_BAND),
    # One examiner, one candidate: an unpaid hold is released after 3 hours so the slot goes back on sale.
    "IELTS-SPEAKING": ("IELTS speaking mock (1:1)", ProductKind.EXAM, 20, 1, 120_000, 3, Scoring.IELTS_BAND),
    "GE-LESSON": ("General English lesson (1:1)", ProductKind.LESSON, 60, 1, 150_000, 24, Scoring.NONE),
    "WRITING-CHECK": ("Writing clinic (small group, free)", ProductKind.LESSON, 60, 4, 0, 24, Scoring.NONE),
}
MOCK_WEEKDAYS = (2, 5)  # Wednesday and Saturday
# Bookings per upcoming mock after the first (which sells out); the rest get two.
MOCK_FILL = {1: 18, 2: 12, 3: 8, 4: 5}
AZIZA_HOURS = (9, 10, 11, 12, 14, 15, 16, 17)  # inside her 09–13 and 14–18 windows
JAMES_HOURS = (10, 11, 12, 13, 14)  # London time; 15:00 is the writing clinic on Tue/Thu

MALE_NAMES = (  # noqa: SIM905 -- a word list reads better than a column of quoted names
    "Jasur Sardor Otabek Javohir Doston Sherzod Ulugbek Timur Akmal Farrukh Shohruh Islom Azizbek "
    "Bobur Jamshid Sanjar Diyorbek Rustam Elyor Abdulloh"
).split()
FEMALE_NAMES = (  # noqa: SIM905 -- a word list reads better than a column of quoted names
    "Madina Sevara Nilufar Malika Shahnoza Gulnoza Kamola Dildora Zarina Mohinur Sabina Feruza "
    "Nodira Munisa Laylo Yulduz Ziyoda Charos Rayhona Durdona"
).split()
SURNAMES = (  # noqa: SIM905 -- a word list reads better than a column of quoted names
    "Karimov Yusupov Abdullayev Aliyev Nazarov Ergashev Mirzayev Kholmatov Saidov Rahimov Umarov "
    "Ismoilov Sobirov Qodirov Hamidov Mahmudov Normatov Jurayev Usmonov Azimov Zakirov Fayzullayev"
).split()
MOBILE_CODES = ("90", "91", "93", "94", "95", "97", "98", "99")

WRITING_TASKS = (
    "Task 2: Some people think university education should be free for everyone. Discuss both views.",
    "Task 2: More people live alone nowadays. Is this a positive or negative development?",
    "Task 1: The chart shows internet access in Uzbek households, 2010–2020. Summarise the information.",
    "Task 2: Private cars are increasing in many cities. What problems does this cause? Suggest solutions.",
)
SPEAKING_TASKS = (
    "Part 2: Describe a place in your city that you like to visit.",
    "Part 2: Describe a person who has influenced you.",
    "Part 3: Tourism and its effect on local communities.",
)
COMMENTS = (
    "Clear position and good paragraphing. Work on linking words and article use (a/the).",
    "Ideas are relevant but under-developed: give one concrete example per body paragraph.",
    "Good range of vocabulary; watch subject–verb agreement and run-on sentences.",
    "Fluent, with natural hesitation. Extend Part 3 answers with reasons and consequences.",
    "Pronunciation is clear; intonation is flat in longer turns. Practise stressing key words.",
)
