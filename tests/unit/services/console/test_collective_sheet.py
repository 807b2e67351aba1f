"""The attendance sheet's rows and the facilitators typed one per line."""

from __future__ import annotations

from entraide.v1 import collective_pb2

from services.console.collective_pages import facilitators_of, number
from services.console.collective_sheet import sheet_rows


def test_one_row_per_place_holder_and_whoever_the_sheet_already_records() -> None:
    programme = collective_pb2.Programme(
        enrolments=[
            collective_pb2.Enrolment(enrolment_id="b", status="enrolled", person_label="Zoé B"),
            collective_pb2.Enrolment(enrolment_id="w", status="waiting", person_label="Wil W"),
            collective_pb2.Enrolment(enrolment_id="x", status="withdrawn", person_label="Xavier X"),
            collective_pb2.Enrolment(enrolment_id="y", status="withdrawn", person_label="Yves Y"),
            collective_pb2.Enrolment(enrolment_id="a", status="enrolled", person_label="Anne A"),
        ]
    )
    session = collective_pb2.GroupSession(
        attendance=[
            collective_pb2.SessionAttendance(enrolment_id="x", presence="present"),
            collective_pb2.SessionAttendance(enrolment_id="a", presence="absent_excused"),
        ]
    )
    rows = sheet_rows(programme, session)
    assert [(r["enrolment_id"], r["presence"]) for r in rows] == [
        ("a", "absent_excused"),
        ("x", "present"),
        ("b", ""),
    ]


def test_facilitators_one_per_line_and_numbers_the_service_judges() -> None:
    labels = [f.label for f in facilitators_of(" Mme Laurent (CESF)\n\nM. Renard \n")]
    assert labels == ["Mme Laurent (CESF)", "M. Renard"]
    assert (number(""), number("6"), number("six")) == (0, 6, -1)
