"""The bilan over gRPC on real servers: a year with the seeds' figures reported back
exactly (after shuffled and duplicated deliveries), exports, permissions."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from html import escape

import grpc
import pytest
from entraide.v1 import reporting_pb2, reporting_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from kernel.auth import Role
from kernel.settings import Settings
from tests.conftest import AppStack
from tests.reporting_events import drained, mix, publish, referral_events, shuffled
from tests.unit.services.reporting.test_render_html import assert_svg_text_fits

SOISSONS, DIJON, BAR_LE_DUC = "02722", "21231", "55029"
# Soissons, "depuis le 1er janvier 2021, 153 dossiers ont été traités, 120 concernaient
# des questions de logement"; then "750 personnes par an" and "454 dossiers réglés".
SOISSONS_2021 = [("logement", 120), ("famille", 20), ("acces_aux_droits", 13)]
SOISSONS_2022 = [("logement", 500), ("famille", 150), ("acces_aux_droits", 100)]
# Dijon, Maison de la Solidarité: 39 % accès aux droits, 12 % financier, 11 % aide
# administrative (numérique: dématérialisation), 7 % emploi, 6 % santé; the rest.
DIJON_2008 = [
    ("acces_aux_droits", 39),
    ("difficultes_financieres", 12),
    ("numerique", 11),
    ("emploi", 7),
    ("sante", 6),
    ("famille", 15),
    ("logement", 10),
]
CRESUS_NAME = "CRESUS Grand Est – antenne de l'Aisne et de la Marne (permanence de Soissons)"


def period(start: datetime, end: datetime, territories: list[str]) -> reporting_pb2.GetBilanRequest:
    request = reporting_pb2.GetBilanRequest(territories=territories)
    getattr(request, "from").CopyFrom(Timestamp(seconds=int(start.timestamp())))
    request.to.CopyFrom(Timestamp(seconds=int(end.timestamp())))
    return request


def year(y: int, territories: list[str]) -> reporting_pb2.GetBilanRequest:
    return period(datetime(y, 1, 1, tzinfo=UTC), datetime(y + 1, 1, 1, tzinfo=UTC), territories)


@pytest.fixture(scope="module")
async def seeded(app_stack: AppStack, settings: Settings) -> None:
    s2021 = mix(SOISSONS, 2021, SOISSONS_2021, solved=40, seed=1)
    s2022 = mix(SOISSONS, 2022, SOISSONS_2022, solved=454, seed=2)
    dijon = mix(DIJON, 2008, DIJON_2008, seed=3)
    events = [e for d in s2021 + s2022 + dijon for e in d.events()]
    caf = "CAF de l'Aisne"
    events += referral_events(
        s2022[0], "caf-02", [("requested", 0), ("received", 24), ("completed", 96)], caf
    )
    events += referral_events(s2022[1], "caf-02", [("requested", 0), ("received", 48), ("accepted", 50)], caf)
    events += referral_events(s2022[2], "adil-02", [("requested", 0), ("reminder", 72)])  # no name
    # Renamed between two referrals: the later request's name, though the older
    # referral's completion (with the old name) comes after it.
    old, new = "Crésus Aisne", CRESUS_NAME
    events += referral_events(
        s2022[3], "cresus-02", [("requested", 0), ("received", 1), ("completed", 200)], old
    )
    events += referral_events(s2022[3], "cresus-02", [("requested", 10), ("received", 11)], new)
    await publish(settings, shuffled(events))
    # The same events again under other message ids: only the inbox can catch them.
    await publish(settings, shuffled(events, seed=9)[:400], msg_id_suffix="-again")
    await drained(settings)


@pytest.fixture
def elu_token(app_stack: AppStack) -> str:
    return app_stack.token("elu-soissons", Role.ELU, [SOISSONS, DIJON])


async def test_seed_figures_reported_exactly(app_stack: AppStack, seeded: None, elu_token: str) -> None:
    async with app_stack.channel("reporting", elu_token) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        y2021 = await stub.GetBilan(year(2021, [SOISSONS]), timeout=10)
        y2022 = await stub.GetBilan(year(2022, [SOISSONS]), timeout=10)
        dijon = await stub.GetBilan(year(2008, [DIJON]), timeout=10)
    assert y2021.dossiers_opened == 153
    motifs = {s.code: s for s in y2021.by_motif}
    assert motifs["logement"].count == 120
    assert motifs["logement"].label == "Logement / hébergement"
    assert motifs["logement"].percent == pytest.approx(78.4)
    assert y2022.people_received == 750
    assert y2022.dossiers_solved == 454
    assert y2022.previous_dossiers_opened == 153 and y2022.previous_dossiers_solved == 40
    assert {s.code: s.previous_count for s in y2022.by_motif}["logement"] == 120
    assert [(s.code, s.count) for s in y2022.by_outcome] == [("regle", 454)]
    assert y2022.by_commune[0].label == "Soissons" and y2022.by_commune[0].percent == 100.0
    assert sum(s.count for s in y2022.by_channel) == 750
    assert {s.code: s.percent for s in dijon.by_motif} == {
        "acces_aux_droits": 39.0,
        "difficultes_financieres": 12.0,
        "numerique": 11.0,
        "emploi": 7.0,
        "sante": 6.0,
        "famille": 15.0,
        "logement": 10.0,
    }
    durations = {d.stage: d for d in y2022.stage_durations}
    assert durations["reception"].median_s == 86400 and durations["reception"].dossiers == 750
    assert durations["suivi"].dossiers == 454 and durations["total"].p90_s == 4 * 86400
    partners = {p.partner_id: p for p in y2022.partners}
    assert partners["caf-02"].referrals == 2 and partners["caf-02"].completed == 1
    assert partners["caf-02"].median_response_s == 36 * 3600
    assert partners["caf-02"].median_completion_s == 96 * 3600
    assert partners["adil-02"].accepted == 0
    names = {p: (f.partner_name, f.name) for p, f in partners.items()}
    assert names == {
        "caf-02": ("CAF de l'Aisne", "CAF de l'Aisne"),
        "cresus-02": (CRESUS_NAME, CRESUS_NAME),
        "adil-02": ("adil-02", "adil-02"),  # no event carried a name
    }


async def test_exports(app_stack: AppStack, seeded: None, elu_token: str) -> None:
    async with app_stack.channel("reporting", elu_token) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        csv_doc = await stub.ExportBilan(
            reporting_pb2.ExportBilanRequest(bilan=year(2021, [SOISSONS]), format="csv"), timeout=10
        )
        html_doc = await stub.ExportBilan(
            reporting_pb2.ExportBilanRequest(bilan=year(2022, [SOISSONS]), format="html"), timeout=10
        )
        csv_2022 = await stub.ExportBilan(
            reporting_pb2.ExportBilanRequest(bilan=year(2022, [SOISSONS]), format="csv"), timeout=10
        )
    assert csv_doc.content.startswith(b"\xef\xbb\xbf") and csv_doc.filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(csv_doc.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["Rubrique", "Code", "Libellé", "Nombre"]
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    assert by_key[("Synthèse", "dossiers_ouverts")][3] == "153"
    assert by_key[("Motif", "logement")][3:5] == ["120", "78,4"]
    html = html_doc.content.decode("utf-8")
    assert html_doc.content_type.startswith("text/html")
    for heading in ("Bilan d'activité", "Synthèse", "Motifs de la demande", "Issue des dossiers clôturés"):
        assert heading in html
    assert "<svg" in html and "Dossiers réglés" in html and "454" in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")  # no external asset
    assert assert_svg_text_fits(html) == 5  # every chart's labels and values inside its viewBox
    # Partners by name (escaped), their id only when no event carried a name.
    assert f"<td>{escape(CRESUS_NAME)}</td>" in html and "<td>CAF de l&#x27;Aisne</td>" in html
    assert "<td>adil-02</td>" in html and "caf-02" not in html and "Crésus Aisne" not in html
    rows_2022 = list(csv.reader(io.StringIO(csv_2022.content.decode("utf-8-sig")), delimiter=";"))
    partner_rows = {(r[1], r[2]) for r in rows_2022 if r[0].startswith("Partenaire")}
    assert partner_rows == {("caf-02", "CAF de l'Aisne"), ("cresus-02", CRESUS_NAME), ("adil-02", "adil-02")}
    async with app_stack.channel("reporting", elu_token) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await reporting_pb2_grpc.ReportingServiceStub(channel).ExportBilan(
                reporting_pb2.ExportBilanRequest(bilan=year(2021, []), format="pdf")
            )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("role", [Role.TRAVAILLEUR_SOCIAL, Role.PARTENAIRE, Role.ACCUEIL])
async def test_case_roles_and_partners_get_no_bilan(app_stack: AppStack, role: Role) -> None:
    token = app_stack.token(
        "someone", role, [SOISSONS], partner_id="caf-02" if role is Role.PARTENAIRE else ""
    )
    async with app_stack.channel("reporting", token) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await reporting_pb2_grpc.ReportingServiceStub(channel).GetBilan(year(2021, [SOISSONS]))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_elu_of_one_commune_cannot_ask_another(app_stack: AppStack) -> None:
    token = app_stack.token("elu-bar", Role.ELU, [BAR_LE_DUC])
    async with app_stack.channel("reporting", token) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.GetBilan(year(2021, [SOISSONS]))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        own = await stub.GetBilan(year(2021, []))  # defaults to the caller's communes
        assert list(own.territories) == [BAR_LE_DUC] and own.dossiers_opened == 0
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.GetBilan(reporting_pb2.GetBilanRequest())
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
