"""French text for people: one renderer per reply message type.

Times are shown in Europe/Paris time (JJ/MM/AAAA HH:MM), numbers the French way
(1 234, 47,4 %), stages and codes with their French names (domain.labels_fr and the
deployment's reference data); scripts use --json instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import singledispatch
from typing import Any
from zoneinfo import ZoneInfo

from entraide.v1 import intake_pb2, referral_pb2, reporting_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from domain.labels_fr import (
    NOTE_KIND_LABELS,
    REFERRAL_OUTCOME_LABELS,
    REFERRAL_REASON_ONLY_LABELS,
    REFERRAL_STATUS_LABELS,
    STAGE_LABELS,
)
from domain.money import format_euros
from kernel import reference

PARIS = ZoneInfo("Europe/Paris")
# Between thousands and before % or a unit: the narrow no-break space of French typography.
THIN = "\u202f"
DEADLINES = {
    "urgent_ecoute": "Écoute urgente avant",
    "suivi_reminder": "Relance de suivi le",
    "closure_proposal": "Proposition de clôture le",
    "reopen_limit": "Réouverture possible jusqu'au",
}
VISIBILITIES = {"team": "note d'équipe", "author": "note privée"}
CONSENT_KINDS = {"consent": "consentement", "legal_basis": "base légale"}
CONSENT_CHANNELS = {"oral": "oral", "written": "écrit", "electronic": "électronique"}
OPS_REASONS = {
    "escalated": "urgence non écoutée",
    "reminder": "relance de suivi sans suite",
    "closure_proposed": "clôture proposée sans suite",
    "no_progress": "sans avancée",
    "referral_overdue": "orientation sans réponse du partenaire",
}
CHANNEL_REASONS = {
    "MISSING_WEBHOOK_SECRET": "secret du webhook absent",
    "INVALID_WEBHOOK_URL": "adresse du webhook invalide",
    "INVALID_WEBHOOK_SECRET_REF": "nom du secret du webhook invalide",
}
PARTNER_CHANNELS = {"webhook": "webhook", "nats": "NATS"}


@dataclass
class Labels:
    """The deployment's labels of motifs, channels, communes, outcomes and data
    categories (kernel.reference: ENTRAIDE_REFERENCE_FILE or the default file)."""

    motifs: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    communes: Mapping[str, str] = field(default_factory=dict)
    outcomes: Mapping[str, str] = field(default_factory=dict)
    data_scopes: Mapping[str, str] = field(default_factory=dict)


LABELS = Labels()


def use_reference(env: Mapping[str, str]) -> None:
    """Reads the reference data the labels come from; codes are shown if it cannot be read."""
    try:
        data = reference.load(env)
    except (OSError, ValueError, KeyError, TypeError):
        return
    LABELS.motifs = data.motifs
    LABELS.channels = data.arrival_channels
    LABELS.communes = data.territories
    LABELS.outcomes = data.closure_outcomes
    LABELS.data_scopes = data.consent_data_scopes


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
    return STAGE_LABELS.get(code, code)


def motif(code: str) -> str:
    return LABELS.motifs.get(code, code)


def motifs(codes: Iterable[str]) -> str:
    return ", ".join(map(motif, codes))


def channel(code: str) -> str:
    return LABELS.channels.get(code, code)


def commune(code: str) -> str:
    """« Bar-le-Duc (55029) »; the code alone when the commune is not known."""
    name = LABELS.communes.get(code)
    return f"{name} ({code})" if name else code


def outcome(code: str) -> str:
    """The outcome's label up to its explanation: « Réglé » for « Réglé : une solution … »."""
    return LABELS.outcomes.get(code, code).split(" : ")[0]


def data_scope(code: str) -> str:
    return DATA_SCOPES.get(code) or LABELS.data_scopes.get(code, code)


def number(value: float, decimals: int = 0) -> str:
    """French: 1 234 567 ; 47,4 (thousands by narrow no-break spaces, decimal comma)."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", THIN).replace(".", ",")


def percent(value: float) -> str:
    return f"{number(value, 1)}{THIN}%"


def days(seconds: float) -> str:
    return number(seconds / 86400, 1)


def delay(seconds: float) -> str:
    """A median delay: « 3,5 j », « 5,2 h », « 12 min »; « — » when there is none."""
    if seconds <= 0:
        return "—"
    if seconds < 3600:
        return f"{number(max(seconds / 60, 1))}{THIN}min"
    if seconds < 86400:
        return f"{number(seconds / 3600, 1)}{THIN}h"
    return f"{days(seconds)}{THIN}j"


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
    site = f" (site : {message.site_label or message.site})" if message.site else ""
    return fields(
        [
            ("Dossier", message.dossier_id),
            ("Étape", stage(message.stage)),
            ("Commune", commune(message.territory) + site),
            ("Motifs", motifs(message.motifs)),
            ("Canal", channel(message.arrival_channel)),
            ("Urgent", yes_no(message.urgent)),
            ("Personne", message.person_id),
            ("Foyer", message.household_id),
            ("Agent", message.assigned_agent),
            ("Issue", outcome(message.outcome) if message.outcome else ""),
            ("Réouvertures", str(message.cycle) if message.cycle else ""),
            ("Ouvert le", when(message.opened_at)),
            ("Mis à jour le", when(message.updated_at) if message.HasField("updated_at") else ""),
        ]
    )


@render_text.register
def _step_response(message: intake_pb2.StepResponse) -> str:
    return render_text(message.dossier)


NOTE_INDENT = " " * 6


def _entry(entry: intake_pb2.TimelineEntry, note: intake_pb2.Note | None) -> str:
    actor = f"  ({entry.actor})" if entry.actor else ""
    line = f"{when(entry.at)}  {stage(entry.stage):<11}  {entry.summary}{actor}"
    return line + ("\n" + _note(note) if note is not None else "")


def _note(note: intake_pb2.Note) -> str:
    """Under its timeline entry: « Entretien — agent-martin, note d'équipe : » then the text."""
    kind = NOTE_KIND_LABELS.get(note.kind, note.kind)
    visibility = VISIBILITIES.get(note.visibility, note.visibility)
    head = f"{NOTE_INDENT}{kind} — {', '.join(part for part in (note.author, visibility) if part)}"
    if note.HasField("erased_at"):
        return f"{head} (effacée le {when(note.erased_at)})"
    body = note.text.splitlines() or ["(vide)"]
    return f"{head} :" + "".join(f"\n{NOTE_INDENT}  {line}" for line in body)


def _interview(interview: intake_pb2.Interview) -> str:
    head = f"{when(interview.at)}  {interview.author}, {VISIBILITIES.get(interview.visibility, '')}"
    body = interview.notes or "(note réservée à son auteur)"
    return head + "".join(f"\n      {line}" for line in body.splitlines() or [""])


def _deadline(deadline: intake_pb2.Deadline) -> str:
    return f"{DEADLINES.get(deadline.kind, deadline.kind)} {when(deadline.due_at)}"


@render_text.register
def _timeline(message: intake_pb2.DossierTimeline) -> str:
    """Each entry with the note written at its step (TimelineEntry.note, else the note of
    the same step in `notes`); notes of no listed step after; a server that sends no
    notes yet gets the interviews as before."""
    by_step = {note.step: note for note in message.notes}
    lines = []
    for entry in message.entries:
        note = entry.note if entry.HasField("note") else by_step.get(entry.step) if entry.step else None
        if note is not None:
            by_step.pop(note.step, None)
        lines.append(_entry(entry, note))
    parts = [render_text(message.dossier), section("Chronologie", lines, "vide")]
    if by_step:
        parts.append(section("Autres notes", (_note(n).strip() for n in by_step.values()), "aucune"))
    if not message.notes and message.interviews:
        parts.append(section("Entretiens", map(_interview, message.interviews), "aucun"))
    parts.append(section("Échéances", map(_deadline, message.deadlines), "aucune"))
    return "\n\n".join(parts)


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
            motifs(d.motifs),
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
            f" --garder ID --doublon {message.person.person_id}"
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
            ("Données", ", ".join(map(data_scope, message.data_scope))),
            ("Type", _consent_kind(message)),
            ("Agent", message.agent),
            ("Enregistré le", when(message.recorded_at)),
            ("Retiré le", when(message.revoked_at) if message.HasField("revoked_at") else ""),
            ("Retrait", _revocation(message)),
        ]
    )


def _revocation(consent: intake_pb2.Consent) -> str:
    """How and by whom a withdrawal was recorded ("" while the consent stands)."""
    if not consent.HasField("revoked_at"):
        return ""
    channel = CONSENT_CHANNELS.get(consent.revocation_channel, consent.revocation_channel)
    return f"{channel}, enregistré par {consent.revoked_by}" if consent.revoked_by else channel


def _consent_line(consent: intake_pb2.Consent) -> str:
    revoked = f" — retiré le {when(consent.revoked_at)}" if consent.HasField("revoked_at") else ""
    return (
        f"{when(consent.recorded_at)}  {consent.partner_id:<20}  {_consent_kind(consent)}"
        f" — données : {', '.join(map(data_scope, consent.data_scope))}{revoked} [{consent.consent_id}]"
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
        ("Étapes du dossier", message.stages),
        ("Données partageables", message.data_scopes),
        ("Consentements", message.consent_kinds),
        ("Recueil ou retrait du consentement", message.consent_channels),
        ("Statuts d'une orientation", message.referral_statuses),
        ("Issues d'une orientation", message.referral_outcomes),
        ("Motifs de refus, d'échec ou d'annulation", message.referral_reasons),
        ("Champs d'un fichier importé (entraide import)", message.import_fields),
    ]
    listed = "\n".join(
        f"{title} :\n" + "\n".join(f"  {i.code:<28} {i.label}" for i in items) for title, items in sections
    )
    sites = [f"  {s.code:<30} {s.label} — {commune(s.territory)}" for s in message.sites]
    return listed + ("\nSites d'accueil (entraide ouvrir --site) :\n" + "\n".join(sites) if sites else "")


@render_text.register
def _motif_counts(message: reporting_pb2.MotifCounts) -> str:
    lines = [f"Dossiers ouverts : {number(message.dossiers)}", "Par motif :"]
    for item in message.motifs:
        share = 100 * item.count / message.dossiers if message.dossiers else 0
        lines.append(f"  {item.label:<50} {number(item.count):>7}  ({number(share)}{THIN}%)")
    return "\n".join(lines)


def _shares(title: str, shares: Sequence[reporting_pb2.Share]) -> list[str]:
    if not shares:
        return [f"{title} : aucun dossier"]
    lines = [f"{title} :"]
    for item in shares:
        lines.append(
            f"  {item.label:<50} {number(item.count):>7}  ({percent(item.percent)})"
            f"  période précédente : {number(item.previous_count)}"
        )
    return lines


def partner_name(figures: reporting_pb2.PartnerFigures) -> str:
    """PartnerFigures.partner_name when the server sends it, else its id."""
    named: Any = figures
    fields_known = figures.DESCRIPTOR.fields_by_name
    name = str(named.partner_name) if "partner_name" in fields_known else ""
    return name or figures.partner_id


def _partner_figures(p: reporting_pb2.PartnerFigures) -> str:
    return (
        f"  {partner_name(p)} : {number(p.referrals)} orientation{'s' if p.referrals > 1 else ''}"
        f" — acceptées {number(p.accepted)}, terminées {number(p.completed)},"
        f" refusées {number(p.rejected)}, expirées {number(p.expired)}"
        f" — délai médian de réponse {delay(p.median_response_s)},"
        f" d'accompagnement {delay(p.median_completion_s)}"
    )


@render_text.register
def _bilan(message: reporting_pb2.Bilan) -> str:
    before = "période précédente"

    def figure(label: str, now: int, then: int) -> str:
        return f"{label} : {number(now)} ({before} : {number(then)})"

    lines = [
        f"Bilan : {', '.join(message.territory_labels)}",
        figure("Personnes reçues", message.people_received, message.previous_people_received),
        figure("Dossiers ouverts", message.dossiers_opened, message.previous_dossiers_opened),
        figure("Dossiers réglés", message.dossiers_solved, message.previous_dossiers_solved),
        figure("Dossiers clôturés", message.dossiers_closed, message.previous_dossiers_closed),
    ]
    lines += _shares("Par motif", message.by_motif)
    lines += _shares("Par commune", message.by_commune)
    lines += _shares("Par canal d'arrivée", message.by_channel)
    lines += _shares("Par issue", message.by_outcome)
    lines.append("Durée par étape (jours, médiane / 90e centile) :")
    for d in message.stage_durations:
        lines.append(
            f"  {d.label or stage(d.stage):<30} {days(d.median_s):>6} / {days(d.p90_s)}"
            f"  ({number(d.dossiers)} dossiers)"
        )
    if message.partners:
        lines.append("Partenaires (orientations, délais médians) :")
        lines += [_partner_figures(p) for p in message.partners]
    else:
        lines.append("Partenaires : aucune orientation")
    lines += _collective(message.collective)
    lines += _signals(message.signals)
    lines += _aides(message.aides)
    lines += _activity(message.activity)  # last: the permanences' breakdowns end the text
    return "\n".join(lines)


def _growth(value: float, previous: int) -> str:
    """The service's growth of the visits, signed; « — » without previous visits."""
    if previous == 0:
        return "—"
    return ("+" if value > 0 else "") + percent(value)


def _plural(count: int, word: str) -> str:
    return f"{number(count)} {word}{'s' if count > 1 else ''}"


def _activity_shares(title: str, shares: Sequence[reporting_pb2.ActivityShare]) -> list[str]:
    if not shares:
        return [f"  {title} : aucun rendez-vous"]
    lines = [f"  {title} :"]
    for s in shares:
        lines.append(
            f"    {s.label} : {number(s.appointments)} rendez-vous,"
            f" {_plural(s.visits, 'visite')}, {_plural(s.no_shows, 'absence')}"
            f" (taux d'absence {percent(s.no_show_rate)})"
            f" — période précédente : {_plural(s.previous_visits, 'visite')},"
            f" évolution {_growth(s.visits_growth, s.previous_visits)}"
        )
    return lines


def _activity(a: reporting_pb2.ActivityFigures) -> list[str]:
    """Bilan.activity: the permanences' appointments and visits (one line when there were none)."""
    if not (a.appointments or a.previous_appointments):
        return ["Permanences et rendez-vous : aucun rendez-vous sur la période"]
    before = "période précédente"
    excused = f"dont {_plural(a.excused_no_shows, 'excusée')}"
    lines = [
        "Permanences et rendez-vous :",
        f"  Rendez-vous : {number(a.appointments)} ({before} : {number(a.previous_appointments)})",
        f"  Visites : {number(a.visits)} ({before} : {number(a.previous_visits)})",
        f"  Absences : {number(a.no_shows)}, {excused} ({before} : {number(a.previous_no_shows)})",
        f"  Taux d'absence : {percent(a.no_show_rate)}",
        f"  Venues sans rendez-vous : {number(a.walk_ins)}",
        f"  Évolution des visites sur la {before} : {_growth(a.visits_growth, a.previous_visits)}",
    ]
    lines += _activity_shares("Par catégorie de partenaire", a.by_category)
    lines += _activity_shares("Par partenaire", a.by_partner)
    lines += _activity_shares("Par site", a.by_site)
    return lines


def _sub_shares(title: str, shares: Sequence[reporting_pb2.Share], empty: str) -> list[str]:
    """A breakdown inside a section (indented), one line when empty."""
    if not shares:
        return [f"  {title} : {empty}"]
    return [f"  {title} :"] + [
        f"    {s.label} : {number(s.count)} ({percent(s.percent)})"
        f" — période précédente : {number(s.previous_count)}"
        for s in shares
    ]


def _collective(c: reporting_pb2.CollectiveFigures) -> list[str]:
    """Bilan.collective: sessions, participants, attendance, goals, outcomes (one line when none)."""
    if not (c.sessions_held or c.previous_sessions_held or c.by_outcome):
        return ["Actions collectives : aucune séance sur la période"]
    before = "période précédente"
    return [
        "Actions collectives :",
        f"  Séances tenues : {number(c.sessions_held)} ({before} : {number(c.previous_sessions_held)})",
        f"  Participants : {number(c.participants)} ({before} : {number(c.previous_participants)})",
        f"  Présences : {number(c.presences)}, absences : {number(c.absences)}"
        f" (taux de présence {percent(c.attendance_rate)})",
        f"  Objectifs : {number(c.goals_set)} fixés, {number(c.goals_reached)} atteints,"
        f" {number(c.goals_given_up)} abandonnés",
        f"  Sur liste d'attente : {number(c.waiting_list)}",
        *_sub_shares("Suite pour les participants", c.by_outcome, "aucune suite enregistrée"),
    ]


def _signals(s: reporting_pb2.SignalFigures) -> list[str]:
    """Bilan.signals: received, qualified, dossiers opened, escalated; by commune, signaller, status."""
    if not (s.received or s.previous_received):
        return ["Signalements : aucun signalement sur la période"]
    return [
        "Signalements :",
        f"  Reçus : {number(s.received)} (période précédente : {number(s.previous_received)})",
        f"  Qualifiés : {number(s.qualified)}, dossiers ouverts : {number(s.dossiers_opened)},"
        f" non qualifiés dans le délai : {number(s.escalated)}",
        *_sub_shares("Par commune", s.by_commune, "aucun"),
        *_sub_shares("Par signalant", s.by_signaller, "aucun"),
        *_sub_shares("Par statut", s.by_status, "aucun"),
    ]


def _aid_rows(title: str, rows: Sequence[reporting_pb2.AidBreakdown]) -> list[str]:
    if not rows:
        return []
    return [f"  {title} :"] + [
        f"    {b.label} : {number(b.requests)} demandes, {number(b.granted)} accordées,"
        f" {number(b.refused)} refusées, {number(b.postponed)} ajournées ;"
        f" demandé {format_euros(b.asked_cents)}, accordé {format_euros(b.granted_cents)},"
        f" payé {format_euros(b.paid_cents)}"
        for b in rows
    ]


def _aides(a: reporting_pb2.AidFigures) -> list[str]:
    """Bilan.aides: requests, decisions and amounts in euros; by type, commune and month;
    refusal reasons; micro-credits; budget lines (one line when none)."""
    if not (a.requests or a.granted or a.refused or a.postponed or a.paid_cents or a.budget_lines):
        return ["Aides facultatives : aucune demande sur la période"]
    lines = [
        "Aides facultatives :",
        f"  Demandes : {number(a.requests)} ({number(a.households)} foyers),"
        f" montant demandé {format_euros(a.asked_cents)}",
        f"  Décisions : {number(a.granted)} accordées, {number(a.refused)} refusées,"
        f" {number(a.postponed)} ajournées, dont {number(a.urgent)} en urgence ;"
        f" {number(a.withdrawn)} demandes retirées",
        f"  Montant accordé : {format_euros(a.granted_cents)}, payé : {format_euros(a.paid_cents)}",
        f"  Microcrédits : {number(a.loans)} mis en place ({format_euros(a.loan_cents)}),"
        f" {number(a.loan_incidents)} incidents",
        *_aid_rows("Par type d'aide", a.by_type),
        *_aid_rows("Par commune", a.by_commune),
        *_aid_rows("Par mois", a.by_month),
        *_sub_shares("Motifs de refus", a.refusal_reasons, "aucun refus"),
    ]
    if a.budget_lines:
        lines.append("  Lignes budgétaires :")
        lines += [
            f"    {b.label} ({b.year}) : enveloppe {format_euros(b.envelope_cents)},"
            f" engagé {format_euros(b.committed_cents)}, payé {format_euros(b.paid_cents)},"
            f" disponible {format_euros(b.remaining_cents)}"
            for b in a.budget_lines
        ]
    return lines


@render_text.register
def _bilan_document(message: reporting_pb2.BilanDocument) -> str:
    return f"Bilan exporté : {message.filename}"


def _listed(d: reporting_pb2.StuckDossier) -> str:
    """An overdue or stuck dossier; for an overdue referral `stage` is its status."""
    where = stage(d.stage) if d.reason != "referral_overdue" else referral_status(d.stage)
    why = OPS_REASONS.get(d.reason, d.reason)
    since = f", dernière avancée le {when(d.last_progress_at)}" if d.HasField("last_progress_at") else ""
    return f"  {d.dossier_id or '—'}  {commune(d.territory)}  {where} — {why}{since}"


def _misconfigured(item: Any) -> str:
    """OpsOverview.misconfigured_channels (a partner's channel that cannot deliver)."""
    reason = str(getattr(item, "reason", ""))
    kind = str(getattr(item, "channel", ""))
    since: Any = getattr(item, "since", None)
    if isinstance(since, Timestamp):
        since_text = when(since) if item.HasField("since") else ""
    else:
        since_text = str(since or "")
    held = int(getattr(item, "deliveries_held", 0) or 0)
    return (
        f"  {getattr(item, 'partner_id', '')}  {PARTNER_CHANNELS.get(kind, kind)} — "
        f"{CHANNEL_REASONS.get(reason, reason)}"
        + (f", depuis le {since_text}" if since_text else "")
        + f" — envois en attente : {number(held)}"
    )


@render_text.register
def _ops(message: reporting_pb2.OpsOverview) -> str:
    lines = ["Dossiers par étape :" if message.stages else "Dossiers par étape : aucun"]
    lines += [f"  {stage(s.stage):<14} {number(s.dossiers):>7}" for s in message.stages]
    lines.append(f"Échéances dépassées : {number(len(message.overdue))}")
    lines += [_listed(d) for d in message.overdue]
    lines.append(f"Dossiers sans avancée : {number(len(message.stuck))}")
    lines += [_listed(d) for d in message.stuck]
    lines.append("Consommateurs (en attente / non acquittés / relivrés) :")
    lines += [
        f"  {c.consumer:<30} {number(c.pending)} / {number(c.ack_pending)} / {number(c.redelivered)}"
        for c in message.consumers
    ]
    backlog = ", ".join(f"{k} {number(v)}" for k, v in sorted(message.outbox_backlog.items()))
    lines.append("Événements non publiés : " + (backlog or "aucun"))
    lines.append(f"Lettres mortes : {number(len(message.dead_letters))}")
    lines += [
        f"  {d.service}/{d.consumer} n°{d.stream_seq} {d.subject} {d.error_type}"
        for d in message.dead_letters
    ]
    if "misconfigured_channels" in message.DESCRIPTOR.fields_by_name:
        channels: Any = getattr(message, "misconfigured_channels")  # noqa: B009 — newer servers only
        lines.append(f"Canaux de partenaires mal configurés : {number(len(channels))}")
        lines += [_misconfigured(item) for item in channels]
    return "\n".join(lines)


@render_text.register
def _partners(message: referral_pb2.ListPartnersResponse) -> str:
    """The ids are what `orienter --partenaire` and `consentement enregistrer --partenaire` take."""
    if not message.partners:
        return "Aucun partenaire."
    width = max(len(p.partner_id) for p in message.partners)
    lines = [f"{'Identifiant':<{width}}  Partenaire"]
    lines += [
        f"{p.partner_id:<{width}}  {p.name} ({p.kind}) — motifs : {motifs(p.motifs)}"
        for p in message.partners
    ]
    return "\n".join(lines)


# ---- referrals (orientation) -----------------------------------------------------------
# The vocabulary's French words are defined once (domain.labels_fr), for the timeline too.
REFERRAL_STATUSES = REFERRAL_STATUS_LABELS
REFERRAL_REASONS = REFERRAL_REASON_ONLY_LABELS
REFERRAL_OUTCOMES = REFERRAL_OUTCOME_LABELS
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
            ("Motif", motif(message.motif)),
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
    return f"{referral.referral_id}  {when(referral.updated_at)}  {who} · {motif(referral.motif)} · {status}"


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
            f"  Motifs servis         : {motifs(s.motifs)}\n"
            f"  Prochaine permanence  : {next_slot}"
        )
    return "\n".join(blocks)
