"""French text for people: one renderer per reply message type.

Times are shown in Europe/Paris time (JJ/MM/AAAA HH:MM), stages and codes with
their French names; scripts use --json instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from functools import singledispatch
from zoneinfo import ZoneInfo

from entraide.v1 import intake_pb2, referral_pb2, reporting_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

PARIS = ZoneInfo("Europe/Paris")
STAGES = {
    "reception": "accueil",
    "ecoute": "écoute",
    "orientation": "orientation",
    "suivi": "suivi",
    "cloture": "clôture",
}
DEADLINES = {
    "urgent_ecoute": "Écoute urgente avant",
    "suivi_reminder": "Relance de suivi le",
    "closure_proposal": "Proposition de clôture le",
    "reopen_limit": "Réouverture possible jusqu'au",
}
VISIBILITIES = {"team": "note d'équipe", "author": "note privée"}
CONSENT_KINDS = {"consent": "consentement", "legal_basis": "base légale"}
CONSENT_CHANNELS = {"oral": "oral", "written": "écrit", "electronic": "électronique"}


# ---- small formatters ----------------------------------------------------------------
def when(stamp: Timestamp) -> str:
    """JJ/MM/AAAA HH:MM in Paris time; "—" when unset."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        return "—"
    return stamp.ToDatetime(tzinfo=PARIS).strftime("%d/%m/%Y %H:%M")


def day(iso: str) -> str:
    """AAAA-MM-JJ → JJ/MM/AAAA (left as is if it is not a date)."""
    try:
        return date.fromisoformat(iso).strftime("%d/%m/%Y")
    except ValueError:
        return iso


def stage(code: str) -> str:
    return STAGES.get(code, code)


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """Aligned "Label : value" lines; empty values are left out."""
    shown = [(label, value) for label, value in pairs if value]
    width = max((len(label) for label, _ in shown), default=0)
    return "\n".join(f"{label:<{width}} : {value}" for label, value in shown)


def section(title: str, lines: Iterable[str], empty: str) -> str:
    body = [f"  {line}" for line in lines]
    return f"{title} :\n" + "\n".join(body) if body else f"{title} : {empty}"


def yes_no(flag: bool) -> str:
    return "oui" if flag else "non"


# ---- renderers -----------------------------------------------------------------------
@singledispatch
def render_text(message: Message) -> str:
    """French text for people."""
    return str(message)


@render_text.register
def _open_response(message: intake_pb2.OpenDossierResponse) -> str:
    verb = "ouvert" if message.created else "déjà ouvert (même identifiant de demande)"
    return f"Dossier {verb} : {message.dossier.dossier_id}\n" + render_text(message.dossier)


@render_text.register
def _dossier(message: intake_pb2.Dossier) -> str:
    site = f" (site : {message.site})" if message.site else ""
    return fields(
        [
            ("Dossier", message.dossier_id),
            ("Étape", stage(message.stage)),
            ("Commune", message.territory + site),
            ("Motifs", ", ".join(message.motifs)),
            ("Canal", message.arrival_channel),
            ("Urgent", yes_no(message.urgent)),
            ("Personne", message.person_id),
            ("Foyer", message.household_id),
            ("Agent", message.assigned_agent),
            ("Issue", message.outcome),
            ("Réouvertures", str(message.cycle) if message.cycle else ""),
            ("Ouvert le", when(message.opened_at)),
            ("Mis à jour le", when(message.updated_at) if message.HasField("updated_at") else ""),
        ]
    )


@render_text.register
def _step_response(message: intake_pb2.StepResponse) -> str:
    return render_text(message.dossier)


def _entry(entry: intake_pb2.TimelineEntry) -> str:
    actor = f"  ({entry.actor})" if entry.actor else ""
    return f"{when(entry.at)}  {stage(entry.stage):<11}  {entry.summary}{actor}"


def _interview(interview: intake_pb2.Interview) -> str:
    head = f"{when(interview.at)}  {interview.author}, {VISIBILITIES.get(interview.visibility, '')}"
    body = interview.notes or "(note réservée à son auteur)"
    return head + "".join(f"\n      {line}" for line in body.splitlines() or [""])


def _deadline(deadline: intake_pb2.Deadline) -> str:
    return f"{DEADLINES.get(deadline.kind, deadline.kind)} {when(deadline.due_at)}"


@render_text.register
def _timeline(message: intake_pb2.DossierTimeline) -> str:
    return "\n\n".join(
        [
            render_text(message.dossier),
            section("Chronologie", map(_entry, message.entries), "vide"),
            section("Entretiens", map(_interview, message.interviews), "aucun"),
            section("Échéances", map(_deadline, message.deadlines), "aucune"),
        ]
    )


@render_text.register
def _dossier_list(message: intake_pb2.ListDossiersResponse) -> str:
    if not message.dossiers:
        return "Aucun dossier."
    row = "{:<36}  {:<11}  {:<16}  {:<6}  {:<20}  {}"
    lines = [row.format("Dossier", "Étape", "Ouvert le", "Urgent", "Agent", "Motifs")]
    lines += [
        row.format(
            d.dossier_id,
            stage(d.stage),
            when(d.opened_at),
            yes_no(d.urgent),
            d.assigned_agent or "—",
            ", ".join(d.motifs),
        )
        for d in message.dossiers
    ]
    if message.next_page_token:
        lines.append(f"Page suivante : --page '{message.next_page_token}'")
    return "\n".join(lines)


def _person_line(person: intake_pb2.Person) -> str:
    born = f", né(e) le {day(person.birth_date)}" if person.birth_date else ""
    phone = f", tél. {person.phone}" if person.phone else ""
    return f"{person.first_name} {person.last_name}{born}{phone} [{person.person_id}]"


@render_text.register
def _person(message: intake_pb2.Person) -> str:
    residence = ", ".join(p for p in (message.address_line, message.address_commune) if p)
    return fields(
        [
            ("Personne", message.person_id),
            ("Nom", message.last_name),
            ("Prénom", message.first_name),
            ("Naissance", day(message.birth_date) if message.birth_date else ""),
            ("Téléphone", message.phone),
            ("Courriel", message.email),
            ("Commune", message.territory),
            ("Adresse", residence),
            ("Foyers", ", ".join(message.household_ids)),
            ("Fusionnée dans", message.merged_into),
        ]
    )


@render_text.register
def _created_person(message: intake_pb2.CreatePersonResponse) -> str:
    head = "Personne créée" if message.created else "Personne déjà créée (même identifiant de demande)"
    text = f"{head} : {message.person.person_id}\n" + render_text(message.person)
    if message.possible_duplicates:
        text += "\n\nDoublons possibles : " + " ; ".join(map(_person_line, message.possible_duplicates))
        text += (
            "\n  Pour fusionner : entraide personne fusionner"
            f" --garder ID --doublon {message.person.person_id} --agent VOUS"
        )
    return text


@render_text.register
def _household(message: intake_pb2.Household) -> str:
    return fields(
        [
            ("Foyer", message.household_id),
            ("Commune", message.territory),
            ("Membres", ", ".join(message.member_ids)),
        ]
    )


def _consent_kind(consent: intake_pb2.Consent) -> str:
    kind = CONSENT_KINDS.get(consent.kind, consent.kind)
    if consent.legal_basis:
        kind += f" : {consent.legal_basis}"
    if consent.channel:
        kind += f" ({CONSENT_CHANNELS.get(consent.channel, consent.channel)})"
    return kind


@render_text.register
def _consent(message: intake_pb2.Consent) -> str:
    return fields(
        [
            ("Consentement", message.consent_id),
            ("Personne", message.person_id),
            ("Dossier", message.dossier_id),
            ("Partenaire", message.partner_id),
            ("Données", ", ".join(message.data_scope)),
            ("Type", _consent_kind(message)),
            ("Agent", message.agent),
            ("Enregistré le", when(message.recorded_at)),
            ("Révoqué le", when(message.revoked_at) if message.HasField("revoked_at") else ""),
        ]
    )


def _consent_line(consent: intake_pb2.Consent) -> str:
    revoked = f" — révoqué le {when(consent.revoked_at)}" if consent.HasField("revoked_at") else ""
    return (
        f"{when(consent.recorded_at)}  {consent.partner_id:<20}  {_consent_kind(consent)}"
        f" — données : {', '.join(consent.data_scope)}{revoked} [{consent.consent_id}]"
    )


@render_text.register
def _consent_list(message: intake_pb2.ListConsentsResponse) -> str:
    if not message.consents:
        return "Aucun consentement enregistré."
    return section("Consentements", map(_consent_line, message.consents), "aucun")


@render_text.register
def _reference(message: intake_pb2.ReferenceData) -> str:
    sections = [
        ("Motifs", message.motifs),
        ("Canaux d'arrivée", message.arrival_channels),
        ("Communes", message.territories),
        ("Issues de clôture", message.closure_outcomes),
    ]
    return "\n".join(
        f"{title} :\n" + "\n".join(f"  {i.code:<28} {i.label}" for i in items) for title, items in sections
    )


@render_text.register
def _motif_counts(message: reporting_pb2.MotifCounts) -> str:
    lines = [f"Dossiers ouverts : {message.dossiers}", "Par motif :"]
    for item in message.motifs:
        share = 100 * item.count / message.dossiers if message.dossiers else 0
        lines.append(f"  {item.label:<50} {item.count:>6}  ({share:.0f} %)")
    return "\n".join(lines)


def _shares(title: str, shares: Iterable[reporting_pb2.Share]) -> list[str]:
    lines = [f"{title} :"]
    for item in shares:
        lines.append(
            f"  {item.label:<50} {item.count:>6}  ({item.percent:.1f} %)"
            f"  période précédente : {item.previous_count}"
        )
    return lines


@render_text.register
def _bilan(message: reporting_pb2.Bilan) -> str:
    before = "période précédente"
    lines = [
        f"Bilan : {', '.join(message.territory_labels)}",
        f"Personnes reçues : {message.people_received} ({before} : {message.previous_people_received})",
        f"Dossiers ouverts : {message.dossiers_opened} ({before} : {message.previous_dossiers_opened})",
        f"Dossiers réglés : {message.dossiers_solved} ({before} : {message.previous_dossiers_solved})",
    ]
    lines += _shares("Par motif", message.by_motif)
    lines += _shares("Par commune", message.by_commune)
    lines += _shares("Par canal d'arrivée", message.by_channel)
    lines += _shares("Par issue", message.by_outcome)
    lines.append("Durée par étape (jours, médiane / 90e centile) :")
    for d in message.stage_durations:
        lines.append(
            f"  {d.label:<30} {d.median_s / 86400:>6.1f} / {d.p90_s / 86400:.1f}  ({d.dossiers} dossiers)"
        )
    return "\n".join(lines)


@render_text.register
def _bilan_document(message: reporting_pb2.BilanDocument) -> str:
    return f"Bilan exporté : {message.filename}"


@render_text.register
def _ops(message: reporting_pb2.OpsOverview) -> str:
    lines = ["Dossiers par étape :"] + [f"  {s.stage:<14} {s.dossiers:>6}" for s in message.stages]
    lines.append(f"Échéances dépassées : {len(message.overdue)}")
    lines += [f"  {d.dossier_id}  {d.territory}  {d.stage:<12} {d.reason}" for d in message.overdue]
    lines.append(f"Dossiers sans avancée : {len(message.stuck)}")
    lines += [f"  {d.dossier_id}  {d.territory}  {d.stage}" for d in message.stuck]
    lines.append("Consommateurs (en attente / non acquittés / relivrés) :")
    lines += [
        f"  {c.consumer:<30} {c.pending} / {c.ack_pending} / {c.redelivered}" for c in message.consumers
    ]
    lines.append(
        "Événements non publiés : " + ", ".join(f"{k} {v}" for k, v in sorted(message.outbox_backlog.items()))
    )
    lines.append(f"Lettres mortes : {len(message.dead_letters)}")
    lines += [
        f"  {d.service}/{d.consumer} n°{d.stream_seq} {d.subject} {d.error_type}"
        for d in message.dead_letters
    ]
    return "\n".join(lines)


@render_text.register
def _partners(message: referral_pb2.ListPartnersResponse) -> str:
    return (
        "\n".join(f"{p.name} ({p.kind}) — motifs : {', '.join(p.motifs)}" for p in message.partners)
        or "Aucun partenaire."
    )


# ---- referrals (orientation) -----------------------------------------------------------
REFERRAL_STATUSES = {
    "requested": "demandée",
    "received": "reçue",
    "accepted": "acceptée",
    "rejected": "refusée",
    "in_progress": "en cours",
    "completed": "terminée",
    "failed": "échouée",
    "cancelled": "annulée",
    "expired": "expirée",
}
REFERRAL_REASONS = {
    "person_refused": "refus de la personne",
    "no_capacity": "pas de place",
    "not_eligible": "non éligible",
    "person_unreachable": "personne injoignable",
    "partner_unreachable": "partenaire sans réponse",
    "need_gone": "besoin disparu",
    "redirected": "réorientée",
    "other": "autre",
}
REFERRAL_OUTCOMES = {
    "need_met": "besoin couvert",
    "rights_opened": "droits ouverts",
    "support_started": "accompagnement engagé",
    "redirected": "réorientée",
    "other": "autre",
}
DATA_SCOPES = {"motif": "motif", "identite": "identité", "contact": "coordonnées"}
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def referral_status(code: str) -> str:
    return REFERRAL_STATUSES.get(code, code)


def _why(reason: str, outcome: str) -> str:
    if outcome:
        return REFERRAL_OUTCOMES.get(outcome, outcome)
    return REFERRAL_REASONS.get(reason, reason)


def _person_shared(person: referral_pb2.PersonSnapshot) -> str:
    name = " ".join(part for part in (person.first_name, person.last_name) if part)
    born = f"née/né le {day(person.birth_date)}" if person.birth_date else ""
    return ", ".join(part for part in (name, born, person.phone, person.email, person.address) if part)


def _change(change: referral_pb2.ReferralChange) -> str:
    why = _why(change.reason, change.outcome)
    actor = f"  ({change.actor})" if change.actor else ""
    return f"{when(change.at)}  {referral_status(change.status)}" + (f" — {why}" if why else "") + actor


@render_text.register
def _referral(message: referral_pb2.Referral) -> str:
    status = referral_status(message.status)
    why = _why(message.reason, message.outcome)
    head = fields(
        [
            ("Orientation", message.referral_id),
            ("Partenaire", f"{message.partner_name} ({message.partner_id})" if message.partner_name else ""),
            ("Dossier", message.dossier_id),
            ("Commune", message.territory),
            ("Motif", message.motif),
            ("Statut", status + (f" — {why}" if why else "") + (" (relancée)" if message.reminded else "")),
            ("Données", ", ".join(DATA_SCOPES.get(d, d) for d in message.data_scope)),
            ("Personne", _person_shared(message.person) if message.HasField("person") else ""),
            ("Message", message.message_for_partner),
            ("Orientée par", message.referrer),
            ("Créée le", when(message.created_at)),
            ("Mise à jour le", when(message.updated_at) if message.HasField("updated_at") else ""),
        ]
    )
    return head + "\n" + section("Historique", (_change(c) for c in message.history), "aucun")


def _referral_line(referral: referral_pb2.Referral) -> str:
    who = referral.partner_name or referral.partner_id
    why = _why(referral.reason, referral.outcome)
    status = referral_status(referral.status) + (f" — {why}" if why else "")
    return f"{referral.referral_id}  {when(referral.updated_at)}  {who} · {referral.motif} · {status}"


@render_text.register
def _referral_list(message: referral_pb2.ListReferralsResponse) -> str:
    if not message.referrals:
        return "Aucune orientation."
    count = len(message.referrals)
    title = f"{count} orientation" + ("s" if count > 1 else "")
    return f"{title} :\n" + "\n".join(f"  {_referral_line(r)}" for r in message.referrals)


def permanence(found: referral_pb2.Permanence) -> str:
    """« mardi 25/11/2026 de 09:00 à 12:00 — Agence de Bar-le-Duc, 12 rue … (55029) »."""
    starts = found.starts_at.ToDatetime(tzinfo=PARIS)
    ends = found.ends_at.ToDatetime(tzinfo=PARIS)
    where = ", ".join(part for part in (found.location.name, found.location.address) if part)
    commune = f" ({found.location.commune})" if found.location.commune else ""
    return f"{WEEKDAYS[starts.weekday()]} {starts:%d/%m/%Y} de {starts:%H:%M} à {ends:%H:%M}" + (
        f" — {where}{commune}" if where else ""
    )


@render_text.register
def _suggestions(message: referral_pb2.SuggestPartnersResponse) -> str:
    if not message.suggestions:
        return "Aucun partenaire ne sert les motifs de ce dossier dans sa commune."
    blocks = []
    for s in message.suggestions:
        next_slot = (
            permanence(s.next_permanence) if s.HasField("next_permanence") else "pas de permanence connue"
        )
        blocks.append(
            f"{s.partner.name} ({s.partner.partner_id}, {s.partner.kind})\n"
            f"  Motifs servis         : {', '.join(s.motifs)}\n"
            f"  Prochaine permanence  : {next_slot}"
        )
    return "\n".join(blocks)
