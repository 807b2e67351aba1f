"""The import sample without any server: deterministic for a seed, its good rows valid and
consistent, exactly one known fault per bad row, its files (CSV, XLSX) giving the rows
back line for line, and its oracle consistent with the rows."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from devstack import import_sample
from devstack.import_sample import Sample, generate
from domain.import_fields import TEMPLATE_HEADERS, ImportField
from kernel.reference import ReferenceData, load

F = ImportField
ROWS = 2_000
YEARS = (2023, 2024, 2025)
COL = {f: i for i, f in enumerate(TEMPLATE_HEADERS)}
DATES = (F.OPENED_AT, F.ECOUTE_AT, F.ORIENTATION_AT, F.SUIVI_AT, F.CLOSED_AT, F.BIRTH_DATE)
PERSON = (
    F.PERSON_REFERENCE, F.LAST_NAME, F.FIRST_NAME, F.BIRTH_DATE, F.PHONE, F.EMAIL,
    F.ADDRESS_COMMUNE, F.ADDRESS_LINE, F.HOUSEHOLD_REFERENCE,
)  # fmt: skip
# The brief's faults, written out here rather than read from the module.
FAULTS = {
    ("opened_at", "FIELD_REQUIRED"),
    ("opened_at", "INVALID_DATE"),
    ("opened_at", "INVALID_FORMAT"),
    ("opened_at", "DATE_IN_FUTURE"),
    ("motifs", "UNKNOWN_CODE"),
    ("motifs", "FIELD_REQUIRED"),
    ("territory", "UNKNOWN_CODE"),
    ("arrival_channel", "UNKNOWN_CODE"),
    ("outcome", "UNKNOWN_CODE"),
    ("closed_at", "DATES_OUT_OF_ORDER"),
    ("closed_at", "FIELD_REQUIRED"),
    ("outcome", "FIELD_REQUIRED"),
    ("birth_date", "DATE_IN_FUTURE"),
    ("phone", "INVALID_FORMAT"),
    ("first_name", "FIELD_REQUIRED"),
}
PHONE = re.compile(r"0[67]( \d\d){4}")


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return load({})


@pytest.fixture(scope="module")
def sample() -> Sample:
    return generate(ROWS, seed=7)


@pytest.fixture(scope="module")
def xlsx(sample: Sample) -> bytes:
    return sample.xlsx_bytes()


def day(text: str) -> date:
    if re.fullmatch(r"\d{2}/\d{2}/\d{4}", text):
        return datetime.strptime(text, "%d/%m/%Y").date()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", text), text
    return date.fromisoformat(text)


def good(sample: Sample) -> list[list[str]]:
    return [row for line, row in enumerate(sample.rows, start=2) if line not in sample.bad]


def test_the_same_seed_gives_the_same_bytes_another_seed_others(sample: Sample, xlsx: bytes) -> None:
    again = generate(ROWS, seed=7)
    assert again.csv_bytes() == sample.csv_bytes()
    assert again.xlsx_bytes() == xlsx  # fixed metadata and zip times
    assert again.bad == sample.bad
    other = generate(ROWS, seed=8)
    assert other.csv_bytes() != sample.csv_bytes()
    assert other.bad != sample.bad


def test_the_columns_are_the_templates_in_order(sample: Sample) -> None:
    assert sample.header == list(TEMPLATE_HEADERS.values())
    assert all(len(row) == len(sample.header) for row in sample.rows)
    assert len(sample.rows) == ROWS
    numbers = [row[COL[F.REFERENCE]] for row in sample.rows]
    assert len(set(numbers)) == ROWS
    assert all(re.fullmatch(r"D20\d\d-\d{5}", n) for n in numbers)


def test_exactly_the_bad_fraction_is_bad_with_every_kind_of_fault(sample: Sample) -> None:
    assert len(sample.bad) == round(ROWS * 0.02)
    assert set(sample.bad) <= set(range(2, ROWS + 2))
    assert set(sample.bad.values()) == FAULTS
    # Cycled: no kind more than once ahead of another.
    counts = Counter(sample.bad.values())
    assert max(counts.values()) - min(counts.values()) <= 1
    assert len(generate(500, bad_fraction=0.05, seed=2).bad) == 25
    assert generate(300, bad_fraction=0.0).bad == {}


def test_each_bad_row_holds_its_fault(sample: Sample) -> None:
    today = date(2026, 12, 31)  # later than any good date, earlier than any future one
    for line, (field, reason) in sample.bad.items():
        row = sample.rows[line - 2]
        cell = row[COL[F(field)]]
        match field, reason:
            case _, "FIELD_REQUIRED":
                assert cell == ""
            case "opened_at", "INVALID_DATE":
                assert re.fullmatch(r"\d\d/\d\d/\d{4}", cell)
                with pytest.raises(ValueError):
                    datetime.strptime(cell, "%d/%m/%Y")
            case "opened_at", "INVALID_FORMAT":
                assert cell in ("hier",) or cell.endswith("/13/45x")
            case _, "DATE_IN_FUTURE":
                assert day(cell) > today
            case "motifs", "UNKNOWN_CODE":
                assert "jardinage" in cell.split(";")
            case "territory", "UNKNOWN_CODE":
                assert cell == "99999"
            case "arrival_channel", "UNKNOWN_CODE":
                assert cell == "pigeon voyageur"
            case "outcome", "UNKNOWN_CODE":
                assert cell == "peut-être" and row[COL[F.CLOSED_AT]]
            case "closed_at", "DATES_OUT_OF_ORDER":
                assert day(cell) < day(row[COL[F.OPENED_AT]]) and row[COL[F.OUTCOME]]
                assert not any(row[COL[f]] for f in (F.ECOUTE_AT, F.ORIENTATION_AT, F.SUIVI_AT))
            case "phone", "INVALID_FORMAT":
                assert not PHONE.fullmatch(cell)
            case _:
                raise AssertionError((field, reason))
        if (field, reason) == ("closed_at", "FIELD_REQUIRED"):
            assert row[COL[F.OUTCOME]]
        if (field, reason) == ("outcome", "FIELD_REQUIRED"):
            assert row[COL[F.CLOSED_AT]]
        if field == "first_name":
            assert row[COL[F.LAST_NAME]]


def test_good_rows_dates_are_in_order_within_the_years(sample: Sample) -> None:
    last_day = date(2026, 6, 30)
    for row in good(sample):
        opened = day(row[COL[F.OPENED_AT]])
        assert opened.year in YEARS
        steps = [
            day(row[COL[f]]) for f in (F.ECOUTE_AT, F.ORIENTATION_AT, F.SUIVI_AT, F.CLOSED_AT) if row[COL[f]]
        ]
        assert [opened, *steps] == sorted([opened, *steps])
        if row[COL[F.CLOSED_AT]]:
            closed = day(row[COL[F.CLOSED_AT]])
            assert (closed - opened).days <= 120 and closed <= last_day
            assert row[COL[F.OUTCOME]]
        else:  # open: waiting in orientation or suivi
            assert not row[COL[F.OUTCOME]]
            assert row[COL[F.ORIENTATION_AT]] or row[COL[F.SUIVI_AT]]
        if row[COL[F.BIRTH_DATE]]:
            assert 1930 <= day(row[COL[F.BIRTH_DATE]]).year <= 2008


def test_good_rows_values_are_known_codes_or_labels(sample: Sample, reference: ReferenceData) -> None:
    motif_words = set(reference.motifs) | set(reference.motifs.values())
    communes = set(reference.territories) | set(reference.territories.values())
    for row in good(sample):
        motifs = row[COL[F.MOTIFS]].split(";")
        assert 1 <= len(motifs) <= 3 and set(motifs) <= motif_words
        assert row[COL[F.TERRITORY]] in communes
        assert row[COL[F.ARRIVAL_CHANNEL]] in reference.arrival_channels
        assert row[COL[F.URGENT]] in ("oui", "non")
        assert row[COL[F.OUTCOME]] in ("", *reference.closure_outcomes)
        if row[COL[F.PERSON_REFERENCE]]:
            assert PHONE.fullmatch(row[COL[F.PHONE]])
            assert row[COL[F.ADDRESS_COMMUNE]] in reference.territories
    shares = Counter(row[COL[F.TERRITORY]] in reference.territories for row in good(sample))
    assert 0.05 < shares[False] / len(good(sample)) < 0.15  # some rows write the commune's name


def test_good_rows_sites_are_their_communes_by_code_or_label(
    sample: Sample, reference: ReferenceData
) -> None:
    by_name = {label: code for code, label in reference.territories.items()}
    written: Counter[str] = Counter()
    for row in good(sample):
        territory = by_name.get(row[COL[F.TERRITORY]], row[COL[F.TERRITORY]])
        cell = row[COL[F.SITE]]
        own = reference.sites_of([territory])
        if not own:
            assert cell == ""  # a commune without sites
            continue
        words = {s.code: "code" for s in own} | {s.label: "label" for s in own} | {"": "none"}
        assert cell in words, (territory, cell)
        written[words[cell]] += 1
    assert written["code"] > written["label"] > 0 and written["none"] > 0


def test_a_person_is_the_same_on_each_row_and_phones_are_not_shared(sample: Sample) -> None:
    persons: dict[str, tuple[object, ...]] = {}
    by_phone: defaultdict[str, set[str]] = defaultdict(set)
    person_faults = {"birth_date", "phone", "first_name"}
    for line, row in enumerate(sample.rows, start=2):
        number = row[COL[F.PERSON_REFERENCE]]
        if not number:
            assert not any(row[COL[f]] for f in PERSON)  # no person: every person cell empty
            continue
        if sample.bad.get(line, ("",))[0] in person_faults:
            continue  # a person of its own, one faulty cell ("06-12-AB" on every such row)
        by_phone[row[COL[F.PHONE]]].add(number)
        cells = tuple(day(row[COL[f]]) if f is F.BIRTH_DATE else row[COL[f]] for f in PERSON)
        assert persons.setdefault(number, cells) == cells
    assert all(len(numbers) == 1 for numbers in by_phone.values())
    # Name and birth date tell persons apart (the import merges on them).
    keys = Counter((c[1], c[2], c[3]) for c in persons.values())
    assert max(keys.values()) == 1


def test_persons_return_and_a_third_live_in_households(sample: Sample) -> None:
    rows = good(sample)
    no_person = sum(1 for row in rows if not row[COL[F.PERSON_REFERENCE]])
    assert 0.02 < no_person / len(rows) < 0.08
    assert 0.6 < sample.persons() / len(rows) < 0.75
    members: defaultdict[str, set[str]] = defaultdict(set)
    household_of: dict[str, str] = {}
    for row in sample.rows:
        person, household = row[COL[F.PERSON_REFERENCE]], row[COL[F.HOUSEHOLD_REFERENCE]]
        if person:
            assert household_of.setdefault(person, household) == household
        if household:
            members[household].add(person)
    assert all(2 <= len(m) <= 4 for m in members.values())
    in_households = sum(len(m) for m in members.values())
    assert 0.25 < in_households / len(household_of) < 0.42
    assert sample.households() <= len(members)
    assert 0.01 < sample.open_rows() / len(rows) < 0.06


def test_the_csv_gives_the_rows_back(sample: Sample) -> None:
    for separator in (";", ",", "\t"):
        content = sample.csv_bytes(separator)
        assert content.count(b"\r\n") == ROWS + 1  # no line break inside a cell: lines = rows
        records = list(csv.reader(io.StringIO(content.decode("utf-8"), newline=""), delimiter=separator))
        assert records[0] == sample.header
        assert records[1:] == sample.rows


def test_the_xlsx_has_dates_as_dates_on_the_same_lines(sample: Sample, xlsx: bytes) -> None:
    book = load_workbook(io.BytesIO(xlsx), read_only=True)
    sheet = book.worksheets[0]
    lines = list(sheet.iter_rows(values_only=True))
    assert list(lines[0]) == sample.header
    assert len(lines) == ROWS + 1
    dates = {COL[f] for f in DATES}
    typed = 0
    for line, (values, row) in enumerate(zip(lines[1:], sample.rows, strict=True), start=2):
        for column, (value, cell) in enumerate(zip(values, row, strict=True)):
            if isinstance(value, datetime):
                assert column in dates and value.time() == datetime.min.time()
                assert value.date() == day(cell), (line, column)
                typed += 1
            else:  # text as written; faulty dates stay text
                assert (value or "") == cell, (line, column)
                assert column not in dates or not cell or line in sample.bad
    assert typed > ROWS  # every good opening at least
    book.close()


def test_the_expected_figures_add_up(sample: Sample) -> None:
    rows = good(sample)
    figures = {year: sample.expected(year) for year in (*YEARS, 2026)}
    assert sum(f.dossiers_opened for f in figures.values()) == len(rows)
    assert figures[2026].dossiers_opened == 0
    assert sum(f.dossiers_closed for f in figures.values()) == len(rows) - sample.open_rows()
    for f in figures.values():
        assert f.people_received <= f.dossiers_opened
        assert sum(f.by_commune.values()) == sum(f.by_channel.values()) == f.dossiers_opened
        assert f.dossiers_opened <= sum(f.by_motif.values()) <= 3 * f.dossiers_opened
        assert sum(f.by_outcome.values()) == f.dossiers_closed
        assert f.dossiers_solved == f.by_outcome.get("regle", 0)
    solved = sum(f.dossiers_solved for f in figures.values()) / (len(rows) - sample.open_rows())
    assert 0.3 < solved < 0.4
    reference = load({})
    assert set(figures[2024].by_motif) <= set(reference.motifs)  # labels counted as codes
    assert set(figures[2024].by_commune) <= set(reference.territories)


def test_the_oracle_counts_a_hand_made_file_exactly(reference: ReferenceData) -> None:
    def row(**cells: str) -> list[str]:
        return [cells.get(str(f), "") for f in TEMPLATE_HEADERS]

    rows = [
        row(reference="A", opened_at="03/01/2024", territory="55029", motifs="logement;emploi",
            arrival_channel="telephone", closed_at="2024-02-01", outcome="regle", person_reference="P1"),
        row(reference="B", opened_at="2024-05-06", territory="Bar-le-Duc", motifs="Logement / hébergement",
            arrival_channel="courriel", person_reference="P1", household_reference="F1"),
        row(reference="C", opened_at="28/12/2024", territory="55291", motifs="sante",
            arrival_channel="telephone", closed_at="05/01/2025", outcome="abandon"),
        row(reference="D", opened_at="", territory="55291", motifs="sante", arrival_channel="telephone",
            person_reference="P2", household_reference="F2"),
    ]  # fmt: skip
    sample = Sample(list(TEMPLATE_HEADERS.values()), rows, {5: ("opened_at", "FIELD_REQUIRED")}, reference)
    figures = sample.expected(2024)
    assert (figures.dossiers_opened, figures.people_received) == (3, 2)  # P1 twice, C without person
    assert (figures.dossiers_closed, figures.dossiers_solved) == (1, 1)
    assert figures.by_motif == {"emploi": 1, "logement": 2, "sante": 1}
    assert figures.by_commune == {"55029": 2, "55291": 1}
    assert figures.by_channel == {"courriel": 1, "telephone": 2}
    assert figures.by_outcome == {"regle": 1}
    assert sample.expected(2025).by_outcome == {"abandon": 1}
    assert (sample.persons(), sample.households(), sample.open_rows()) == (1, 1, 1)  # D is bad


def test_territories_restrict_the_communes(reference: ReferenceData) -> None:
    sample = generate(300, seed=3, territories=["55029"])
    for row in good(sample):
        assert row[COL[F.TERRITORY]] in ("55029", reference.territories["55029"])
        assert row[COL[F.ADDRESS_COMMUNE]] in ("", "55029")
    with pytest.raises(ValueError):
        generate(10, territories=["99999"])
    with pytest.raises(ValueError):
        generate(10, years=(2027,))


def test_the_command_writes_the_file_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dossiers.csv"
    assert import_sample.main(["--rows", "300", "--seed", "5", "--out", str(out)]) == 0
    assert out.read_bytes() == generate(300, seed=5).csv_bytes()
    assert "300 dossiers dont 6 en erreur" in capsys.readouterr().err
    book = tmp_path / "dossiers.xlsx"
    assert import_sample.main(["--rows", "50", "--bad-fraction", "0.1", "--out", str(book)]) == 0
    assert book.read_bytes() == generate(50, bad_fraction=0.1).xlsx_bytes()
    with pytest.raises(SystemExit):
        import_sample.main(["--rows", "10", "--out", str(tmp_path / "dossiers.ods")])
