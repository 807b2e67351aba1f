"""Checking an imported file's rows: the mapping, each kind of fault with its line,
column and reason, what an accepted row becomes."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from domain.import_fields import TEMPLATE_HEADERS, ImportField
from domain.vocabulary import Stage
from kernel import reference
from kernel.errors import InvalidArgument
from services.intake.importing import rows
from services.intake.importing.reader import Row, Table

REFERENCE = reference.load({})
TERRITORIES = tuple(REFERENCE.territories)
TODAY = date(2026, 12, 2)
F = ImportField
HEADER = [TEMPLATE_HEADERS[f] for f in ImportField]


def table(*lines: dict[ImportField, object], header: list[str] = HEADER) -> Table:
    def cells(values: dict[ImportField, object]) -> list[object]:
        return [values.get(f, "") for f in ImportField]

    return Table(header, [Row(n + 2, cells(v)) for n, v in enumerate(lines)])  # type: ignore[arg-type]


def good(**overrides: object) -> dict[ImportField, object]:
    base: dict[ImportField, object] = {
        F.REFERENCE: "D-1",
        F.OPENED_AT: "03/02/2024",
        F.TERRITORY: "55029",
        F.MOTIFS: "logement",
        F.ARRIVAL_CHANNEL: "telephone",
        F.LAST_NAME: "Lefèvre",
        F.FIRST_NAME: "Éloïse",
        F.BIRTH_DATE: "12/05/1980",
    }
    base.update({ImportField(k): v for k, v in overrides.items()})
    return base


def check(t: Table, **mapping: object) -> rows.Checked:
    m = rows.mapping(
        t.header,
        mapping.get("columns", {}),  # type: ignore[arg-type]
        mapping.get("values", []),  # type: ignore[arg-type]
        mapping.get("defaults", {}),  # type: ignore[arg-type]
        REFERENCE,
    )
    return rows.check(t, m, REFERENCE, TERRITORIES, TODAY)


def faults(checked: rows.Checked) -> list[tuple[int, str, str]]:
    return [(e.line, e.field, e.reason) for e in checked.errors]


def test_a_good_row_becomes_a_dossier_at_noon_in_paris() -> None:
    checked = check(
        table(
            good(ecoute_at="05/02/2024", closed_at="2024-03-20", outcome="Réglé : une solution a été trouvée")
        )
    )
    assert faults(checked) == []
    row = checked.accepted[0]
    assert row.opened_at == datetime.fromisoformat("2024-02-03T12:00:00+01:00")
    assert row.stages == [(Stage.ECOUTE, datetime.fromisoformat("2024-02-05T12:00:00+01:00"))]
    assert row.outcome == "regle" and row.closed_at is not None
    assert row.person is not None and row.person.birth_date == date(1980, 5, 12)
    assert row.person.name_key == "lefevre|eloise"


def test_labels_names_and_numbers_stand_for_codes() -> None:
    checked = check(
        table(
            good(territory="bar-le-duc", motifs="Logement / hébergement; emploi", arrival_channel="TÉLÉPHONE")
        )
    )
    row = checked.accepted[0]
    assert (row.territory, row.motifs, row.arrival_channel) == ("55029", ["logement", "emploi"], "telephone")
    assert check(table(good(territory="2722"))).accepted[0].territory == "02722"  # a number lost its zero


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"opened_at": ""}, "opened_at", "FIELD_REQUIRED"),
        ({"opened_at": "31/02/2024"}, "opened_at", "INVALID_DATE"),
        ({"opened_at": "hier"}, "opened_at", "INVALID_FORMAT"),
        ({"opened_at": "01/01/2030"}, "opened_at", "DATE_IN_FUTURE"),
        ({"opened_at": "01/01/1950"}, "opened_at", "DATE_TOO_EARLY"),
        ({"motifs": "jardinage"}, "motifs", "UNKNOWN_CODE"),
        ({"motifs": ""}, "motifs", "FIELD_REQUIRED"),
        ({"territory": "99999"}, "territory", "UNKNOWN_CODE"),
        ({"arrival_channel": "pigeon voyageur"}, "arrival_channel", "UNKNOWN_CODE"),
        ({"closed_at": "20/03/2024", "outcome": "peut-être"}, "outcome", "UNKNOWN_CODE"),
        ({"closed_at": "01/01/2024", "outcome": "regle"}, "closed_at", "DATES_OUT_OF_ORDER"),
        ({"ecoute_at": "01/02/2024"}, "ecoute_at", "DATES_OUT_OF_ORDER"),
        ({"outcome": "regle"}, "closed_at", "FIELD_REQUIRED"),
        ({"closed_at": "20/03/2024"}, "outcome", "FIELD_REQUIRED"),
        ({"birth_date": "01/01/2030"}, "birth_date", "DATE_IN_FUTURE"),
        ({"birth_date": "30/02/1980"}, "birth_date", "INVALID_DATE"),
        ({"phone": "06-12-AB"}, "phone", "INVALID_FORMAT"),
        ({"first_name": ""}, "first_name", "FIELD_REQUIRED"),
        ({"email": "pas une adresse"}, "email", "INVALID_FORMAT"),
        ({"urgent": "peut-être"}, "urgent", "UNKNOWN_CODE"),
        ({"site": "Mairie annexe"}, "site", "UNKNOWN_CODE"),
        ({"site": "mairie-ligny"}, "site", "SITE_NOT_IN_COMMUNE"),
        ({"assigned_agent": "agent\x07"}, "assigned_agent", "CONTROL_CHARACTERS"),
    ],
)
def test_each_fault_is_reported_on_its_line_and_column(
    overrides: dict[str, str], field: str, reason: str
) -> None:
    checked = check(table(good(), good(reference="D-2", **overrides)))
    assert faults(checked) == [(3, field, reason)]
    assert checked.errors[0].column == TEMPLATE_HEADERS[ImportField(field)]
    assert checked.errors[0].message[0].isupper()
    assert [r.line for r in checked.accepted] == [2]
    assert checked.rejected == 1


def test_a_commune_outside_the_callers_is_refused() -> None:
    m = rows.mapping(HEADER, {}, [], {}, REFERENCE)
    checked = rows.check(table(good()), m, REFERENCE, ["55291"], TODAY)
    assert faults(checked) == [(2, "territory", "TERRITORY_NOT_ASSIGNED")]


def test_every_fault_of_a_row_is_reported() -> None:
    checked = check(table(good(opened_at="hier", motifs="jardinage", phone="abc")))
    assert {f for _, f, _ in faults(checked)} == {"opened_at", "motifs", "phone"}
    assert checked.rejected == 1


def test_a_repeated_dossier_number_is_rejected_and_points_at_the_first() -> None:
    checked = check(table(good(), good()))
    assert faults(checked) == [(3, "reference", "DUPLICATE_ROW")]
    assert "ligne 2" in checked.errors[0].message


def test_without_numbers_the_same_content_twice_is_one_dossier() -> None:
    checked = check(table(good(reference=""), good(reference="")))
    assert faults(checked) == [(3, "", "DUPLICATE_ROW")]


def test_the_same_person_is_one_key_across_rows() -> None:
    checked = check(
        table(good(), good(reference="D-2", last_name="LEFEVRE", first_name="eloise", opened_at="01/06/2024"))
    )
    a, b = checked.accepted
    assert a.person is not None and b.person is not None and a.person.key == b.person.key


def test_the_identity_of_a_row_is_stable() -> None:
    first = check(table(good())).accepted[0]
    again = check(table(good(site="  "))).accepted[0]  # blanks are no content
    assert first.key == again.key


def test_a_site_is_a_code_or_label_of_the_rows_commune() -> None:
    checked = check(
        table(
            good(site="ccas-bar-le-duc"),
            good(reference="D-2", site="antenne de la cote sainte catherine"),
            good(reference="D-3", territory="55291", site="MAIRIE DE LIGNY-EN-BARROIS – PERMANENCE SOCIALE"),
            good(reference="D-4"),
        )
    )
    assert faults(checked) == []
    assert [r.site for r in checked.accepted] == [
        "ccas-bar-le-duc",
        "antenne-cote-sainte-catherine",
        "mairie-ligny",
        "",
    ]


def test_a_files_own_site_names_are_translated_even_to_nothing() -> None:
    checked = check(
        table(good(site="CCAS - accueil"), good(reference="D-2", site="Domicile")),
        values=[("site", "ccas - accueil", "ccas-bar-le-duc"), ("site", "domicile", "")],
    )
    assert faults(checked) == []
    assert [r.site for r in checked.accepted] == ["ccas-bar-le-duc", ""]


def test_a_site_label_names_the_site_of_the_rows_own_commune() -> None:
    shared = "Permanence sociale"
    sites = {
        "perm-bar": reference.Site("perm-bar", shared, "55029", "", ()),
        "perm-ligny": reference.Site("perm-ligny", shared, "55291", "", ()),
    }
    data = reference.ReferenceData(
        motifs=REFERENCE.motifs,
        arrival_channels=REFERENCE.arrival_channels,
        territories=REFERENCE.territories,
        closure_outcomes=REFERENCE.closure_outcomes,
        consent_data_scopes=REFERENCE.consent_data_scopes,
        sites=sites,
    )
    t = table(good(site=shared), good(reference="D-2", territory="55291", site=shared))
    m = rows.mapping(t.header, {}, [], {}, data)
    checked = rows.check(t, m, data, TERRITORIES, TODAY)
    assert faults(checked) == []
    assert [r.site for r in checked.accepted] == ["perm-bar", "perm-ligny"]


def test_mapping_columns_values_and_defaults() -> None:
    header = ["N°", "Ouvert le", "Ville", "Motif", "Issue", "Clos le"]
    t = Table(header, [Row(2, ["A1", "03/02/2024", "55029", "Loyer impayé", "Résolu", "04/03/2024"])])
    checked = check(
        t,
        columns={
            "reference": "n°",
            "opened_at": "OUVERT LE",
            "territory": "Ville",
            "motifs": "Motif",
            "outcome": "Issue",
            "closed_at": "Clos le",
        },
        values=[("motifs", "loyer impaye", "logement"), ("outcome", "résolu", "regle")],
        defaults={"arrival_channel": "visite_spontanee"},
    )
    assert faults(checked) == []
    row = checked.accepted[0]
    assert (row.motifs, row.outcome, row.arrival_channel) == (["logement"], "regle", "visite_spontanee")


@pytest.mark.parametrize(
    ("mapping", "field", "reason"),
    [
        ({"columns": {"numero": "x"}}, "columns[numero]", "UNKNOWN_FIELD"),
        ({"columns": {"opened_at": "absente"}}, "columns[opened_at]", "UNKNOWN_COLUMN"),
        ({"values": [("assigned_agent", "a", "b")]}, "values[0].field", "NOT_CODED"),
        ({"values": [("site", "Mairie annexe", "mairie-annexe")]}, "values[0].code", "UNKNOWN_CODE"),
        ({"values": [("outcome", "a", "inexistant")]}, "values[0].code", "UNKNOWN_CODE"),
        ({"defaults": {"arrival_channel": "pigeon"}}, "defaults[arrival_channel]", "UNKNOWN_CODE"),
    ],
)
def test_a_wrong_mapping_is_invalid_argument_naming_the_entry(
    mapping: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check(table(good()), **mapping)
    assert refused.value.violations[0].field == field
    assert refused.value.reason == reason


def test_a_required_column_found_nowhere_is_named() -> None:
    header = [h for h in HEADER if h != "canal"]
    with pytest.raises(InvalidArgument) as refused:
        rows.mapping(header, {}, [], {}, REFERENCE)
    assert refused.value.reason == "MISSING_COLUMN"
    assert "« canal »" in refused.value.fr


def test_spreadsheet_dates_are_taken_as_they_are() -> None:
    checked = check(
        table(good(opened_at=date(2024, 2, 3), closed_at=datetime(2024, 3, 1, 9, 30), outcome="regle"))
    )
    row = checked.accepted[0]
    assert row.opened_at == datetime.fromisoformat("2024-02-03T12:00:00+01:00")
    assert row.closed_at == datetime.fromisoformat("2024-03-01T09:30:00+01:00")
