"""The French texts of the messages sent to people about their appointments.

Pure: the place (site, address, room) and the time are all a text may say. Never why:
no motif, no host label, no partner category — a partner's name alone may reveal the
person's problem (a victims' association, a debt counsellor). The functions take only
a `Place` and instants, so nothing else can slip in.

SMS are written in the GSM 03.38 alphabet (letters outside it are replaced by their
plain form: « Côte » → « Cote ») so that a segment holds 160 characters, not 70; a
text stays within two segments. Hours are Paris wall-clock time.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.labels_fr import MONTHS_FR as MONTHS
from domain.planning import PARIS, MessageKind

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
# How to move or cancel: the sites' phone numbers are not in the reference data.
HOW_TO_CHANGE = "Pour déplacer ou annuler ce rendez-vous, contactez l'accueil."
HOW_TO_CHANGE_SHORT = "Déplacer ou annuler : contactez l'accueil."
# Who sends (no service name either: the site is enough to know where).
SIGNATURE = "Ceci est un message automatique, merci de ne pas y répondre."

# GSM 03.38: the basic table (one septet each) and the extension table (two septets).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€")
SMS_SEGMENT = 160
SMS_MULTIPART_SEGMENT = 153
MAX_SMS_SEGMENTS = 2
# Replacements outside GSM 03.38 that the NFKD decomposition does not give.
_PLAIN = {
    "–": "-",
    "—": "-",
    "’": "'",
    "‘": "'",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "œ": "oe",
    "Œ": "OE",
    "\u00a0": " ",
    "\u202f": " ",
    "…": "...",
}


@dataclass(frozen=True)
class Place:
    """Where the appointment is, as the person reads it (kernel.reference's site)."""

    site_label: str
    address: str
    room_label: str = ""


@dataclass(frozen=True)
class Email:
    subject: str
    body: str


def french_day(instant: datetime) -> str:
    """« mardi 27 octobre 2026 » (« 1er » for the first of the month), in Paris."""
    local = instant.astimezone(PARIS)
    day = "1er" if local.day == 1 else str(local.day)
    return f"{WEEKDAYS[local.weekday()]} {day} {MONTHS[local.month - 1]} {local.year}"


def french_hour(instant: datetime) -> str:
    """« 10 h 00 », in Paris."""
    local = instant.astimezone(PARIS)
    return f"{local.hour} h {local.minute:02d}"


def french_moment(instant: datetime) -> str:
    """« mardi 27 octobre 2026 à 10 h 00 » (Paris time)."""
    return f"{french_day(instant)} à {french_hour(instant)}"


def _where(place: Place) -> str:
    parts = [place.site_label]
    if place.room_label:
        parts.append(place.room_label)
    if place.address:
        parts.append(place.address)
    return ", ".join(p.strip() for p in parts if p.strip())


def _sms_lead(kind: MessageKind) -> str:
    return {
        MessageKind.CONFIRMATION: "RDV confirmé le",
        MessageKind.REMINDER: "Rappel : RDV le",
        MessageKind.SECOND_REMINDER: "Rappel : RDV le",
        MessageKind.MOVED: "RDV déplacé au",
        MessageKind.CANCELLATION: "RDV du",
    }[kind]


def sms_text(kind: MessageKind, place: Place, starts_at: datetime) -> str:
    """The SMS: what, when, where, how to change; GSM 03.38, at most two segments."""
    moment = french_moment(starts_at)
    if kind == MessageKind.CANCELLATION:
        text = f"{_sms_lead(kind)} {moment} annulé ({place.site_label}). Nouveau RDV : contactez l'accueil."
    else:
        text = f"{_sms_lead(kind)} {moment}, {_where(place)}. {HOW_TO_CHANGE_SHORT}"
    text = to_gsm(text)
    if sms_segments(text) > MAX_SMS_SEGMENTS:
        # A very long address: the site and room alone still say where.
        text = to_gsm(
            f"{_sms_lead(kind)} {moment}, {_where(Place(place.site_label, '', place.room_label))}."
            f" {HOW_TO_CHANGE_SHORT}"
        )
    if sms_segments(text) > MAX_SMS_SEGMENTS:
        text = truncate_gsm(text, MAX_SMS_SEGMENTS * SMS_MULTIPART_SEGMENT)
    return text


_SUBJECTS = {
    MessageKind.CONFIRMATION: "Votre rendez-vous du {day}",
    MessageKind.REMINDER: "Rappel : votre rendez-vous du {day}",
    MessageKind.SECOND_REMINDER: "Rappel : votre rendez-vous du {day}",
    MessageKind.MOVED: "Votre rendez-vous est déplacé au {day}",
    MessageKind.CANCELLATION: "Votre rendez-vous du {day} est annulé",
}
_OPENINGS = {
    MessageKind.CONFIRMATION: "Votre rendez-vous est confirmé le {moment}.",
    MessageKind.REMINDER: "Nous vous rappelons votre rendez-vous du {moment}.",
    MessageKind.SECOND_REMINDER: "Nous vous rappelons votre rendez-vous du {moment}.",
    MessageKind.MOVED: "Votre rendez-vous a été déplacé. Il aura lieu le {moment}.",
    MessageKind.CANCELLATION: "Votre rendez-vous du {moment} est annulé.",
}


def email(kind: MessageKind, place: Place, starts_at: datetime) -> Email:
    """The e-mail: a subject with the day, a body with the day, hour, place and how to
    move or cancel."""
    subject = _SUBJECTS[kind].format(day=french_day(starts_at))
    lines = ["Bonjour,", "", _OPENINGS[kind].format(moment=french_moment(starts_at)), ""]
    if kind == MessageKind.CANCELLATION:
        lines += [
            f"Lieu prévu : {place.site_label}.",
            "",
            "Pour prendre un autre rendez-vous, contactez l'accueil.",
        ]
    else:
        lines.append(f"Lieu : {place.site_label}")
        if place.room_label:
            lines.append(f"Salle : {place.room_label}")
        if place.address:
            lines.append(f"Adresse : {place.address}")
        lines += ["", HOW_TO_CHANGE]
    lines += ["", SIGNATURE, ""]
    return Email(subject=subject, body="\n".join(lines))


# ---- GSM 03.38 -----------------------------------------------------------------------------


def to_gsm(text: str) -> str:
    """`text` in the GSM 03.38 alphabet: characters outside it replaced by their plain
    form (accents dropped where GSM has no such letter), or « ? »."""
    out: list[str] = []
    for char in text:
        if char in GSM_BASIC or char in GSM_EXTENSION:
            out.append(char)
            continue
        if char in _PLAIN:
            out.append(_PLAIN[char])
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(plain if plain and all(c in GSM_BASIC for c in plain) else "?")
    return "".join(out)


def gsm_septets(text: str) -> int:
    """Septets `text` takes in GSM 03.38 (extension characters take two)."""
    return sum(2 if c in GSM_EXTENSION else 1 for c in text)


def is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def sms_segments(text: str) -> int:
    """How many SMS `text` is sent as (GSM 03.38; concatenated parts hold 153)."""
    septets = gsm_septets(text)
    if septets <= SMS_SEGMENT:
        return 1
    return -(-septets // SMS_MULTIPART_SEGMENT)


def truncate_gsm(text: str, septets: int) -> str:
    out: list[str] = []
    used = 0
    for char in text:
        cost = 2 if char in GSM_EXTENSION else 1
        if used + cost > septets - 1:
            break
        out.append(char)
        used += cost
    return "".join(out).rstrip() + "."


# ---- when reminders are due ------------------------------------------------------------------


def reminder_at(starts_at: datetime, before_s: float) -> datetime:
    """The moment `before_s` seconds before `starts_at` in Paris wall-clock time: 48 h
    before a 10:00 appointment is 10:00 two days earlier, even across a DST change
    (then 47 or 49 real hours). A wall-clock time that does not exist (the spring
    change's skipped hour) is read with the offset before the change."""
    local = starts_at.astimezone(PARIS).replace(tzinfo=None)
    return (local - timedelta(seconds=before_s)).replace(tzinfo=PARIS).astimezone(UTC)
