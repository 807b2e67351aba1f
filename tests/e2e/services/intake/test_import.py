"""ImportDossiers on a small hand-written file: the dry run reports and writes nothing;
the import writes persons, households and dossiers with their past steps; the same file
again changes nothing; an open dossier gets its workflow."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc

from kernel.auth import Role
from tests.conftest import AppStack
from tests.helpers import eventually

HEADER = (
    "numero_dossier;date_ouverture;commune;motifs;canal;date_ecoute;date_suivi;date_cloture;issue;"
    "numero_personne;nom;prenom;date_naissance;telephone;numero_foyer"
)


def csv_file(tag: str, *lines: str) -> bytes:
    return ("\r\n".join([HEADER, *lines]) + "\r\n").encode()


def sample(tag: str) -> bytes:
    return csv_file(
        tag,
        f"{tag}-1;03/02/2024;55029;logement;visite_spontanee;05/02/2024;;20/03/2024;regle;"
        f"{tag}-P1;Lefèvre {tag};Éloïse;12/05/1980;0611223344;{tag}-F1",
        f"{tag}-2;2024-06-11;Bar-le-Duc;Logement / hébergement;Téléphone;;;;;"
        f"{tag}-P1;Lefèvre {tag};Éloïse;12/05/1980;;",
        f"{tag}-3;15/09/2025;55029;emploi;telephone;16/09/2025;20/09/2025;;;"
        f"{tag}-P2;Lefèvre {tag};Marc;01/01/1978;;{tag}-F1",
        f"{tag}-4;31/02/2024;55029;emploi;telephone;;;;;;;;;;",
        f"{tag}-5;01/03/2024;55029;jardinage;telephone;;;;;;;;;;",
    )


@pytest.fixture
def responsable(app_stack: AppStack) -> str:
    return app_stack.token(subject="resp-import", role=Role.RESPONSABLE)


async def test_dry_run_then_import_then_again(app_stack: AppStack, responsable: str) -> None:
    tag = uuid.uuid4().hex[:8]
    content = sample(tag)
    async with app_stack.channel("intake", responsable) as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        request = intake_pb2.ImportDossiersRequest(
            format="csv", content=content, filename="ancien.csv", dry_run=True
        )
        dry = await intake.ImportDossiers(request, timeout=30)
        assert (dry.rows, dry.accepted, dry.rejected) == (5, 3, 2)
        assert [(e.line, e.column, e.reason) for e in dry.errors] == [
            (5, "date_ouverture", "INVALID_DATE"),
            (6, "motifs", "UNKNOWN_CODE"),
        ]
        assert (dry.dossiers_created, dry.persons_created, dry.households_created) == (3, 2, 1)
        assert dry.import_id == ""

        request.dry_run = False
        done = await intake.ImportDossiers(request, timeout=30)
        assert (done.dossiers_created, done.persons_created, done.households_created) == (3, 2, 1)
        # Last contacts of the three dossiers; retention (730 days) anonymises those before.
        cutoff = datetime.now(UTC) - timedelta(days=730)
        last_contacts = [
            datetime(2024, 2, 5, tzinfo=UTC),
            datetime(2024, 6, 11, tzinfo=UTC),
            datetime(2025, 9, 20, tzinfo=UTC),
        ]
        assert done.past_retention == dry.past_retention == sum(1 for at in last_contacts if at < cutoff)
        assert done.workflows_to_start == 2  # dossiers 2 and 3 are still open
        assert done.import_id

        again = await intake.ImportDossiers(request, timeout=30)
        assert (again.dossiers_created, again.already_imported, again.persons_created) == (0, 3, 0)

        # Another file numbering alike: a dossier number already imported for a dossier
        # opened another day is refused, a person number with another name is another person.
        other = csv_file(
            tag,
            f"{tag}-1;04/04/2024;55029;emploi;telephone;;;;;{tag}-P9;Autre {tag};Jeanne;01/01/1990;;",
            f"{tag}-9;05/04/2024;55029;emploi;telephone;;;;;{tag}-P1;Autre {tag};Louise;02/02/1991;;",
        )
        clash = await intake.ImportDossiers(
            intake_pb2.ImportDossiersRequest(format="csv", content=other, dry_run=True), timeout=30
        )
        assert [(e.line, e.column, e.reason) for e in clash.errors] == [
            (2, "numero_dossier", "REFERENCE_TAKEN")
        ]
        assert "03/02/2024" in clash.errors[0].message
        assert (clash.accepted, clash.rejected, clash.dossiers_created, clash.persons_created) == (1, 1, 1, 1)

        # The first dossier: its past steps in its timeline, its person found by name.
        found = await intake.SearchPersons(
            intake_pb2.SearchPersonsRequest(name=f"Lefèvre {tag} Éloïse", birth_date="1980-05-12"),
            timeout=10,
        )
        assert len(found.persons) == 1
        dossiers = await intake.ListDossiers(
            intake_pb2.ListDossiersRequest(person_id=found.persons[0].person_id), timeout=10
        )
        assert sorted(d.stage for d in dossiers.dossiers) == ["cloture", "reception"]
        closed = next(d for d in dossiers.dossiers if d.stage == "cloture")
        assert closed.outcome == "regle"
        timeline = await intake.GetDossierTimeline(
            intake_pb2.GetDossierRequest(dossier_id=closed.dossier_id), timeout=10
        )
        assert [e.kind for e in timeline.entries] == ["opened", "stage_changed", "closed"]
        assert timeline.entries[0].at.ToDatetime().date().isoformat() == "2024-02-03"
        assert all(e.actor == "resp-import" for e in timeline.entries)

    # The open dossiers get their workflow: an agent works on the one still at reception
    # (its next step follows the imported ones).
    reception = next(d for d in dossiers.dossiers if d.stage == "reception")
    async with app_stack.channel("intake") as channel:
        agent = intake_pb2_grpc.IntakeServiceStub(channel)

        async def interview() -> intake_pb2.StepResponse | None:
            try:
                return await agent.RecordInterview(
                    intake_pb2.RecordInterviewRequest(
                        dossier_id=reception.dossier_id, notes="Reprise du dossier", request_id=f"{tag}-i"
                    ),
                    timeout=10,
                )
            except grpc.aio.AioRpcError as refused:
                assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION  # no workflow yet
                return None

        step = await eventually(interview, lambda answer: answer is not None, timeout=60, interval=0.5)
        assert step is not None and step.dossier.stage == "ecoute"
        entries = (
            await agent.GetDossierTimeline(
                intake_pb2.GetDossierRequest(dossier_id=reception.dossier_id), timeout=10
            )
        ).entries
        assert [(e.step, e.kind) for e in entries] == [(0, "opened"), (1, "interview")]


async def test_only_a_responsable_imports(app_stack: AppStack) -> None:
    async with app_stack.channel("intake") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake_pb2_grpc.IntakeServiceStub(channel).ImportDossiers(
                intake_pb2.ImportDossiersRequest(format="csv", content=sample("x"), dry_run=True), timeout=10
            )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
