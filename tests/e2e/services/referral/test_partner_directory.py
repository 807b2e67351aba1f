"""The partner directory through ReferralService on real servers: import (idempotent,
validation errors with their JSON path), export round trip, GetPartner, suggestions for a
dossier with the next permanence (Europe/Paris)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc

from kernel import reference
from kernel.auth import Role
from kernel.db import Pool
from services.referral import directory
from tests.conftest import AppStack
from tests.helpers import eventually
from tests.paths import REPO

DEMO = json.loads((REPO / "deploy" / "local" / "demo_partners.json").read_text("utf-8"))
Stub = referral_pb2_grpc.ReferralServiceStub


@pytest.fixture
async def admin(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("referral", app_stack.token("resp-dupont", Role.RESPONSABLE)) as channel:
        yield referral_pb2_grpc.ReferralServiceStub(channel)


async def import_doc(stub: Stub, document: Any) -> referral_pb2.ImportDirectoryResponse:
    return await stub.ImportDirectory(
        referral_pb2.ImportDirectoryRequest(document=json.dumps(document)), timeout=10
    )


async def test_import_is_idempotent_and_export_round_trips(admin: Stub) -> None:
    first = await import_doc(admin, DEMO)
    again = await import_doc(admin, DEMO)
    assert first == again and first.organizations == 11 and first.schedules >= 11
    exported = json.loads(
        (await admin.ExportDirectory(referral_pb2.ExportDirectoryRequest(), timeout=10)).document
    )
    by_id = {o["id"]: o for o in exported["organizations"]}
    for org in DEMO["organizations"]:
        assert by_id[org["id"]] == org
    # Export → import → export: the same document.
    await import_doc(admin, exported)
    assert json.loads(
        (await admin.ExportDirectory(referral_pb2.ExportDirectoryRequest(), timeout=10)).document
    ) == (exported)
    caf = await admin.GetPartner(referral_pb2.GetPartnerRequest(partner_id="caf-meuse"), timeout=10)
    assert caf.partner.name == "CAF de la Meuse" and {"logement", "acces_aux_droits"} <= set(
        caf.partner.motifs
    )
    assert caf.next_permanence.location.commune == "55029" and len(caf.schedules) == 2


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["organizations"][0].pop("name"), "$.organizations[0].name: required"),
        (
            lambda d: d["organizations"][1]["services"][0]["motifs"].append("inconnu"),
            "$.organizations[1].services[0].motifs[2]",
        ),
        (
            lambda d: d["organizations"][0]["locations"][0]["schedules"][0].update(byday="XX"),
            "$.organizations[0].locations[0].schedules[0].byday",
        ),
        (
            lambda d: d["organizations"][0]["locations"][0]["schedules"][0].update(closes_at="08:00"),
            "$.organizations[0].locations[0].schedules[0].closes_at",
        ),
        (
            lambda d: d["organizations"][2]["notification"].update(webhook_url="ftp://x"),
            "$.organizations[2].notification.webhook_url",
        ),
        (
            lambda d: d["organizations"][3]["locations"][0].update(commune="99999"),
            "$.organizations[3].locations[0].commune",
        ),
    ],
)
async def test_invalid_documents_name_the_json_path(admin: Stub, mutate: Any, path: str) -> None:
    document = copy.deepcopy(DEMO)
    mutate(document)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await import_doc(admin, document)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert path in str(error.value.details())


async def test_only_a_responsable_imports(app_stack: AppStack) -> None:
    async with app_stack.channel("referral") as channel:  # a travailleur social
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await import_doc(referral_pb2_grpc.ReferralServiceStub(channel), DEMO)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with app_stack.channel("referral", app_stack.token("resp", Role.RESPONSABLE)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await referral_pb2_grpc.ReferralServiceStub(channel).ImportDirectory(
                referral_pb2.ImportDirectoryRequest(document="{not json"), timeout=10
            )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_suggestions_serve_the_dossier_motifs_in_its_commune(
    app_stack: AppStack, admin: Stub, pool: Pool
) -> None:
    await import_doc(admin, DEMO)
    async with app_stack.channel("intake") as i, app_stack.channel("referral") as r:
        intake = intake_pb2_grpc.IntakeServiceStub(i)
        referral = referral_pb2_grpc.ReferralServiceStub(r)
        opened = await intake.OpenDossier(
            intake_pb2.OpenDossierRequest(
                request_id=uuid.uuid4().hex,
                territory="55291",  # Ligny-en-Barrois
                motifs=["violences_conjugales"],
                arrival_channel="telephone",
            ),
            timeout=15,
        )
        dossier_id = opened.dossier.dossier_id

        async def suggest() -> referral_pb2.SuggestPartnersResponse | None:
            try:
                return await referral.SuggestPartners(
                    referral_pb2.SuggestPartnersRequest(dossier_id=dossier_id), timeout=10
                )
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND  # not yet in the read model
                return None

        reply = await eventually(suggest, lambda r: r is not None)
        assert reply is not None
    ids = [s.partner.partner_id for s in reply.suggestions]
    # Partners serving violences_conjugales in 55291; Secours Catholique (not this motif) is not there.
    assert set(ids) == {"cidff-meuse", "france-victimes-55", "solidarite-femmes-55"}
    now = datetime.now(UTC)
    for s in reply.suggestions:
        assert s.motifs == ["violences_conjugales"]
        starts = s.next_permanence.starts_at.ToDatetime(tzinfo=UTC)
        assert (starts - now).days <= 7 and s.next_permanence.ends_at.ToDatetime(tzinfo=UTC) > now
    # Sorted by the next permanence among equally matching partners.
    starts_at = [s.next_permanence.starts_at.ToDatetime() for s in reply.suggestions]
    assert starts_at == sorted(starts_at)


def test_next_permanence_is_computed_in_paris_time() -> None:
    org = directory.parse_document(
        json.dumps(
            {
                "organizations": [
                    {
                        "id": "test-org",
                        "name": "Test",
                        "kind": "caf",
                        "services": [
                            {"id": "test-svc", "name": "S", "motifs": ["logement"], "communes": ["55029"]}
                        ],
                        "locations": [
                            {
                                "id": "test-loc",
                                "name": "L",
                                "commune": "55029",
                                "schedules": [{"byday": "TU", "opens_at": "09:00", "closes_at": "12:00"}],
                            }
                        ],
                    }
                ]
            }
        ),
        reference.load({}),
    )[0]
    # Tuesday 2026-03-31 10:00 Paris (summer time, UTC+2) = 08:00 UTC: the slot is under way.
    during = directory.next_permanence(org, datetime(2026, 3, 31, 8, 0, tzinfo=UTC))
    assert during is not None and during.starts_at.astimezone(UTC) == datetime(2026, 3, 31, 7, 0, tzinfo=UTC)
    # Same Tuesday 12:30 Paris: next week's.
    after = directory.next_permanence(org, datetime(2026, 3, 31, 10, 30, tzinfo=UTC))
    assert after is not None and after.starts_at.astimezone(UTC) == datetime(2026, 4, 7, 7, 0, tzinfo=UTC)
    # Winter: Tuesday 09:00 Paris = 08:00 UTC.
    winter = directory.next_permanence(org, datetime(2026, 1, 1, tzinfo=UTC))
    assert winter is not None and winter.starts_at.astimezone(UTC) == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
