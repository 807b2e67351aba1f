"""Every note a person writes is read back where it belongs: interview, follow-up,
closure and reopening notes in the dossier's timeline (each under its step, with its
visibility rules) and in the person's export."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc

from kernel.auth import Role
from tests.conftest import TERRITORIES, AppStack

Stub = intake_pb2_grpc.IntakeServiceStub
AUTHOR = "agent-martin"
COLLEAGUE = "agent-durand"
RESPONSABLE = "resp-notes"
TERRITORY = "55029"


@pytest.fixture
async def author(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("intake", app_stack.token(AUTHOR)) as channel:
        yield Stub(channel)


@pytest.fixture
async def colleague(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("intake", app_stack.token(COLLEAGUE)) as channel:
        yield Stub(channel)


@pytest.fixture
async def responsable(app_stack: AppStack) -> AsyncIterator[Stub]:
    token = app_stack.token(RESPONSABLE, Role.RESPONSABLE, TERRITORIES)
    async with app_stack.channel("intake", token) as channel:
        yield Stub(channel)


async def lived_dossier(author: Stub, person_id: str = "") -> tuple[str, dict[str, str]]:
    """A dossier taken through every step that carries a note; returns its id and the
    text written at each kind (the follow-up is private to its author)."""
    tag = uuid.uuid4().hex[:8]
    written = {
        "interview": f"Premier entretien {tag}",
        "follow_up": f"Appel au bailleur, note privée {tag}",
        "closure": f"Plan d'apurement signé {tag}",
        "reopen": f"Nouvelle dette de loyer {tag}",
    }
    opened = await author.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=uuid.uuid4().hex,
            territory=TERRITORY,
            motifs=["logement"],
            arrival_channel="visite_spontanee",
            person_id=person_id,
        ),
        timeout=15,
    )
    dossier_id = opened.dossier.dossier_id
    await author.RecordInterview(
        intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, notes=written["interview"]), timeout=15
    )
    await author.CompleteEcoute(
        intake_pb2.CompleteEcouteRequest(dossier_id=dossier_id, next_stage="suivi"), timeout=15
    )
    await author.RecordFollowUp(
        intake_pb2.RecordFollowUpRequest(
            dossier_id=dossier_id, notes=written["follow_up"], visibility="author"
        ),
        timeout=15,
    )
    await author.CloseDossier(
        intake_pb2.CloseDossierRequest(dossier_id=dossier_id, outcome="regle", notes=written["closure"]),
        timeout=15,
    )
    await author.ReopenDossier(
        intake_pb2.ReopenDossierRequest(dossier_id=dossier_id, reason=written["reopen"]), timeout=15
    )
    return dossier_id, written


async def test_every_kind_of_note_is_read_back_under_its_step(author: Stub, colleague: Stub) -> None:
    dossier_id, written = await lived_dossier(author)

    mine = await author.GetDossierTimeline(intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10)
    assert {n.kind: n.text for n in mine.notes} == written
    assert all(n.author == AUTHOR for n in mine.notes)
    assert [n.step for n in mine.notes] == sorted(n.step for n in mine.notes)
    # Each note hangs under the step it was written at, with that step's kind.
    step_kind = {
        "interview": "interview",
        "follow_up": "follow_up",
        "closure": "closed",
        "reopen": "reopened",
    }
    noted = {e.kind: e.note for e in mine.entries if e.HasField("note")}
    assert {kind: noted[step_kind[kind]].text for kind in written} == written
    assert [e.step for e in mine.entries] == list(range(len(mine.entries)))
    follow_up = next(n for n in mine.notes if n.kind == "follow_up")
    assert follow_up.visibility == "author"
    # The interviews-only list of older clients still holds the interview.
    assert [i.notes for i in mine.interviews] == [written["interview"]]

    # A colleague of the team sees every team note but not the private follow-up,
    # nor its text anywhere in the answer.
    theirs = await colleague.GetDossierTimeline(
        intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10
    )
    assert {n.kind for n in theirs.notes} == {"interview", "closure", "reopen"}
    assert written["follow_up"] not in str(theirs)
    follow_up_entry = next(e for e in theirs.entries if e.kind == "follow_up")
    assert not follow_up_entry.HasField("note")


async def test_every_kind_of_note_is_in_the_persons_export(author: Stub, responsable: Stub) -> None:
    created = await author.CreatePerson(
        intake_pb2.CreatePersonRequest(
            request_id=uuid.uuid4().hex, territory=TERRITORY, first_name="Camille", last_name="Exemple"
        ),
        timeout=10,
    )
    dossier_id, written = await lived_dossier(author, created.person.person_id)

    reply = await responsable.ExportPerson(
        intake_pb2.ExportPersonRequest(person_id=created.person.person_id), timeout=10
    )
    (dossier,) = json.loads(reply.json)["dossiers"]
    assert dossier["dossier_id"] == dossier_id
    # The export holds everything, the private follow-up included.
    assert {n["kind"]: n["body"] for n in dossier["notes"]} == written
