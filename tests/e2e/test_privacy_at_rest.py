"""After a full lifecycle with a named person and notes, the person's name is nowhere
in the NATS stream files or the services' logs (Temporal's database: see
test_payload_codec.py). Each check also finds the dossier's id in the same files, so
it cannot pass by looking at empty or unrelated files; the logs likewise must show the
calls that carried the name."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc

from tests.conftest import AppStack
from tests.helpers import eventually

NAME = "Gwendoline Quintard-Ébrard"
PHONE = "0687654321"


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def containing(paths: list[Path], needle: str) -> list[Path]:
    variants = {needle.encode(), needle.encode("utf-16-le"), needle.encode("unicode_escape")}
    return [p for p in paths if any(v in p.read_bytes() for v in variants)]


@pytest.fixture
def nats_store(state_dir: Path) -> Path:
    store = state_dir / "servers" / "nats"
    if not store.exists():
        pytest.skip("NATS is an external server here (NATS_URL): its stream files are not readable")
    return store


async def test_a_persons_name_never_reaches_stream_files_or_logs(
    app_stack: AppStack, nats_store: Path
) -> None:
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        first, _, last = NAME.partition(" ")
        person = await intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=uuid.uuid4().hex,
                territory="55029",
                first_name=first,
                last_name=last,
                birth_date="1979-11-02",
                phone=PHONE,
                email="g.quintard@example.org",
            ),
            timeout=15,
        )
        person_id = person.person.person_id
        await intake.RecordConsent(
            intake_pb2.RecordConsentRequest(
                person_id=person_id,
                partner_id="caf-meuse",
                data_scope=["identite", "motif"],
                kind="consent",
                channel="oral",
            ),
            timeout=15,
        )
        opened = await intake.OpenDossier(
            intake_pb2.OpenDossierRequest(
                request_id=uuid.uuid4().hex,
                territory="55029",
                motifs=["violences_conjugales"],
                arrival_channel="telephone",
                urgent=True,
                person_id=person_id,
            ),
            timeout=15,
        )
        dossier_id = opened.dossier.dossier_id
        for request in (
            intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, notes=f"{NAME} décrit des violences."),
            intake_pb2.CompleteEcouteRequest(dossier_id=dossier_id, next_stage="suivi"),
            intake_pb2.RecordFollowUpRequest(dossier_id=dossier_id, notes=f"Rappeler {NAME} au {PHONE}."),
            intake_pb2.CloseDossierRequest(dossier_id=dossier_id, outcome="regle", notes=f"{NAME} relogée."),
        ):
            method = type(request).__name__.removesuffix("Request")
            await getattr(intake, method)(request, timeout=15)
        exported = await intake.GetPerson(intake_pb2.GetPersonRequest(person_id=person_id), timeout=15)
    assert exported.last_name == last  # the name is really held (in PostgreSQL, where it belongs)

    stream_files = files_under(nats_store)

    async def stream_has_dossier() -> list[Path]:
        return containing(files_under(nats_store), dossier_id)

    await eventually(stream_has_dossier, bool, timeout=10)  # the events are in these files
    await asyncio.sleep(0.5)
    stream_files = files_under(nats_store)
    assert containing(stream_files, NAME) == []
    assert containing(stream_files, last) == []
    assert containing(stream_files, PHONE) == []

    logs = files_under(app_stack.state_dir / "logs")
    # The logs record the very calls that carried the name, so they were the right ones to read.
    assert containing(logs, "/entraide.v1.IntakeService/CreatePerson")
    assert containing(logs, "/entraide.v1.IntakeService/RecordInterview")
    for secret in (NAME, last, PHONE, "g.quintard@example.org", "décrit des violences"):
        assert containing(logs, secret) == [], secret
