"""Who may call each IntakeService method, and what personal data it touches."""

from __future__ import annotations

from kernel.access import Rule, field_resources, rule
from kernel.auth import Role

CASE = (Role.ACCUEIL, Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE)
# The écoute, notes and steps: the professionals who follow dossiers.
FOLLOWING = (Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE)
EVERYONE = tuple(Role)

dossier = field_resources("dossier", "dossier_id", "response.dossier.dossier_id")
person = field_resources("person", "person_id", "response.person.person_id", "response.person_id")

RULES: dict[str, Rule] = {
    "ListReferenceData": rule(*EVERYONE),
    "OpenDossier": rule(*CASE, access="write", resources=dossier, purpose="accueil"),
    "GetDossier": rule(*CASE, access="read", resources=dossier, purpose="consultation du dossier"),
    "ListDossiers": rule(
        *CASE,
        access="read",
        resources=field_resources("dossier", "response.dossiers"),
        purpose="liste des dossiers",
    ),
    "GetDossierTimeline": rule(*FOLLOWING, access="read", resources=dossier, purpose="suivi du dossier"),
    "RecordInterview": rule(*FOLLOWING, access="write", resources=dossier, purpose="écoute"),
    "CompleteEcoute": rule(*FOLLOWING, access="write", resources=dossier, purpose="écoute"),
    "StartSuivi": rule(*FOLLOWING, access="write", resources=dossier, purpose="suivi"),
    "RecordFollowUp": rule(*FOLLOWING, access="write", resources=dossier, purpose="suivi"),
    "AssignAgent": rule(*FOLLOWING, access="write", resources=dossier, purpose="attribution"),
    "CloseDossier": rule(*FOLLOWING, access="write", resources=dossier, purpose="clôture"),
    "ReopenDossier": rule(*FOLLOWING, access="write", resources=dossier, purpose="réouverture"),
    "CreatePerson": rule(*CASE, access="write", resources=person, purpose="accueil"),
    "GetPerson": rule(*CASE, access="read", resources=person, purpose="consultation de la personne"),
    "MergePersons": rule(
        *FOLLOWING,
        access="write",
        resources=field_resources("person", "keep_id", "duplicate_id"),
        purpose="fusion de doublons",
    ),
    "CreateHousehold": rule(
        *CASE,
        access="write",
        resources=field_resources("person", "member_ids"),
        purpose="composition du foyer",
    ),
    "RecordConsent": rule(*FOLLOWING, access="write", resources=person, purpose="recueil du consentement"),
    "ListConsents": rule(*FOLLOWING, access="read", resources=person, purpose="consentements"),
    "ExportPerson": rule(Role.RESPONSABLE, access="read", resources=person, purpose="droit d'accès"),
    "RectifyPerson": rule(
        Role.RESPONSABLE, access="write", resources=person, purpose="droit de rectification"
    ),
    "AnonymisePerson": rule(
        Role.RESPONSABLE, access="write", resources=person, purpose="droit à l'effacement"
    ),
}
