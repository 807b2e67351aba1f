"""Checking an imported file's rows (pure: no I/O): the mapping from the file's columns
and values to Entraide's fields and codes, then each row → an `ImportedRow`, or the
faults that reject it (line, column, French reason). A row's faults are all reported;
a rejected row is never written."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from domain.import_fields import (
    CODED,
    FALSE_WORDS,
    MOTIF_SEPARATORS,
    MOTIF_SOFT_SEPARATORS,
    PERSON_FIELDS,
    REQUIRED,
    TEMPLATE_HEADERS,
    TRUE_WORDS,
    ImportField,
)
from domain.vocabulary import Stage
from kernel.errors import InvalidArgument, Violation
from kernel.reference import ReferenceData
from services.intake import people_validation as pv
from services.intake.importing.reader import Cell, Row, Table
from services.intake.persons import fold, name_key
from services.intake.validation import quoted

F = ImportField
# Dates of the file are French calendar dates: a day without a time is taken at noon in
# Paris, so that it falls on that day in any period a bilan asks for.
PARIS = ZoneInfo("Europe/Paris")
NOON = time(12, 0)
EARLIEST = date(1990, 1, 1)
MAX_TEXT_LENGTH = 100
# The stages a file dates, in lifecycle order, after the opening (reception).
STAGE_DATES: tuple[tuple[ImportField, Stage], ...] = (
    (F.ECOUTE_AT, Stage.ECOUTE),
    (F.ORIENTATION_AT, Stage.ORIENTATION),
    (F.SUIVI_AT, Stage.SUIVI),
)
# The usual ways, read without strptime (a file has tens of thousands of dates).
_DAY = re.compile(r"^(?P<d>[0-9]{1,2})/(?P<m>[0-9]{1,2})/(?P<y>[0-9]{4})$")
_ISO_DAY = re.compile(r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})$")
_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y")
_DATETIME_FORMATS = (
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
)


@dataclass(frozen=True)
class ColumnMap:
    """Where each field is in the file, and the file's values translated to codes."""

    columns: dict[ImportField, int]  # field → column index
    headers: dict[ImportField, str]  # field → the file's header of that column
    words: Lexicon  # how each coded field's values may be written
    defaults: dict[ImportField, str]


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    field: str
    reason: str
    message: str


@dataclass(frozen=True)
class ImportedPerson:
    # Identity of the person within the file (its number, else name and birth date or phone).
    key: str
    last_name: str
    first_name: str
    name_key: str
    birth_date: date | None
    phone: str | None
    email: str | None
    address_commune: str | None
    address_line: str | None


@dataclass(frozen=True)
class ImportedRow:
    line: int
    # Identity of the dossier (commune and number, else commune and content): the same row
    # imported twice is the same dossier.
    key: str
    territory: str
    site: str
    motifs: list[str]
    arrival_channel: str
    urgent: bool
    assigned_agent: str
    opened_at: datetime
    stages: list[tuple[Stage, datetime]]
    closed_at: datetime | None
    outcome: str | None
    person: ImportedPerson | None
    household: str | None
    # The file's header of the dossier number (for a fault found against the database).
    reference_column: str = ""


@dataclass
class Checked:
    rows: int = 0
    accepted: list[ImportedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({e.line for e in self.errors})


# ---------------------------------------------------------------- the mapping


def _field(raw: str, where: str) -> ImportField:
    try:
        return ImportField(raw)
    except ValueError:
        raise InvalidArgument(
            f"{where}: {raw[:40]!r} is not an import field (see ListReferenceData import_fields)",
            fr=f"« {raw[:40]} » n'est pas un champ d'import : la liste des champs est dans le référentiel.",
            reason="UNKNOWN_FIELD",
            field=where,
        ) from None


def mapping(
    header: Sequence[str],
    columns: Mapping[str, str],
    values: Iterable[tuple[str, str, str]],
    defaults: Mapping[str, str],
    reference: ReferenceData,
) -> ColumnMap:
    """The request's mapping checked against the file's header: INVALID_ARGUMENT naming
    the entry at fault (an unknown field, a column the file does not have, a code that
    does not exist, a required field found nowhere)."""
    folded_header = [fold(h) for h in header]
    found: dict[ImportField, int] = {}
    for raw, column in columns.items():
        f = _field(raw, f"columns[{raw[:40]}]")
        if fold(column) not in folded_header:
            raise InvalidArgument(
                f"columns[{f}]: the file has no column {column[:60]!r}",
                fr=f"Le fichier n'a pas de colonne « {column[:60]} » (champ {f}) : vérifiez la correspondance"
                " des colonnes.",
                reason="UNKNOWN_COLUMN",
                field=f"columns[{f}]",
            )
        found[f] = folded_header.index(fold(column))
    for f in ImportField:
        if f in found:
            continue
        for name in (TEMPLATE_HEADERS[f], f.value):
            if fold(name) in folded_header:
                found[f] = folded_header.index(fold(name))
                break
    translated: dict[ImportField, dict[str, str]] = {}
    plain = lexicon(reference, {})
    for n, (raw, value, code) in enumerate(values):
        f = _field(raw, f"values[{n}].field")
        if f not in CODED:
            raise InvalidArgument(
                f"values[{n}].field: {f} takes no codes",
                fr=f"Le champ {f} ne prend pas de codes : seules les valeurs des champs codés se traduisent.",
                reason="NOT_CODED",
                field=f"values[{n}].field",
            )
        # A site may be translated to nothing ("Domicile": the dossier records no site).
        if _code(f, code, plain) is None and not (f == F.SITE and code == ""):
            raise InvalidArgument(
                f"values[{n}].code: {code[:40]!r} is not a code of {f}",
                fr=f"« {code[:40]} » n'est pas un code du champ {f} : la liste des codes est"
                " dans le référentiel.",
                reason="UNKNOWN_CODE",
                field=f"values[{n}].code",
            )
        translated.setdefault(f, {})[fold(value)] = code
    words = lexicon(reference, translated)
    checked_defaults: dict[ImportField, str] = {}
    for raw, value in defaults.items():
        f = _field(raw, f"defaults[{raw[:40]}]")
        if f in CODED and f != F.MOTIFS and _code(f, value, words) is None:
            raise InvalidArgument(
                f"defaults[{f}]: {value[:40]!r} is not a code of {f}",
                fr=f"La valeur par défaut « {value[:40]} » n'est pas un code du champ {f}.",
                reason="UNKNOWN_CODE",
                field=f"defaults[{f}]",
            )
        checked_defaults[f] = value
    missing = [f for f in sorted(REQUIRED) if f not in found and f not in checked_defaults]
    if missing:
        names = quoted([TEMPLATE_HEADERS[f] for f in missing])
        raise InvalidArgument(
            f"the file has no column for {', '.join(missing)} (and no default)",
            fr=f"Le fichier n'a pas de colonne pour {names} : nommez la colonne qui en tient lieu"
            " (correspondance des colonnes) ou donnez une valeur par défaut.",
            reason="MISSING_COLUMN",
            field="columns",
        )
    return ColumnMap(found, {f: header[i] for f, i in found.items()}, words, checked_defaults)


Lexicon = dict[ImportField, dict[str, str]]  # coded field → folded code or label → code


def lexicon(reference: ReferenceData, translated: Mapping[ImportField, Mapping[str, str]]) -> Lexicon:
    """Every way a coded field's value may be written → its code: the code itself, its
    French label (both folded: case and accents ignored), then the request's translations,
    which take precedence."""
    tables: dict[ImportField, Mapping[str, str]] = {
        F.TERRITORY: reference.territories,
        F.ADDRESS_COMMUNE: reference.territories,
        F.MOTIFS: reference.motifs,
        F.ARRIVAL_CHANNEL: reference.arrival_channels,
        F.OUTCOME: reference.closure_outcomes,
        F.URGENT: {"oui": "oui", "non": "non"},
        # Every commune's sites: a row's site is then checked against its own commune.
        F.SITE: {code: site.label for code, site in reference.sites.items()},
    }
    words: Lexicon = {}
    for f, table in tables.items():
        words[f] = {fold(label): code for code, label in table.items()} | {fold(code): code for code in table}
    for w in TRUE_WORDS:
        words[F.URGENT][w] = "oui"
    for w in FALSE_WORDS:
        words[F.URGENT][w] = "non"
    for f, values in translated.items():
        words[f] = words.get(f, {}) | dict(values)
    return words


@functools.lru_cache(maxsize=8192)
def _folded(value: str) -> str:
    return fold(value)  # coded cells repeat ("logement", "55029"…): folded once each


def _code(f: ImportField, value: str, words: Lexicon) -> str | None:
    """The code a cell stands for (see `lexicon`); an INSEE code written as a number, its
    leading zero lost by a spreadsheet, keeps it."""
    table = words.get(f, {})
    found = table.get(_folded(value))
    if found is None and f in (F.TERRITORY, F.ADDRESS_COMMUNE):
        text = value.strip()
        if text.isdigit() and len(text) < 5:
            found = table.get(text.zfill(5))
    return found


# ---------------------------------------------------------------- one row


class _Row:
    """One row being checked: its cells by field, and the faults found so far."""

    def __init__(self, row: Row, m: ColumnMap, today: date) -> None:
        self.row = row
        self.m = m
        self.today = today
        self.errors: list[RowError] = []

    def cell(self, f: ImportField) -> Cell:
        index = self.m.columns.get(f)
        value: Cell = self.row.cells[index] if index is not None and index < len(self.row.cells) else ""
        if isinstance(value, str):
            value = value.strip()
        if value == "" and f in self.m.defaults:
            return self.m.defaults[f]
        return value

    def text(self, f: ImportField) -> str:
        value = self.cell(f)
        return value.isoformat() if isinstance(value, date) else value

    def fault(self, f: ImportField | None, reason: str, message: str) -> None:
        column = self.m.headers.get(f, TEMPLATE_HEADERS[f]) if f is not None else ""
        self.errors.append(RowError(self.row.line, column, f.value if f else "", reason, message))

    def violations(self, f: ImportField, problems: list[Violation]) -> None:
        for v in problems:
            self.fault(f, v.reason, v.fr)

    def required(self, f: ImportField, what_fr: str) -> str:
        value = self.text(f)
        if not value:
            self.fault(f, "FIELD_REQUIRED", f"Indiquez {what_fr}.")
        return value

    def plain_text(self, f: ImportField, max_length: int, what_fr: str) -> str:
        value = self.text(f)
        if len(value) > max_length:
            self.fault(f, "TOO_LONG", f"Texte trop long pour {what_fr} : {max_length} caractères au plus.")
            return ""
        if pv.has_control_characters(value):
            self.fault(
                f, "CONTROL_CHARACTERS", f"Caractères de contrôle refusés dans {what_fr} : retirez-les."
            )
            return ""
        return value

    def code(self, f: ImportField, reference: ReferenceData, what_fr: str) -> str | None:
        value = self.text(f)
        if not value:
            return None
        found = _code(f, value, self.m.words)
        if found is None:
            self.fault(
                f,
                "UNKNOWN_CODE",
                f"{what_fr} « {value[:60]} » n'existe pas dans le référentiel : utilisez un code ou un"
                " libellé du référentiel, ou traduisez cette valeur (correspondance des valeurs).",
            )
        return found

    def written_date(self, f: ImportField, what_fr: str) -> datetime | None:
        """A date cell as an instant (noon in Paris for a day), or a fault (not a date, not
        on the calendar)."""
        value = self.cell(f)
        if value == "":
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=PARIS)
        if isinstance(value, date):
            return datetime.combine(value, NOON, PARIS)
        return self._parse(f, value, what_fr)

    def moment(self, f: ImportField, what_fr: str) -> datetime | None:
        """A step's date: a written date, neither in the future nor before 1990."""
        parsed = self.written_date(f, what_fr)
        if parsed is None:
            return None
        day = parsed.astimezone(PARIS).date()
        if day > self.today:
            self.fault(f, "DATE_IN_FUTURE", f"{capital(what_fr)} ne peut pas être dans le futur.")
            return None
        if day < EARLIEST:
            self.fault(f, "DATE_TOO_EARLY", f"{capital(what_fr)} ne peut pas être antérieure à 1990.")
            return None
        return parsed

    def _parse(self, f: ImportField, value: str, what_fr: str) -> datetime | None:
        day = _DAY.match(value) or _ISO_DAY.match(value)
        if day is not None:
            d, m, y = (day["d"], day["m"], day["y"])
            try:
                return datetime.combine(date(int(y), int(m), int(d)), NOON, PARIS)
            except ValueError:
                pass  # not on the calendar: said below
        for formats, is_day in ((_DATE_FORMATS, True), (_DATETIME_FORMATS, False)):
            for pattern in formats:
                try:
                    parsed = datetime.strptime(value, pattern)
                except ValueError:
                    continue
                return (
                    datetime.combine(parsed.date(), NOON, PARIS) if is_day else parsed.replace(tzinfo=PARIS)
                )
        if _looks_like_a_date(value):
            self.fault(
                f,
                "INVALID_DATE",
                f"{capital(what_fr)} n'existe pas au calendrier : vérifiez le jour et le mois.",
            )
        else:
            self.fault(
                f,
                "INVALID_FORMAT",
                f"{capital(what_fr)} n'est pas une date : écrivez-la JJ/MM/AAAA (par exemple 27/03/2024).",
            )
        return None


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _looks_like_a_date(value: str) -> bool:
    """Three numbers as a date is written (31/02/2024, 2024-02-31): a calendar slip, not
    something else typed in a date column."""
    parts = value.replace("-", "/").replace(".", "/").split("/")
    return len(parts) == 3 and all(p.isdigit() and 1 <= len(p) <= 4 for p in parts)


def _birth_date(r: _Row) -> date | None:
    """A written date, then CreatePerson's own checks of a birth date (its range)."""
    written = r.written_date(F.BIRTH_DATE, "la date de naissance")
    if written is None:
        return None
    problems: list[Violation] = []
    parsed = pv.parse_birth_date(problems, written.astimezone(PARIS).date().isoformat())
    r.violations(F.BIRTH_DATE, problems)
    return parsed


def _person(r: _Row, reference: ReferenceData, row_key: str) -> ImportedPerson | None:
    if not any(r.text(f) for f in PERSON_FIELDS - {F.ADDRESS_COMMUNE}):
        return None
    problems: list[Violation] = []
    last_name = pv.check_name(problems, "last_name", r.text(F.LAST_NAME))
    r.violations(F.LAST_NAME, problems)
    problems = []
    first_name = pv.check_name(problems, "first_name", r.text(F.FIRST_NAME))
    r.violations(F.FIRST_NAME, problems)
    birth_date = _birth_date(r)
    problems = []
    phone = pv.check_phone(problems, r.text(F.PHONE))
    r.violations(F.PHONE, problems)
    problems = []
    email = pv.check_email(problems, r.text(F.EMAIL))
    r.violations(F.EMAIL, problems)
    commune = r.code(F.ADDRESS_COMMUNE, reference, "La commune de résidence")
    problems = []
    address = pv.check_text(
        problems, "address_line", r.text(F.ADDRESS_LINE), pv.MAX_ADDRESS_LINE_LENGTH, required=False
    )
    r.violations(F.ADDRESS_LINE, problems)
    reference_ = r.plain_text(F.PERSON_REFERENCE, MAX_TEXT_LENGTH, "le numéro de la personne")
    names = name_key(last_name, first_name)
    if reference_:
        # With the name: two files may number their persons alike.
        key = f"ref\x00{reference_}\x00{names}"
    elif birth_date is not None:
        key = f"born\x00{names}\x00{birth_date.isoformat()}"
    elif phone:
        key = f"phone\x00{names}\x00{phone}"
    else:
        key = f"row\x00{row_key}"  # nothing tells two rows are the same person
    return ImportedPerson(
        key=key,
        last_name=last_name,
        first_name=first_name,
        name_key=names,
        birth_date=birth_date,
        phone=phone,
        email=email,
        address_commune=commune,
        address_line=address,
    )


def _content_key(r: _Row) -> str:
    """The row's content, normalised: its identity when the file numbers no dossier."""
    cells = [fold(r.text(f)) for f in ImportField if f != F.REFERENCE]
    return hashlib.sha256("\x1f".join(cells).encode()).hexdigest()


def _check_row(r: _Row, reference: ReferenceData, territories: frozenset[str]) -> ImportedRow | None:
    territory = r.code(F.TERRITORY, reference, "La commune")
    if not r.text(F.TERRITORY):
        r.fault(F.TERRITORY, "FIELD_REQUIRED", "Indiquez la commune du dossier (code INSEE ou nom).")
    elif territory is not None and territory not in territories:
        r.fault(
            F.TERRITORY,
            "TERRITORY_NOT_ASSIGNED",
            "Cette commune ne fait pas partie de vos communes d'intervention : ce dossier ne peut pas être"
            " importé par vous.",
        )
    motifs = _motifs(r, reference)
    channel = r.code(F.ARRIVAL_CHANNEL, reference, "Le canal d'arrivée")
    if not r.text(F.ARRIVAL_CHANNEL):
        r.fault(
            F.ARRIVAL_CHANNEL, "FIELD_REQUIRED", "Indiquez le canal d'arrivée (ou une valeur par défaut)."
        )
    urgent = r.code(F.URGENT, reference, "La valeur d'urgence") == "oui"
    opened_at = r.moment(F.OPENED_AT, "la date d'ouverture")
    if r.cell(F.OPENED_AT) == "":
        r.fault(F.OPENED_AT, "FIELD_REQUIRED", "Indiquez la date d'ouverture du dossier.")
    stages = [(stage, at) for f, stage in STAGE_DATES if (at := r.moment(f, _STAGE_WORDS[stage])) is not None]
    closed_at = r.moment(F.CLOSED_AT, "la date de clôture")
    outcome = r.code(F.OUTCOME, reference, "L'issue")
    if r.text(F.OUTCOME) and r.cell(F.CLOSED_AT) == "":
        r.fault(
            F.CLOSED_AT,
            "FIELD_REQUIRED",
            "Une issue est donnée sans date de clôture : indiquez la date de clôture.",
        )
    if r.cell(F.CLOSED_AT) != "" and not r.text(F.OUTCOME):
        r.fault(F.OUTCOME, "FIELD_REQUIRED", "Le dossier est clôturé : indiquez son issue.")
    _check_order(r, opened_at, stages, closed_at)
    site = _site(r, reference, territory)
    agent = r.plain_text(F.ASSIGNED_AGENT, pv.MAX_AGENT_LENGTH, "l'agent")
    reference_ = r.plain_text(F.REFERENCE, MAX_TEXT_LENGTH, "le numéro du dossier")
    household = r.plain_text(F.HOUSEHOLD_REFERENCE, MAX_TEXT_LENGTH, "le numéro du foyer")
    key = f"{territory}\x00ref\x00{reference_}" if reference_ else f"{territory}\x00row\x00{_content_key(r)}"
    person = _person(r, reference, key)
    if r.errors or territory is None or channel is None or opened_at is None or not motifs:
        return None
    return ImportedRow(
        line=r.row.line,
        key=key,
        territory=territory,
        site=site or "",
        motifs=motifs,
        arrival_channel=channel,
        urgent=urgent,
        assigned_agent=agent,
        opened_at=opened_at,
        stages=stages,
        closed_at=closed_at,
        outcome=outcome,
        person=person,
        household=household or None,
        reference_column=r.m.headers.get(F.REFERENCE, ""),
    )


def _site(r: _Row, reference: ReferenceData, territory: str | None) -> str | None:
    """A site of the row's commune (code or label, or the mapping's translation); the
    label of one of its sites wins over another commune's site of the same label."""
    code = r.code(F.SITE, reference, "Le lieu d'accueil")
    if not code or territory is None:
        return None
    site = reference.sites.get(code)
    if site is not None and site.territory == territory:
        return code
    own = [s.code for s in reference.sites_of([territory]) if _folded(s.label) == _folded(r.text(F.SITE))]
    if len(own) == 1:
        return own[0]
    commune = reference.territories.get(territory, territory)
    codes = [s.code for s in reference.sites_of([territory])]
    r.fault(
        F.SITE,
        "SITE_NOT_IN_COMMUNE",
        f"Le lieu d'accueil « {r.text(F.SITE)[:60]} » n'est pas un site de {commune}"
        + (
            f" (sites de la commune : {quoted(codes)})." if codes else " (la commune n'a aucun site déclaré)."
        ),
    )
    return None


_STAGE_WORDS = {
    Stage.ECOUTE: "la date d'écoute",
    Stage.ORIENTATION: "la date d'orientation",
    Stage.SUIVI: "la date de suivi",
}


def _motifs(r: _Row, reference: ReferenceData) -> list[str]:
    raw = r.text(F.MOTIFS)
    if not raw:
        r.fault(F.MOTIFS, "FIELD_REQUIRED", "Indiquez au moins un motif.")
        return []
    parts = [raw]
    for separator in MOTIF_SEPARATORS:
        parts = [p for part in parts for p in part.split(separator)]
    codes: list[str] = []
    unknown: list[str] = []

    def resolve(text: str, separators: tuple[str, ...]) -> list[str] | None:
        code = _code(F.MOTIFS, text, r.m.words)
        if code is not None:
            return [code]
        if not separators:
            return None
        pieces = [p.strip() for p in text.split(separators[0]) if p.strip()]
        found = [resolve(p, separators[1:]) for p in pieces]
        return None if any(f is None for f in found) else [c for f in found for c in f or []]

    for part in (p.strip() for p in parts):
        if not part:
            continue
        found = resolve(part, MOTIF_SOFT_SEPARATORS)
        if found is None:
            unknown.append(part[:60])
        else:
            codes.extend(c for c in found if c not in codes)
    if unknown:
        r.fault(
            F.MOTIFS,
            "UNKNOWN_CODE",
            f"Motif inconnu du référentiel : {quoted(unknown)}. Utilisez un code ou un libellé du"
            " référentiel, ou traduisez cette valeur (correspondance des valeurs).",
        )
        return []
    return codes


def _check_order(
    r: _Row, opened_at: datetime | None, stages: list[tuple[Stage, datetime]], closed_at: datetime | None
) -> None:
    """Each dated step on or after the one before it (opening, stages, closure)."""
    previous: tuple[str, datetime] | None = ("la date d'ouverture", opened_at) if opened_at else None
    by_stage = dict(stages)
    dated = [(f, _STAGE_WORDS[stage], by_stage[stage]) for f, stage in STAGE_DATES if stage in by_stage]
    if closed_at is not None:
        dated.append((F.CLOSED_AT, "la date de clôture", closed_at))
    for f, words, at in dated:
        if previous is not None and at < previous[1]:
            r.fault(
                f,
                "DATES_OUT_OF_ORDER",
                f"{capital(words)} précède {previous[0]} : vérifiez les dates de la ligne.",
            )
            return
        previous = (words, at)


# ---------------------------------------------------------------- the file


def check(
    table: Table,
    m: ColumnMap,
    reference: ReferenceData,
    territories: Iterable[str],
    today: date,
) -> Checked:
    """Every row checked; rows repeating an earlier row's dossier (same number, or same
    content without a number) are rejected and point at it."""
    checked = Checked(rows=len(table.rows))
    allowed = frozenset(territories)
    first_line: dict[str, int] = {}
    for row in table.rows:
        r = _Row(row, m, today)
        imported = _check_row(r, reference, allowed)
        if imported is not None:
            earlier = first_line.get(imported.key)
            if earlier is not None:
                what = "Ce numéro de dossier" if r.text(F.REFERENCE) else "Cette ligne"
                r.fault(
                    F.REFERENCE if r.text(F.REFERENCE) else None,
                    "DUPLICATE_ROW",
                    f"{what} figure déjà ligne {earlier} : une seule ligne par dossier.",
                )
            else:
                first_line[imported.key] = row.line
                checked.accepted.append(imported)
        checked.errors.extend(r.errors)
    return checked


def today_in_paris(now: datetime) -> date:
    return now.astimezone(PARIS).date()
