"""Checks on what callers send, with messages a person understands."""

from __future__ import annotations

import re
import uuid

from entraide.v1 import intake_pb2

from domain.vocabulary import AFTER_ECOUTE, Visibility
from kernel.errors import InvalidArgument, NotFound, Violation
from kernel.reference import ReferenceData
from workflows.contracts import DossierSpec, LifecycleTimers

_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,100}$")
_AGENT = re.compile(r"^[\x21-\x7e]{1,100}$")
MAX_NOTES_LENGTH = 20_000
MAX_PAGE_SIZE = 200
# Dossier ids derive from (territory, request id): a retried request finds its dossier.
DOSSIER_ID_NAMESPACE = uuid.UUID("0b6f7f39-3d0e-4e58-9a3c-6a6f0d1c2e44")


def dossier_id_for(territory: str, request_id: str) -> str:
    return str(uuid.uuid5(DOSSIER_ID_NAMESPACE, f"{territory}\x00{request_id}"))


# Where a person finds the codes of the deployment (motifs, channels, communes, outcomes).
REFERENTIEL = "`entraide referentiel`"


def quoted(values: list[str]) -> str:
    """« a », « b » (codes a person typed, quoted back)."""
    return ", ".join(f"« {v} »" for v in values)


def number(n: int) -> str:
    """20 000: the French way of writing a count."""
    return f"{n:,}".replace(",", " ")


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def invalid(field: str, message: str, fr: str, reason: str) -> InvalidArgument:
    """INVALID_ARGUMENT for one request field at fault."""
    return InvalidArgument(message, fr=fr, reason=reason, field=field)


def request_id_violation(raw: str) -> Violation | None:
    if _REQUEST_ID.match(raw):
        return None
    return Violation(
        "request_id",
        "request_id is required: 1 to 100 printable characters without spaces",
        "L'identifiant de la demande est obligatoire : 1 à 100 caractères, sans espace ni accent.",
        "FIELD_REQUIRED" if not raw else "INVALID_FORMAT",
    )


def territory_violation(
    raw: str, reference: ReferenceData, field: str = "territory", hint: str = ""
) -> Violation | None:
    """None for a commune of this deployment; `hint` ends the English message."""
    if raw in reference.territories:
        return None
    if not raw:
        return Violation(
            field,
            "territory (the commune's INSEE code) is required",
            "Indiquez la commune (son code INSEE, par exemple 55029).",
            "FIELD_REQUIRED",
        )
    return Violation(
        field,
        f"territory {raw[:20]!r} is not a commune of this deployment{hint}",
        f"La commune « {raw[:20]} » n'est pas une commune de ce déploiement"
        f" (liste des communes : {REFERENTIEL}).",
        "UNKNOWN_TERRITORY",
    )


def site_violation(
    raw: str, territory: str, reference: ReferenceData, field: str = "site"
) -> Violation | None:
    """None for no site or a site of the commune `territory` (reference data); the codes
    of that commune's sites are named (deployment data, nothing personal)."""
    if not raw:
        return None
    site = reference.sites.get(raw)
    if site is not None and site.territory == territory:
        return None
    commune = reference.territories.get(territory, territory[:20])
    codes = [s.code for s in reference.sites_of([territory])]
    listed = f"sites de {commune} : {quoted(codes)}" if codes else f"{commune} n'a aucun site déclaré"
    if site is not None:
        return Violation(
            field,
            f"site {raw!r} is a site of another commune ({site.territory}), not of {territory[:20]}",
            f"Le site « {raw} » n'est pas un site de {commune}"
            f" ({listed} ; laissez vide si aucun ne convient).",
            "SITE_NOT_IN_COMMUNE",
        )
    return Violation(
        field,
        f"unknown site {raw[:40]!r}: a site code of the dossier's commune, or empty (see ListReferenceData)",
        f"Site d'accueil inconnu : « {raw[:40]} » ({listed} ; laissez vide si aucun ne convient ;"
        f" liste des sites : {REFERENTIEL}).",
        "UNKNOWN_SITE",
    )


def unknown_motifs_violation(unknown: list[str], field: str = "motifs") -> Violation:
    several = len(unknown) > 1
    return Violation(
        field,
        f"unknown motif(s): {', '.join(unknown[:5])} (see ListReferenceData)",
        f"{'Motifs inconnus' if several else 'Motif inconnu'} : {quoted(unknown[:5])}"
        f" (liste des motifs : {REFERENTIEL}).",
        "UNKNOWN_MOTIF",
    )


def missing_motif_violation(field: str = "motifs") -> Violation:
    return Violation(
        field,
        "at least one motif is required",
        f"Indiquez au moins un motif (liste des motifs : {REFERENTIEL}).",
        "FIELD_REQUIRED",
    )


def parse_dossier_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        if not raw:
            raise invalid(
                "dossier_id",
                "dossier_id is required: the dossier's id (a UUID)",
                "Indiquez l'identifiant du dossier.",
                "FIELD_REQUIRED",
            ) from None
        raise invalid(
            "dossier_id",
            f"dossier_id must be a dossier id (a UUID), got {len(raw)} characters that are not one",
            "L'identifiant du dossier n'est pas valable : il compte 36 caractères, copiez-le en entier.",
            "INVALID_ID",
        ) from None


def dossier_not_found() -> NotFound:
    return NotFound(
        "no dossier with this id",
        fr="Aucun dossier ne porte cet identifiant : vérifiez l'identifiant du dossier.",
        reason="DOSSIER_NOT_FOUND",
        field="dossier_id",
    )


# French names of the fields the checks below are shared by.
FIELD_LABELS = {
    "notes": "les notes",
    "reason": "le motif de réouverture",
    "agent": "l'agent",
    "assignee": "l'agent à qui attribuer le dossier",
    "assigned_agent": "l'agent attribué",
    "person_id": "l'identifiant de la personne",
    "household_id": "l'identifiant du foyer",
}


def _label(field: str) -> str:
    return FIELD_LABELS.get(field, f"le champ {field}")


def open_dossier_spec(
    request: intake_pb2.OpenDossierRequest, reference: ReferenceData, timers: LifecycleTimers
) -> DossierSpec:
    problems: list[Violation] = []
    for found in (
        request_id_violation(request.request_id),
        territory_violation(request.territory, reference),
    ):
        if found is not None:
            problems.append(found)
    if request.territory in reference.territories:
        # Against the commune's own sites: after a commune's fault, nothing to say yet.
        found = site_violation(request.site, request.territory, reference)
        if found is not None:
            problems.append(found)
    motifs = list(dict.fromkeys(request.motifs))
    if not motifs:
        problems.append(missing_motif_violation())
    unknown = [m[:40] for m in motifs if m not in reference.motifs]
    if unknown:
        problems.append(unknown_motifs_violation(unknown))
    if request.arrival_channel not in reference.arrival_channels:
        problems.append(
            Violation(
                "arrival_channel",
                f"unknown arrival_channel {request.arrival_channel[:40]!r} (see ListReferenceData)",
                f"Canal d'arrivée inconnu : « {request.arrival_channel[:40]} »"
                f" (liste des canaux : {REFERENTIEL}).",
                "UNKNOWN_ARRIVAL_CHANNEL",
            )
            if request.arrival_channel
            else Violation(
                "arrival_channel",
                "arrival_channel is required",
                f"Indiquez le canal d'arrivée de la personne (liste des canaux : {REFERENTIEL}).",
                "FIELD_REQUIRED",
            )
        )
    for field, raw in (("person_id", request.person_id), ("household_id", request.household_id)):
        if raw:
            try:
                uuid.UUID(raw)
            except ValueError:
                problems.append(
                    Violation(
                        field,
                        f"{field} must be an id (a UUID) or empty",
                        f"{capitalised(_label(field))} n'est pas valable : laissez-le vide"
                        " ou copiez l'identifiant en entier (36 caractères).",
                        "INVALID_ID",
                    )
                )
    if request.assigned_agent and not _AGENT.match(request.assigned_agent):
        problems.append(
            Violation(
                "assigned_agent",
                "assigned_agent is an agent's id, 1 to 100 printable characters",
                "L'agent attribué doit être l'identifiant d'un agent : 1 à 100 caractères, sans espace.",
                "INVALID_FORMAT",
            )
        )
    if problems:
        raise InvalidArgument.of(problems)
    return DossierSpec(
        dossier_id=dossier_id_for(request.territory, request.request_id),
        territory=request.territory,
        site=request.site,
        motifs=motifs,
        arrival_channel=request.arrival_channel,
        urgent=request.urgent,
        person_id=str(uuid.UUID(request.person_id)) if request.person_id else "",
        household_id=str(uuid.UUID(request.household_id)) if request.household_id else "",
        assigned_agent=request.assigned_agent,
        timers=timers,
    )


def agent(raw: str, field: str = "agent") -> str:
    if not _AGENT.match(raw):
        raise invalid(
            field,
            f"{field} is required: the agent's id, 1 to 100 printable characters",
            f"Indiquez {_label(field)} : son identifiant, 1 à 100 caractères sans espace.",
            "FIELD_REQUIRED" if not raw else "INVALID_FORMAT",
        )
    return raw


def notes(raw: str, field: str = "notes") -> str:
    if len(raw) > MAX_NOTES_LENGTH:
        raise invalid(
            field,
            f"{field} is at most {MAX_NOTES_LENGTH} characters (got {len(raw)})",
            f"Texte trop long pour {_label(field)} : {number(MAX_NOTES_LENGTH)} caractères au plus"
            f" (reçu : {number(len(raw))}).",
            "TOO_LONG",
        )
    if any(ord(c) < 32 and c not in "\n\r\t" for c in raw):
        raise invalid(
            field,
            f"{field} contains control characters",
            f"Caractères de contrôle refusés dans {_label(field)} : retirez-les"
            " (les retours à la ligne et les tabulations sont admis).",
            "CONTROL_CHARACTERS",
        )
    return raw


def visibility(raw: str) -> str:
    if raw in ("", Visibility.TEAM):
        return Visibility.TEAM
    if raw == Visibility.AUTHOR:
        return Visibility.AUTHOR
    raise invalid(
        "visibility",
        "visibility is 'team' (the dossier team) or 'author' (author only)",
        "La visibilité d'une note est « team » (l'équipe du dossier) ou « author » (son auteur seul).",
        "INVALID_CHOICE",
    )


def motifs(raw: list[str], reference: ReferenceData, *, required: bool) -> list[str]:
    unique = list(dict.fromkeys(raw))
    if required and not unique:
        raise InvalidArgument.of([missing_motif_violation()])
    unknown = [m[:40] for m in unique if m not in reference.motifs]
    if unknown:
        raise InvalidArgument.of([unknown_motifs_violation(unknown)])
    return unique


def next_stage(raw: str) -> str:
    if raw not in AFTER_ECOUTE:
        raise invalid(
            "next_stage",
            "next_stage is 'orientation' (a partner is needed) or 'suivi'",
            "Après l'écoute, le dossier passe en « orientation » (un partenaire est nécessaire)"
            " ou en « suivi ».",
            "INVALID_CHOICE",
        )
    return raw


def outcome(raw: str, reference: ReferenceData) -> str:
    if raw not in reference.closure_outcomes:
        if not raw:
            raise invalid(
                "outcome",
                "outcome is required to close a dossier",
                f"Indiquez l'issue du dossier pour le clôturer (liste des issues : {REFERENTIEL}).",
                "FIELD_REQUIRED",
            )
        raise invalid(
            "outcome",
            f"outcome {raw[:40]!r} is not a closure outcome (see ListReferenceData)",
            f"Issue inconnue : « {raw[:40]} » (liste des issues : {REFERENTIEL}).",
            "UNKNOWN_OUTCOME",
        )
    return raw


def territory(raw: str, reference: ReferenceData) -> str:
    found = territory_violation(raw, reference)
    if found is not None:
        raise InvalidArgument.of([found])
    return raw


def optional_id(raw: str, field: str) -> str:
    if not raw:
        return ""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise invalid(
            field,
            f"{field} must be an id (a UUID) or empty",
            f"{capitalised(_label(field))} n'est pas valable : laissez-le vide"
            " ou copiez l'identifiant en entier (36 caractères).",
            "INVALID_ID",
        ) from None
