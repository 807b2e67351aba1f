"""The `entraide` subcommands: each one turns parsed arguments into one gRPC call and
returns the reply message (rendering is render.py's job, arguments main.py's).

The acting agent of a step (and the reader of a timeline) is the token's subject: the
requests' `agent` fields are left empty, the servers take it from the token."""

from __future__ import annotations

import argparse
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import grpc
from entraide.v1 import (
    intake_pb2,
    intake_pb2_grpc,
    referral_pb2,
    referral_pb2_grpc,
    reporting_pb2,
    reporting_pb2_grpc,
)
from google.protobuf.message import Message

from domain.labels_fr import STAGE_LABELS
from entraide_cli.retries import RetryUnavailable, action_id
from kernel import client
from kernel.settings import Settings

Command = Callable[[argparse.Namespace, Settings], Message]

# French values typed by people → the API's codes.
CONSENT_KINDS = {"consentement": "consent", "base_legale": "legal_basis"}
CONSENT_CHANNELS = {"oral": "oral", "ecrit": "written", "electronique": "electronic"}


def _plain(word: str) -> str:
    """Without accents: people type « ecoute » as often as « écoute »."""
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()


# A stage typed by its code or its French name, with or without accents.
STAGE_CODES = {
    str(spelled): str(code)
    for code, label in STAGE_LABELS.items()
    for spelled in {code, label, _plain(label)}
}


@dataclass
class Called:
    """The service the command called (for the message when it does not answer)."""

    service: str = ""
    address: str = ""


CALLED = Called()
PARIS = ZoneInfo("Europe/Paris")


def _channel(settings: Settings, service: str) -> grpc.Channel:
    """TLS when ENTRAIDE_TLS_* say so; the caller's ENTRAIDE_TOKEN on every call."""
    address = settings.grpc_address(service)
    CALLED.service, CALLED.address = service, address
    return grpc.intercept_channel(client.sync_channel(address, settings.env), RetryUnavailable())


def _intake(settings: Settings) -> intake_pb2_grpc.IntakeServiceStub:
    return intake_pb2_grpc.IntakeServiceStub(_channel(settings, "intake"))


def _visibility(args: argparse.Namespace) -> str:
    return "author" if args.prive else "team"


# ---- dossiers ------------------------------------------------------------------------
def open_dossier(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.OpenDossierRequest(
        request_id=action_id(args),
        territory=args.territory,
        site=args.site,
        motifs=args.motif,
        arrival_channel=args.channel,
        urgent=args.urgent,
        person_id=args.personne,
        household_id=args.foyer,
        assigned_agent=args.assignee,
    )
    response: intake_pb2.OpenDossierResponse = _intake(settings).OpenDossier(request, timeout=args.timeout)
    return response


def show_dossier(args: argparse.Namespace, settings: Settings) -> Message:
    dossier: intake_pb2.Dossier = _intake(settings).GetDossier(
        intake_pb2.GetDossierRequest(dossier_id=args.dossier_id), timeout=args.timeout
    )
    return dossier


def timeline(args: argparse.Namespace, settings: Settings) -> Message:
    found: intake_pb2.DossierTimeline = _intake(settings).GetDossierTimeline(
        intake_pb2.GetDossierRequest(dossier_id=args.dossier_id), timeout=args.timeout
    )
    return found


def list_dossiers(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.ListDossiersRequest(
        territory=args.territory,
        stage=STAGE_CODES[args.etape] if args.etape else "",
        page_size=args.taille,
        page_token=args.page,
    )
    found: intake_pb2.ListDossiersResponse = _intake(settings).ListDossiers(request, timeout=args.timeout)
    return found


# ---- lifecycle steps -------------------------------------------------------------------
def record_interview(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.RecordInterviewRequest(
        request_id=action_id(args), dossier_id=args.dossier_id, notes=args.notes, visibility=_visibility(args)
    )
    response: intake_pb2.StepResponse = _intake(settings).RecordInterview(request, timeout=args.timeout)
    return response


def complete_ecoute(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.CompleteEcouteRequest(
        request_id=action_id(args), dossier_id=args.dossier_id, next_stage=args.vers, motifs=args.motif
    )
    response: intake_pb2.StepResponse = _intake(settings).CompleteEcoute(request, timeout=args.timeout)
    return response


def start_suivi(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.StepRequest(request_id=action_id(args), dossier_id=args.dossier_id)
    response: intake_pb2.StepResponse = _intake(settings).StartSuivi(request, timeout=args.timeout)
    return response


def record_follow_up(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.RecordFollowUpRequest(
        request_id=action_id(args), dossier_id=args.dossier_id, notes=args.notes, visibility=_visibility(args)
    )
    response: intake_pb2.StepResponse = _intake(settings).RecordFollowUp(request, timeout=args.timeout)
    return response


def assign_agent(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.AssignAgentRequest(
        request_id=action_id(args), dossier_id=args.dossier_id, assignee=args.a
    )
    response: intake_pb2.StepResponse = _intake(settings).AssignAgent(request, timeout=args.timeout)
    return response


def close_dossier(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.CloseDossierRequest(
        request_id=action_id(args), dossier_id=args.dossier_id, outcome=args.issue, notes=args.notes
    )
    response: intake_pb2.StepResponse = _intake(settings).CloseDossier(request, timeout=args.timeout)
    return response


def reopen_dossier(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.ReopenDossierRequest(
        request_id=action_id(args), dossier_id=args.dossier_id, reason=args.motif_reouverture
    )
    response: intake_pb2.StepResponse = _intake(settings).ReopenDossier(request, timeout=args.timeout)
    return response


# ---- persons, households, consents -----------------------------------------------------
def create_person(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.CreatePersonRequest(
        request_id=action_id(args),
        territory=args.territory,
        first_name=args.prenom,
        last_name=args.nom,
        birth_date=args.naissance,
        phone=args.telephone,
        email=args.courriel,
        address_commune=args.commune_residence,
        address_line=args.adresse,
    )
    response: intake_pb2.CreatePersonResponse = _intake(settings).CreatePerson(request, timeout=args.timeout)
    return response


def show_person(args: argparse.Namespace, settings: Settings) -> Message:
    person: intake_pb2.Person = _intake(settings).GetPerson(
        intake_pb2.GetPersonRequest(person_id=args.person_id), timeout=args.timeout
    )
    return person


def merge_persons(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.MergePersonsRequest(
        request_id=action_id(args), keep_id=args.garder, duplicate_id=args.doublon
    )
    kept: intake_pb2.Person = _intake(settings).MergePersons(request, timeout=args.timeout)
    return kept


def create_household(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.CreateHouseholdRequest(
        request_id=action_id(args), territory=args.territory, member_ids=args.membre
    )
    household: intake_pb2.Household = _intake(settings).CreateHousehold(request, timeout=args.timeout)
    return household


def record_consent(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.RecordConsentRequest(
        request_id=action_id(args),
        person_id=args.personne,
        dossier_id=args.dossier,
        partner_id=args.partenaire,
        data_scope=args.donnees,
        kind=CONSENT_KINDS[args.type],
        channel=CONSENT_CHANNELS[args.canal] if args.canal else "",
        legal_basis=args.base_legale,
    )
    consent: intake_pb2.Consent = _intake(settings).RecordConsent(request, timeout=args.timeout)
    return consent


def revoke_consent(args: argparse.Namespace, settings: Settings) -> Message:
    request = intake_pb2.RevokeConsentRequest(
        request_id=action_id(args), consent_id=args.consentement, channel=CONSENT_CHANNELS[args.canal]
    )
    consent: intake_pb2.Consent = _intake(settings).RevokeConsent(request, timeout=args.timeout)
    return consent


def list_consents(args: argparse.Namespace, settings: Settings) -> Message:
    found: intake_pb2.ListConsentsResponse = _intake(settings).ListConsents(
        intake_pb2.ListConsentsRequest(person_id=args.personne), timeout=args.timeout
    )
    return found


# ---- reference data, figures, partners -------------------------------------------------
def reference_data(args: argparse.Namespace, settings: Settings) -> Message:
    data: intake_pb2.ReferenceData = _intake(settings).ListReferenceData(
        intake_pb2.ListReferenceDataRequest(), timeout=args.timeout
    )
    return data


def motif_counts(args: argparse.Namespace, settings: Settings) -> Message:
    stub = reporting_pb2_grpc.ReportingServiceStub(_channel(settings, "reporting"))
    counts: reporting_pb2.MotifCounts = stub.GetMotifCounts(
        reporting_pb2.GetMotifCountsRequest(territory=args.territory), timeout=args.timeout
    )
    return counts


def day_start(value: str) -> datetime:
    """AAAA-MM-JJ → midnight of that day in Paris (ValueError if it is no date)."""
    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=PARIS)


def _bilan_request(args: argparse.Namespace) -> reporting_pb2.GetBilanRequest:
    request = reporting_pb2.GetBilanRequest(territories=args.commune)
    for field, value in (("from", args.du), ("to", args.au)):
        getattr(request, field).FromDatetime(day_start(value))
    return request


def bilan(args: argparse.Namespace, settings: Settings) -> Message:
    """GetBilan, or ExportBilan written to --sortie when --format is given."""
    stub = reporting_pb2_grpc.ReportingServiceStub(_channel(settings, "reporting"))
    request = _bilan_request(args)
    if not args.format:
        figures: reporting_pb2.Bilan = stub.GetBilan(request, timeout=args.timeout)
        return figures
    document: reporting_pb2.BilanDocument = stub.ExportBilan(
        reporting_pb2.ExportBilanRequest(bilan=request, format=args.format), timeout=args.timeout
    )
    target = args.sortie or document.filename
    with open(target, "wb") as file:
        file.write(document.content)
    return reporting_pb2.BilanDocument(content_type=document.content_type, filename=target)


def ops_overview(args: argparse.Namespace, settings: Settings) -> Message:
    stub = reporting_pb2_grpc.ReportingServiceStub(_channel(settings, "reporting"))
    overview: reporting_pb2.OpsOverview = stub.GetOpsOverview(
        reporting_pb2.GetOpsOverviewRequest(
            territories=args.commune, stuck_after_days=args.jours, limit=args.limite
        ),
        timeout=args.timeout,
    )
    return overview


def partners(args: argparse.Namespace, settings: Settings) -> Message:
    stub = referral_pb2_grpc.ReferralServiceStub(_channel(settings, "referral"))
    found: referral_pb2.ListPartnersResponse = stub.ListPartners(
        referral_pb2.ListPartnersRequest(motif=args.motif, territory=args.territory), timeout=args.timeout
    )
    return found


# ---- referrals (orientation), agent side -------------------------------------------------
def _referral(settings: Settings) -> referral_pb2_grpc.ReferralServiceStub:
    return referral_pb2_grpc.ReferralServiceStub(_channel(settings, "referral"))


def create_referral(args: argparse.Namespace, settings: Settings) -> Message:
    request = referral_pb2.CreateReferralRequest(
        dossier_id=args.dossier_id,
        partner_id=args.partenaire,
        motif=args.motif,
        message_for_partner=args.message,
        data_scope=args.donnees,
        request_id=action_id(args),
    )
    referral: referral_pb2.Referral = _referral(settings).CreateReferral(request, timeout=args.timeout)
    return referral


def cancel_referral(args: argparse.Namespace, settings: Settings) -> Message:
    request = referral_pb2.CancelReferralRequest(
        request_id=action_id(args), referral_id=args.referral_id, reason=args.motif_annulation
    )
    referral: referral_pb2.Referral = _referral(settings).CancelReferral(request, timeout=args.timeout)
    return referral


def dossier_referrals(args: argparse.Namespace, settings: Settings) -> Message:
    found: referral_pb2.ListReferralsResponse = _referral(settings).ListDossierReferrals(
        referral_pb2.ListDossierReferralsRequest(dossier_id=args.dossier_id), timeout=args.timeout
    )
    return found


def suggest_partners(args: argparse.Namespace, settings: Settings) -> Message:
    found: referral_pb2.SuggestPartnersResponse = _referral(settings).SuggestPartners(
        referral_pb2.SuggestPartnersRequest(dossier_id=args.dossier_id), timeout=args.timeout
    )
    return found


# ---- referrals, partner side (the caller's token names its partner) ----------------------
# French status names typed by partners → the API's codes.
REFERRAL_STATUS_CODES = {
    "demandee": "requested",
    "recue": "received",
    "acceptee": "accepted",
    "refusee": "rejected",
    "en_cours": "in_progress",
    "terminee": "completed",
    "echouee": "failed",
    "annulee": "cancelled",
    "expiree": "expired",
}


def my_referrals(args: argparse.Namespace, settings: Settings) -> Message:
    status = REFERRAL_STATUS_CODES.get(args.statut, args.statut)
    found: referral_pb2.ListReferralsResponse = _referral(settings).ListMyReferrals(
        referral_pb2.ListMyReferralsRequest(status=status), timeout=args.timeout
    )
    return found


def show_referral(args: argparse.Namespace, settings: Settings) -> Message:
    referral: referral_pb2.Referral = _referral(settings).GetReferral(
        referral_pb2.GetReferralRequest(referral_id=args.referral_id), timeout=args.timeout
    )
    return referral


def _partner_action(rpc: str) -> Command:
    """AcknowledgeReferral, AcceptReferral, …: REFERRAL_ID and, by action, a reason
    (--motif-refus / --motif-echec), an outcome (--issue) and a comment."""

    def run(args: argparse.Namespace, settings: Settings) -> Message:
        request = referral_pb2.ReferralActionRequest(
            request_id=action_id(args),
            referral_id=args.referral_id,
            reason=getattr(args, "motif", ""),
            outcome=getattr(args, "issue", ""),
            comment=getattr(args, "commentaire", ""),
        )
        referral: referral_pb2.Referral = getattr(_referral(settings), rpc)(request, timeout=args.timeout)
        return referral

    return run


acknowledge_referral = _partner_action("AcknowledgeReferral")
accept_referral = _partner_action("AcceptReferral")
reject_referral = _partner_action("RejectReferral")
start_referral = _partner_action("StartReferral")
complete_referral = _partner_action("CompleteReferral")
fail_referral = _partner_action("FailReferral")
