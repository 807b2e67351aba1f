"""The French texts sent to people: where and when, never why; Paris hours across DST
changes; SMS within two GSM segments."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import notices
from domain.notices import Place, email, french_moment, reminder_at, sms_segments, sms_text
from domain.planning import PARIS, MessageKind
from kernel import reference
from tests.paths import REPO

REFERENCE = reference.load({})
PLACES = [Place(s.label, s.address, r.label) for s in REFERENCE.sites.values() for r in s.rooms] + [
    Place(s.label, s.address) for s in REFERENCE.sites.values()
]
# Every word of the motif and partner-category labels that says why (the sites' own
# words, e.g. « accueil », may appear: they say where).
WHY = [*REFERENCE.motifs.values(), *REFERENCE.partner_categories.values()]


def texts(kind: MessageKind, place: Place, at: datetime) -> list[str]:
    mail = email(kind, place, at)
    return [sms_text(kind, place, at), mail.subject, mail.body]


# The demo directory's partners: names a host label really takes.
PARTNER_NAMES = [
    o["name"]
    for o in json.loads((REPO / "deploy" / "local" / "demo_partners.json").read_text(encoding="utf-8"))[
        "organizations"
    ]
]


def _template(kind: MessageKind, at: datetime) -> str:
    """The kind's fixed words (its text for a place that says nothing)."""
    return " ".join(texts(kind, Place("", "", ""), at)).lower()


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(MessageKind)),
    place=st.sampled_from(PLACES),
    at=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    motif=st.sampled_from(list(REFERENCE.motifs)),
    host_label=st.one_of(
        st.sampled_from(PARTNER_NAMES),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzéè -", min_size=6, max_size=40),
    ),
    category=st.sampled_from(list(REFERENCE.partner_categories)),
)
def test_no_motif_no_host_label_no_category_in_any_text(
    kind: MessageKind, place: Place, at: datetime, motif: str, host_label: str, category: str
) -> None:
    """Whatever the appointment is about and with whom, no text names it: none of the
    motif's code or label, the host's label, or its category's code or label appears
    beyond the kind's fixed words and the place's own (a label that happens to be made
    of those words says nothing)."""
    said = " ".join(texts(kind, place, at)).lower()
    known = (
        _template(kind, at)
        + " "
        + " ".join(p.site_label + " " + p.address + " " + p.room_label for p in PLACES)
    )
    for secret in (
        motif,
        REFERENCE.motifs[motif],
        host_label.strip(),
        category,
        REFERENCE.partner_categories[category],
    ):
        lowered = secret.lower()
        if lowered and lowered not in known.lower():
            assert lowered not in said, secret
    for why in WHY:
        assert why.lower() not in said


def test_texts_take_only_a_place_and_a_time() -> None:
    # The signatures are the guarantee: nothing else can reach a text.
    import inspect

    for function in (sms_text, email):
        assert list(inspect.signature(function).parameters) == ["kind", "place", "starts_at"]
    assert [f.name for f in notices.Place.__dataclass_fields__.values()] == [
        "site_label",
        "address",
        "room_label",
    ]


@pytest.mark.parametrize(
    ("local", "said"),
    [
        # The day after the October 2026 change (Sunday 25th, 03:00 → 02:00): winter time.
        (datetime(2026, 10, 26, 10, 0), "lundi 26 octobre 2026 à 10 h 00"),
        (datetime(2026, 10, 27, 10, 0), "mardi 27 octobre 2026 à 10 h 00"),
        (datetime(2026, 10, 24, 10, 0), "samedi 24 octobre 2026 à 10 h 00"),
        # The March 2027 change (Sunday 28th, 02:00 → 03:00): summer time.
        (datetime(2027, 3, 29, 9, 30), "lundi 29 mars 2027 à 9 h 30"),
        (datetime(2027, 3, 27, 14, 5), "samedi 27 mars 2027 à 14 h 05"),
        (datetime(2027, 8, 1, 8, 0), "dimanche 1er août 2027 à 8 h 00"),
    ],
)
def test_hours_are_said_in_paris_time_across_dst_changes(local: datetime, said: str) -> None:
    instant = local.replace(tzinfo=PARIS).astimezone(UTC)
    assert french_moment(instant) == said
    mail = email(MessageKind.REMINDER, PLACES[0], instant)
    assert said in mail.body
    # The SMS is in GSM 03.38: « août » loses its circumflex, nothing else changes.
    assert notices.to_gsm(said) in sms_text(MessageKind.REMINDER, PLACES[0], instant)


@pytest.mark.parametrize(
    ("starts_local", "reminder_local", "real_hours"),
    [
        # 48 h before in wall-clock time: 49 real hours across the October change…
        (datetime(2026, 10, 26, 10, 0), datetime(2026, 10, 24, 10, 0), 49),
        (datetime(2026, 10, 27, 10, 0), datetime(2026, 10, 25, 10, 0), 48),
        # … 47 across the March one.
        (datetime(2027, 3, 29, 10, 0), datetime(2027, 3, 27, 10, 0), 47),
        (datetime(2027, 3, 30, 10, 0), datetime(2027, 3, 28, 10, 0), 48),
    ],
)
def test_reminder_48_hours_before_is_the_same_paris_hour_two_days_earlier(
    starts_local: datetime, reminder_local: datetime, real_hours: int
) -> None:
    starts = starts_local.replace(tzinfo=PARIS).astimezone(UTC)
    reminder = reminder_at(starts, 48 * 3600)
    assert reminder.astimezone(PARIS).replace(tzinfo=None) == reminder_local
    assert starts - reminder == timedelta(hours=real_hours)


def test_reminder_in_the_skipped_spring_hour_is_read_with_the_winter_offset() -> None:
    # 02:30 on 28 March 2027 does not exist in Paris: 01:30 UTC (03:30 summer time).
    starts = datetime(2027, 3, 29, 2, 30, tzinfo=PARIS).astimezone(UTC)
    assert reminder_at(starts, 24 * 3600) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("kind", list(MessageKind))
@pytest.mark.parametrize("place", PLACES, ids=lambda p: f"{p.site_label}/{p.room_label}")
def test_sms_are_gsm_and_at_most_two_segments(kind: MessageKind, place: Place) -> None:
    text = sms_text(kind, place, datetime(2026, 9, 30, 13, 45, tzinfo=UTC))
    assert notices.is_gsm(text)
    assert sms_segments(text) <= 2
    assert "contactez l'accueil" in text
    assert place.site_label.split(" ")[0] in text


def test_a_very_long_address_is_dropped_before_the_text_goes_past_two_segments() -> None:
    place = Place("Maison de la solidarité", "Bâtiment " + "très " * 60 + "long", "Bureau 2")
    text = sms_text(MessageKind.REMINDER, place, datetime(2026, 9, 30, 13, 45, tzinfo=UTC))
    assert sms_segments(text) <= 2 and "Bureau 2" in text and "long" not in text


def test_short_messages_fit_one_segment() -> None:
    place = Place("Maison de la solidarité de Dijon", "2 rue des Corroyeurs, 21000 Dijon", "Bureau 1")
    assert sms_segments(sms_text(MessageKind.CANCELLATION, place, datetime(2026, 9, 30, 8, tzinfo=UTC))) == 1


def test_email_says_where_when_and_how_to_change() -> None:
    place = Place("Maison de la solidarité de Dijon", "2 rue des Corroyeurs, 21000 Dijon", "Bureau 1")
    at = datetime(2026, 10, 27, 10, 0, tzinfo=PARIS).astimezone(UTC)
    mail = email(MessageKind.MOVED, place, at)
    assert mail.subject == "Votre rendez-vous est déplacé au mardi 27 octobre 2026"
    for part in (
        "mardi 27 octobre 2026 à 10 h 00",
        "Bureau 1",
        "2 rue des Corroyeurs",
        "contactez l'accueil",
    ):
        assert part in mail.body
    cancelled = email(MessageKind.CANCELLATION, place, at)
    assert "annulé" in cancelled.subject and "autre rendez-vous" in cancelled.body


def test_gsm_counting() -> None:
    assert notices.to_gsm("Côte – «août» œuvre") == 'Cote - "aout" oeuvre'
    assert notices.gsm_septets("a€") == 3
    assert sms_segments("a" * 160) == 1 and sms_segments("a" * 161) == 2 and sms_segments("a" * 307) == 3
