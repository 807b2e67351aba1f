"""The shared hard-input checks (kernel.hard_input) on messages, without any server."""

from __future__ import annotations

import pytest
from entraide.v1 import intake_pb2, reporting_pb2

from kernel import hard_input
from kernel.errors import InvalidArgument


def fields_of(request: object) -> list[str]:
    with pytest.raises(InvalidArgument) as refused:
        hard_input.check(request)
    return sorted(v.field for v in refused.value.violations)


def test_nul_characters_are_named_in_nested_and_repeated_fields() -> None:
    request = intake_pb2.OpenDossierRequest(request_id="ok", motifs=["logement", "a\x00b"], site="x\x00")
    assert fields_of(request) == ["motifs[1]", "site"]
    hard_input.check(intake_pb2.OpenDossierRequest(motifs=["logement"], site="é ü"))


def test_text_too_long_and_too_many_items() -> None:
    long = intake_pb2.RecordInterviewRequest(notes="x" * (hard_input.MAX_TEXT + 1))
    assert fields_of(long) == ["notes"]
    many = intake_pb2.ListDossiersRequest(territories=["55029"] * (hard_input.MAX_ITEMS + 1))
    assert fields_of(many) == ["territories"]
    hard_input.check(intake_pb2.ListDossiersRequest(territories=["55029"] * hard_input.MAX_ITEMS))


@pytest.mark.parametrize(
    ("seconds", "nanos", "valid"),
    [
        (hard_input.MIN_SECONDS, 0, True),
        (hard_input.MAX_SECONDS, 999_999_999, True),
        (hard_input.MIN_SECONDS - 1, 0, False),
        (hard_input.MAX_SECONDS + 1, 0, False),
        (0, -1, False),
        (0, 1_000_000_000, False),
        (2**62, 0, False),
    ],
)
def test_timestamps_at_and_beyond_the_calendar(seconds: int, nanos: int, valid: bool) -> None:
    request = reporting_pb2.GetBilanRequest()
    stamp = getattr(request, "from")
    stamp.seconds, stamp.nanos = seconds, nanos
    if valid:
        hard_input.check(request)
    else:
        assert fields_of(request) == ["from"]


def test_a_request_that_does_not_decode_is_refused_not_raised() -> None:
    decode = hard_input.tolerant(intake_pb2.GetDossierRequest.FromString, "/x/GetDossier")
    assert decode is not None
    undecodable = decode(bytes([0x0A, 2, 0xFF, 0xFE]))
    assert isinstance(undecodable, hard_input.Undecodable)
    with pytest.raises(InvalidArgument) as refused:
        hard_input.check(undecodable)
    assert refused.value.reason == "MALFORMED_REQUEST"
    assert decode(intake_pb2.GetDossierRequest(dossier_id="x").SerializeToString()).dossier_id == "x"
