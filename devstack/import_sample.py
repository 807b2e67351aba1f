"""A CCAS's past files as a spreadsheet to import (ImportDossiers), with its exact oracle.

    python -m devstack.import_sample --rows 10000 --out dossiers.csv [--seed 1] [--bad-fraction 0.02]

`generate` is pure and seeded: the same arguments give the same rows, byte for byte
(no clock, no set iteration order). The file has every template column (TEMPLATE_HEADERS,
in that order); dossiers open uniformly over the given years, persons come back (about
0.7 distinct persons per row), a third of them live in households, and the file is as
untidy as a real one: French and ISO dates, INSEE codes or commune names, motif codes or
labels. Exactly round(rows * bad_fraction) rows carry one fault each; `Sample.bad` says
which (line → field code, reason code) and `Sample.expected` counts the good rows only,
straight from the cells, without any import code.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import sys
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from domain.import_fields import TEMPLATE_HEADERS, ImportField
from kernel.reference import ReferenceData, load

F = ImportField
# No generated date lies after this day (closures included): the file is a past one.
LAST_DAY = date(2026, 6, 30)
MAX_CLOSURE_DAYS = 120
SOLVED = "regle"
HEADER: list[str] = list(TEMPLATE_HEADERS.values())
_COL: dict[ImportField, int] = {f: i for i, f in enumerate(TEMPLATE_HEADERS)}
_DATE_COLUMNS = (F.OPENED_AT, F.ECOUTE_AT, F.ORIENTATION_AT, F.SUIVI_AT, F.CLOSED_AT, F.BIRTH_DATE)
_STAGES = (F.ECOUTE_AT, F.ORIENTATION_AT, F.SUIVI_AT)

# Shares of rows (or persons) with a trait.
PERSONS_PER_ROW = 0.7
NO_PERSON_SHARE = 0.05
HOUSEHOLD_SHARE = 1 / 3
OPEN_SHARE = 0.03
SOLVED_SHARE = 0.35
URGENT_SHARE = 0.05
ISO_DATES_SHARE = 0.10
COMMUNE_NAME_SHARE = 0.10
MOTIF_LABELS_SHARE = 0.10
SITE_SHARE = 0.5
SITE_LABELS_SHARE = 0.3


@dataclass(frozen=True)
class Fault:
    """One kind of injected fault and what the import must report for it."""

    kind: str
    field: ImportField
    reason: str
    # The row must have a person (of its own), or be closed, for the fault to apply.
    needs_person: bool = False
    closed: bool = False


FAULTS: tuple[Fault, ...] = (
    Fault("opened_empty", F.OPENED_AT, "FIELD_REQUIRED"),
    Fault("opened_not_a_day", F.OPENED_AT, "INVALID_DATE"),
    Fault("opened_unparseable", F.OPENED_AT, "INVALID_FORMAT"),
    Fault("opened_future", F.OPENED_AT, "DATE_IN_FUTURE"),
    Fault("motif_unknown", F.MOTIFS, "UNKNOWN_CODE"),
    Fault("motifs_empty", F.MOTIFS, "FIELD_REQUIRED"),
    Fault("commune_unknown", F.TERRITORY, "UNKNOWN_CODE"),
    Fault("channel_unknown", F.ARRIVAL_CHANNEL, "UNKNOWN_CODE"),
    Fault("outcome_unknown", F.OUTCOME, "UNKNOWN_CODE", closed=True),
    Fault("closed_before_opened", F.CLOSED_AT, "DATES_OUT_OF_ORDER", closed=True),
    Fault("closed_missing", F.CLOSED_AT, "FIELD_REQUIRED", closed=True),
    Fault("outcome_missing", F.OUTCOME, "FIELD_REQUIRED", closed=True),
    Fault("born_in_future", F.BIRTH_DATE, "DATE_IN_FUTURE", needs_person=True),
    Fault("phone_malformed", F.PHONE, "INVALID_FORMAT", needs_person=True),
    Fault("first_name_empty", F.FIRST_NAME, "FIELD_REQUIRED", needs_person=True),
)

# Relative frequencies; a code of a deployment's own reference data not listed weighs 3.
_MOTIF_WEIGHTS = {
    "acces_aux_droits": 20, "difficultes_financieres": 18, "logement": 16, "emploi": 8, "sante": 8,
    "famille": 6, "violences_conjugales": 3, "scolarite": 3, "voisinage": 3, "mobilite": 4,
    "numerique": 5, "alimentation": 6, "justice": 2,
}  # fmt: skip
_CHANNEL_WEIGHTS = {
    "visite_spontanee": 30, "telephone": 25, "rendez_vous": 15, "courriel": 5, "permanence_maire": 5,
    "signalement_elu": 5, "signalement_tiers": 5, "orientation_partenaire": 8, "aller_vers": 2,
}  # fmt: skip
_OUTCOME_WEIGHTS = {
    "ecoute_conseil": 25, "oriente_sans_retour": 12, "abandon": 14, "demenagement_deces": 5,
    "sans_solution": 9,
}  # fmt: skip

_LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
    "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Legrand", "Garnier",
    "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Perrin", "Morin", "Mathieu",
    "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson", "Gérard",
    "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Roche", "Noël", "Meyer", "Lucas", "Meunier",
    "Pérez", "Marchand", "Dufour", "Blanchard", "Barbier", "Brun", "Dumas", "Brunet", "Schmitt", "Leroux",
    "Colin", "Renard", "Arnaud", "Caron", "Aubert", "Giraud", "Leclerc", "Vidal", "Bourgeois", "Lemoine",
    "Picard", "Gaillard", "Lacroix", "Fabre", "Dupuis", "Hubert", "Rivière", "Le Gall", "Guillaume",
    "Berger", "Lecomte", "Ménard", "Fleury", "Deschamps", "Carpentier", "Benoît", "Maillard", "Marchal",
    "Aubry", "Vasseur", "Jacquet", "Prévost", "Poirier", "Charpentier", "Huet", "Carré", "Rémy",
    "Schneider", "Perrot", "Guyot", "Barré", "Cousin", "Bouvier", "Haddad", "Benali", "Diallo", "Traoré",
    "N'Diaye", "Da Silva", "Lefèvre-Dumas", "Kowalski", "Hoarau", "Thiébaut", "Collignon", "Humbert",
)  # fmt: skip
_FIRST_NAMES = (
    "Jean", "Marie", "Éloïse", "Hélène", "Chloé", "Zoé", "Léa", "Inès", "Loïc", "Jérôme", "Stéphane",
    "Frédéric", "Cédric", "Gaëlle", "Anaïs", "Maëlys", "Agnès", "Thérèse", "Geneviève", "Françoise",
    "Jacqueline", "Monique", "Nathalie", "Sandrine", "Isabelle", "Sophie", "Camille", "Lucas", "Hugo",
    "Nathan", "Enzo", "Théo", "Léo", "Raphaël", "Gabriel", "Louis", "Arthur", "Jules", "Adam", "Mohamed",
    "Karim", "Yasmine", "Fatima", "Amina", "Sébastien", "Nicolas", "Olivier", "Thierry", "Philippe",
    "Michel", "Pierre", "André", "René", "Gérard", "Bernard", "Christian", "Daniel", "Alain", "Patrick",
    "Didier", "Pascal", "Éric", "Émilie", "Céline", "Aurélie", "Mélanie", "Océane", "Clémence", "Josiane",
    "Ginette", "Raymonde", "Jean-Pierre", "Jean-Luc", "Marie-Claude", "Anne-Sophie", "Noémie", "Joël",
)  # fmt: skip
_STREETS = (
    "rue de la Gare", "rue Voltaire", "avenue du Général-de-Gaulle", "rue des Écoles", "place Reggio",
    "rue du Bourg", "chemin des Vignes", "rue Jean-Jaurès", "boulevard de la Rochelle", "rue de l'Étang",
    "impasse des Tilleuls", "rue Saint-Jean", "allée des Peupliers", "rue du Moulin",
)  # fmt: skip
# Some addresses hold commas and quotes: the CSV must quote them.
_ADDRESS_EXTRAS = ("", "", "", ", bât. B", ", appt 12", ' (résidence "Les Tilleuls")', " bis")
_AGENTS = ("agent.martin", "agent.dubois", "agent.lefevre", "agent.nguyen", "agent.petit", "agent.roux")
_EMAIL_DOMAINS = ("example.org", "example.net", "example.com")  # reserved: nobody's real address


@dataclass(frozen=True)
class YearFigures:
    """What a bilan of the imported good rows must report for one calendar year."""

    year: int
    dossiers_opened: int
    # Distinct persons (numero_personne) with a dossier opened in the year; a row
    # without a person counts as one person.
    people_received: int
    dossiers_closed: int
    dossiers_solved: int
    by_motif: dict[str, int]
    by_commune: dict[str, int]
    by_channel: dict[str, int]
    by_outcome: dict[str, int]


@dataclass
class Sample:
    """The file's cells (strings, "" for empty) and what importing it must report."""

    header: list[str]
    rows: list[list[str]]
    # Line in the file (the header is line 1) → (field code, reason code).
    bad: dict[int, tuple[str, str]]
    reference: ReferenceData = field(default_factory=lambda: load({}), repr=False)

    def good_rows(self) -> Iterator[list[str]]:
        return (row for line, row in enumerate(self.rows, start=2) if line not in self.bad)

    def csv_bytes(self, separator: str = ";") -> bytes:
        out = io.StringIO(newline="")
        writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return out.getvalue().encode("utf-8")

    def xlsx_bytes(self) -> bytes:
        return _xlsx(self.header, self.rows)

    def expected(self, year: int) -> YearFigures:
        return _figures(self, year)

    def persons(self) -> int:
        return len({row[_COL[F.PERSON_REFERENCE]] for row in self.good_rows()} - {""})

    def households(self) -> int:
        return len({row[_COL[F.HOUSEHOLD_REFERENCE]] for row in self.good_rows()} - {""})

    def open_rows(self) -> int:
        return sum(1 for row in self.good_rows() if not row[_COL[F.CLOSED_AT]])


@dataclass
class _Person:
    last_name: str
    first_name: str
    birth: date
    phone: str
    email: str
    commune: str
    address: str
    household: str = ""
    number: str = ""


@dataclass
class _Draw:
    """What decides the random choices: the seed's generator and the reference data."""

    rng: random.Random
    reference: ReferenceData
    territories: Sequence[str]
    names_taken: set[tuple[str, str, date]] = field(default_factory=set)
    phones_taken: set[str] = field(default_factory=set)


def generate(
    rows: int = 10_000,
    years: tuple[int, ...] = (2023, 2024, 2025),
    bad_fraction: float = 0.02,
    seed: int = 1,
    territories: Sequence[str] | None = None,
    reference: ReferenceData | None = None,
) -> Sample:
    if reference is None:
        reference = load({})
    territories = list(territories if territories is not None else reference.territories)
    _check(rows, years, bad_fraction, territories, reference)
    draw = _Draw(random.Random(seed), reference, territories)
    openings = sorted(_openings(draw.rng, years, rows))
    faults = _faults(draw.rng, rows, round(rows * bad_fraction))
    persons = _assign_persons(draw, rows, faults)
    numbers: Counter[int] = Counter()
    cells: list[list[str]] = []
    for index, opened in enumerate(openings):
        numbers[opened.year] += 1
        fault = faults.get(index)
        number = f"D{opened.year}-{numbers[opened.year]:05d}"
        row = _dossier(draw, number, opened, persons[index], closed=fault is not None and fault.closed)
        if fault is not None:
            _inject(draw.rng, fault, row, opened)
        cells.append([row.get(f, "") for f in TEMPLATE_HEADERS])
    bad = {index + 2: (str(fault.field), fault.reason) for index, fault in sorted(faults.items())}
    return Sample(list(HEADER), cells, bad, reference)


def _check(
    rows: int, years: tuple[int, ...], bad_fraction: float, territories: list[str], reference: ReferenceData
) -> None:
    if rows < 0:
        raise ValueError("rows must not be negative")
    if not years or any(date(y, 1, 1) > LAST_DAY for y in years):
        raise ValueError(f"years must be given, none after {LAST_DAY.year}")
    if not 0 <= bad_fraction <= 1:
        raise ValueError("bad_fraction must lie between 0 and 1")
    unknown = [t for t in territories if t not in reference.territories]
    if not territories or unknown:
        raise ValueError(f"territories must be reference territories' codes (unknown: {unknown})")


def _openings(rng: random.Random, years: tuple[int, ...], rows: int) -> list[date]:
    # Every day of the years equally likely; none after LAST_DAY.
    days = [
        d
        for year in sorted(set(years))
        for d in (date(year, 1, 1) + timedelta(n) for n in range(366))
        if d.year == year and d <= LAST_DAY
    ]
    return [rng.choice(days) for _ in range(rows)]


def _faults(rng: random.Random, rows: int, count: int) -> dict[int, Fault]:
    # The i-th chosen row gets the i-th kind, cycling: every kind occurs once count >= 15.
    return {index: FAULTS[i % len(FAULTS)] for i, index in enumerate(rng.sample(range(rows), count))}


def _assign_persons(draw: _Draw, rows: int, faults: dict[int, Fault]) -> list[_Person | None]:
    """Each row's person (None: the row has none). A row whose fault is in a person
    cell gets a person of its own: good rows never depend on a bad row's person cells."""
    rng = draw.rng
    persons: list[_Person | None] = [None] * rows
    own = [i for i, fault in sorted(faults.items()) if fault.needs_person]
    pooled = [i for i in range(rows) if i not in faults or not faults[i].needs_person]
    pooled = [i for i in pooled if rng.random() >= NO_PERSON_SHARE]
    pool = _pool(draw, min(len(pooled), max(1, round(rows * PERSONS_PER_ROW))) if pooled else 0)
    # Each pooled person once, then returns drawn with a skew: some come back often.
    weights = [rng.paretovariate(1.5) for _ in pool]
    returns = rng.choices(range(len(pool)), weights, k=len(pooled) - len(pool)) if pool else []
    slots = list(range(len(pool))) + returns
    rng.shuffle(slots)
    for index, slot in zip(pooled, slots, strict=True):
        persons[index] = pool[slot]
    for index in own:
        persons[index] = _person(draw)
    _number(persons)
    return persons


def _pool(draw: _Draw, size: int) -> list[_Person]:
    """`size` persons, about a third of them in households of 2 to 4."""
    rng = draw.rng
    pool: list[_Person] = []
    households = 0
    while len(pool) < size:
        left = size - len(pool)
        members = rng.randint(2, 4) if len(pool) < size * HOUSEHOLD_SHARE and left >= 2 else 1
        head = _person(draw)
        pool.append(head)
        if members == 1:
            continue
        households += 1
        head.household = f"household {households}"  # numbered by _number
        for _ in range(min(members, left) - 1):
            # Members live together; most share the head's last name.
            last_name = head.last_name if rng.random() < 0.7 else None
            member = _person(draw, last_name, head.commune, head.address)
            member.household = head.household
            pool.append(member)
    rng.shuffle(pool)
    return pool


def _person(
    draw: _Draw, last_name: str | None = None, commune: str = "", address: str | None = None
) -> _Person:
    rng = draw.rng
    while True:  # name and birth date unique (accents and case ignored): the import merges on them
        last = last_name or rng.choice(_LAST_NAMES)
        first = rng.choice(_FIRST_NAMES)
        birth = date(1930, 1, 1) + timedelta(rng.randrange((date(2008, 12, 31) - date(1930, 1, 1)).days + 1))
        key = (_fold(last), _fold(first), birth)
        if key not in draw.names_taken:
            draw.names_taken.add(key)
            break
    return _Person(
        last_name=last,
        first_name=first,
        birth=birth,
        phone=_phone(draw),
        email=_email(rng, first, last) if rng.random() < 0.4 else "",
        commune=commune or rng.choice(draw.territories),
        address=_address(rng) if address is None and rng.random() < 0.6 else address or "",
    )


def _phone(draw: _Draw) -> str:
    while True:
        digits = f"0{draw.rng.choice('67')}" + "".join(draw.rng.choices("0123456789", k=8))
        if digits not in draw.phones_taken:
            draw.phones_taken.add(digits)
            return " ".join(digits[i : i + 2] for i in range(0, 10, 2))


def _email(rng: random.Random, first: str, last: str) -> str:
    local = f"{_fold(first)}.{_fold(last)}".replace(" ", "").replace("'", "")
    suffix = str(rng.randint(1, 99)) if rng.random() < 0.5 else ""
    return f"{local}{suffix}@{rng.choice(_EMAIL_DOMAINS)}"


def _address(rng: random.Random) -> str:
    return f"{rng.randint(1, 120)} {rng.choice(_STREETS)}{rng.choice(_ADDRESS_EXTRAS)}"


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _number(persons: list[_Person | None]) -> None:
    # Persons and households numbered in order of first appearance, as in an old register.
    count = 0
    households: dict[str, str] = {}
    for person in persons:
        if person is None or person.number:
            continue  # no person, or numbered at an earlier row
        count += 1
        person.number = f"P{count:05d}"
        if person.household:
            key = person.household
            person.household = households.setdefault(key, f"F{len(households) + 1:04d}")


def _dossier(draw: _Draw, number: str, opened: date, person: _Person | None, closed: bool) -> dict[F, str]:
    rng, ref = draw.rng, draw.reference
    iso = rng.random() < ISO_DATES_SHARE  # a row's dates all in one format, as typed
    # People mostly ask in the commune they live in.
    territory = person.commune if person and rng.random() < 0.85 else rng.choice(draw.territories)
    motifs = _motifs(rng, ref)
    labels = rng.random() < MOTIF_LABELS_SHARE
    row = {
        F.REFERENCE: number,
        F.TERRITORY: ref.territories[territory] if rng.random() < COMMUNE_NAME_SHARE else territory,
        F.MOTIFS: ";".join(ref.motifs[m] if labels else m for m in motifs),
        F.ARRIVAL_CHANNEL: _weighted(rng, list(ref.arrival_channels), _CHANNEL_WEIGHTS),
        F.URGENT: "oui" if rng.random() < URGENT_SHARE else "non",
        F.SITE: _site(rng, ref, territory),
        F.ASSIGNED_AGENT: rng.choice(_AGENTS) if rng.random() < 0.6 else "",
    }
    dates = _timeline(rng, opened, closed or rng.random() >= OPEN_SHARE)
    row.update({f: _format(d, iso) for f, d in dates.items()})
    if F.CLOSED_AT in dates:
        row[F.OUTCOME] = _outcome(rng, ref)
    if person is not None:
        row.update(_person_cells(person, iso))
    return row


def _site(rng: random.Random, ref: ReferenceData, territory: str) -> str:
    """Half the rows name where the person was received: a site of the row's commune (the
    reference data's), by its code or its label; a commune without sites has none."""
    sites = ref.sites_of([territory])
    if not sites or rng.random() >= SITE_SHARE:
        return ""
    site = rng.choice(sites)
    return site.label if rng.random() < SITE_LABELS_SHARE else site.code


def _timeline(rng: random.Random, opened: date, closed: bool) -> dict[F, date]:
    """Opening, the stages present (in order) and, if closed, the closure."""
    end = min(opened + timedelta(rng.randint(0, MAX_CLOSURE_DAYS)), LAST_DAY)
    offsets = sorted(rng.randint(0, (end - opened).days) for _ in _STAGES)
    stages = dict(zip(_STAGES, (opened + timedelta(o) for o in offsets), strict=True))
    if closed:
        keep = {F.ECOUTE_AT: 0.75, F.ORIENTATION_AT: 0.45, F.SUIVI_AT: 0.35}
    else:  # an open dossier waits in orientation or suivi
        in_suivi = rng.random() < 0.5
        keep = {F.ECOUTE_AT: 0.75, F.ORIENTATION_AT: 0.6 if in_suivi else 1.0, F.SUIVI_AT: float(in_suivi)}
    dates = {F.OPENED_AT: opened} | {f: d for f, d in stages.items() if rng.random() < keep[f]}
    if closed:
        dates[F.CLOSED_AT] = end
    return dates


def _person_cells(person: _Person, iso: bool) -> dict[F, str]:
    return {
        F.PERSON_REFERENCE: person.number,
        F.LAST_NAME: person.last_name,
        F.FIRST_NAME: person.first_name,
        F.BIRTH_DATE: _format(person.birth, iso),
        F.PHONE: person.phone,
        F.EMAIL: person.email,
        F.ADDRESS_COMMUNE: person.commune,
        F.ADDRESS_LINE: person.address,
        F.HOUSEHOLD_REFERENCE: person.household,
    }


def _weighted(rng: random.Random, codes: list[str], weights: dict[str, int]) -> str:
    return rng.choices(codes, [weights.get(code, 3) for code in codes])[0]


def _motifs(rng: random.Random, ref: ReferenceData) -> list[str]:
    codes = list(ref.motifs)
    count = min(rng.choices((1, 2, 3), (60, 30, 10))[0], len(codes))
    chosen: list[str] = []
    while len(chosen) < count:
        code = _weighted(rng, codes, _MOTIF_WEIGHTS)
        if code not in chosen:
            chosen.append(code)
    return chosen


def _outcome(rng: random.Random, ref: ReferenceData) -> str:
    others = [code for code in ref.closure_outcomes if code != SOLVED]
    if not others or (SOLVED in ref.closure_outcomes and rng.random() < SOLVED_SHARE):
        return SOLVED
    return _weighted(rng, others, _OUTCOME_WEIGHTS)


def _format(day: date, iso: bool) -> str:
    return day.isoformat() if iso else f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def _inject(rng: random.Random, fault: Fault, row: dict[F, str], opened: date) -> None:
    """Turns one cell of a valid row into the fault; the other cells stay valid."""
    iso = "-" in row[F.OPENED_AT]
    if fault.field is F.OPENED_AT:
        # Without a valid opening any later date could be reported too: the row keeps none.
        for f in (*_STAGES, F.CLOSED_AT, F.OUTCOME):
            row[f] = ""
    match fault.kind:
        case "opened_empty":
            row[F.OPENED_AT] = ""
        case "opened_not_a_day":
            row[F.OPENED_AT] = (
                f"{rng.choice(('30/02', '31/02', '31/04', '31/06', '31/09', '31/11'))}/{opened.year}"
            )
        case "opened_unparseable":
            row[F.OPENED_AT] = rng.choice(("hier", f"{opened.year}/13/45x"))
        case "opened_future":
            row[F.OPENED_AT] = _format(date(2030, opened.month, min(opened.day, 28)), iso)
        case "motif_unknown":
            row[F.MOTIFS] += ";jardinage"
        case "motifs_empty":
            row[F.MOTIFS] = ""
        case "commune_unknown":
            row[F.TERRITORY] = "99999"
        case "channel_unknown":
            row[F.ARRIVAL_CHANNEL] = "pigeon voyageur"
        case "outcome_unknown":
            row[F.OUTCOME] = "peut-être"
        case "closed_before_opened":
            for f in _STAGES:  # only the closure is out of order
                row[f] = ""
            row[F.CLOSED_AT] = _format(opened - timedelta(rng.randint(1, 30)), iso)
        case "closed_missing":
            row[F.CLOSED_AT] = ""
        case "outcome_missing":
            row[F.OUTCOME] = ""
        case "born_in_future":
            row[F.BIRTH_DATE] = _format(
                date(rng.randint(2031, 2039), rng.randint(1, 12), rng.randint(1, 28)), iso
            )
        case "phone_malformed":
            row[F.PHONE] = "06-12-AB"
        case "first_name_empty":
            row[F.FIRST_NAME] = ""
        case _:
            raise AssertionError(fault.kind)


# The oracle: counted from the good rows' cells, sharing nothing with the import.


def _parse_date(text: str) -> date:
    if "/" in text:
        day, month, year = text.split("/")
        return date(int(year), int(month), int(day))
    return date.fromisoformat(text)


def _figures(sample: Sample, year: int) -> YearFigures:
    ref = sample.reference
    territory_codes = {label: code for code, label in ref.territories.items()}
    motif_codes = {label: code for code, label in ref.motifs.items()}
    good = list(sample.good_rows())
    opened = [row for row in good if _parse_date(row[_COL[F.OPENED_AT]]).year == year]
    closed = [
        row for row in good if row[_COL[F.CLOSED_AT]] and _parse_date(row[_COL[F.CLOSED_AT]]).year == year
    ]
    # A row without a person stands for one person of its own.
    people = {row[_COL[F.PERSON_REFERENCE]] or f"dossier {row[_COL[F.REFERENCE]]}" for row in opened}
    motifs = Counter(
        motif_codes.get(m, m) for row in opened for m in dict.fromkeys(row[_COL[F.MOTIFS]].split(";"))
    )
    outcomes = Counter(row[_COL[F.OUTCOME]] for row in closed)
    return YearFigures(
        year=year,
        dossiers_opened=len(opened),
        people_received=len(people),
        dossiers_closed=len(closed),
        dossiers_solved=outcomes[SOLVED],
        by_motif=_sorted(motifs),
        by_commune=_sorted(
            Counter(territory_codes.get(row[_COL[F.TERRITORY]], row[_COL[F.TERRITORY]]) for row in opened)
        ),
        by_channel=_sorted(Counter(row[_COL[F.ARRIVAL_CHANNEL]] for row in opened)),
        by_outcome=_sorted(outcomes),
    )


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items()))


# XLSX: real date cells, fixed metadata and zip times so the same rows give the same bytes.
_FIXED_TIME = datetime(2026, 6, 30)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_FRENCH_DAY = re.compile(r"\d{2}/\d{2}/\d{4}")


def _as_date(text: str) -> date | None:
    """The day a well-formed date cell holds; None for anything else (faults stay text)."""
    if not (_ISO_DAY.fullmatch(text) or _FRENCH_DAY.fullmatch(text)):
        return None
    try:
        return _parse_date(text)
    except ValueError:
        return None


def _xlsx(header: list[str], rows: list[list[str]]) -> bytes:
    # openpyxl is imported here: CSV users do not pay for it.
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    # A normal (not write-only) workbook: as fast here, and it records the sheet's
    # dimension, so readers give every row all its columns, as in a spreadsheet application's file.
    book = Workbook()
    sheet = book.worksheets[0]
    sheet.title = "Dossiers"
    sheet.append(header)
    date_columns = [_COL[f] + 1 for f in _DATE_COLUMNS]
    for line, row in enumerate(rows, start=2):
        sheet.append([cell or None for cell in row])  # None: an empty cell, not ""
        for column in date_columns:
            day = _as_date(row[column - 1])
            if day is not None:
                cell = sheet.cell(line, column)
                # At midnight: a date cell (openpyxl's stubs type date values as datetime).
                cell.value = datetime.combine(day, datetime.min.time())
                cell.number_format = "dd/mm/yyyy"
    book.properties.created = book.properties.modified = _FIXED_TIME
    buffer = io.BytesIO()
    ExcelWriter(book, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    return _fixed_zip_times(buffer.getvalue())


def _fixed_zip_times(content: bytes) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(content)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, _FIXED_TIME.timetuple()[:6])
            target.writestr(entry, source.read(info), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _french(number: float) -> str:
    return f"{number:,}".replace(",", "\u202f").replace(".", ",")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.import_sample",
        description="Write a CCAS's past files as a CSV or XLSX file to import (ImportDossiers).",
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--out", type=Path, required=True, help="FILE.csv or FILE.xlsx")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bad-fraction", type=float, default=0.02)
    parser.add_argument("--years", type=int, nargs="+", default=[2023, 2024, 2025])
    args = parser.parse_args(argv)
    suffix = args.out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        parser.error("--out must end in .csv or .xlsx")
    start = time.perf_counter()
    try:
        sample = generate(args.rows, tuple(args.years), args.bad_fraction, args.seed)
    except ValueError as error:
        parser.error(str(error))
    content = sample.xlsx_bytes() if suffix == ".xlsx" else sample.csv_bytes()
    args.out.write_bytes(content)
    elapsed = time.perf_counter() - start
    print(
        f"{args.out} : {_french(len(sample.rows))} dossiers dont {_french(len(sample.bad))} en erreur,"
        f" {_french(sample.persons())} personnes, {_french(sample.households())} foyers,"
        f" {_french(sample.open_rows())} dossiers ouverts ; {_french(len(content))} octets"
        f" en {_french(round(elapsed, 1))} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
