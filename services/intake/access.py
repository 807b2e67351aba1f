"""Who may call each IntakeService method, and what personal data it touches."""

from __future__ import annotations

from kernel.access import Rule, field_resources, rule
from kernel.auth import Role

CASE = (Role.ACCUEIL, Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE)
# The écoute, notes and steps: the professionals who follow dossiers.
FOLLOWING = (Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE)
# Who reads the notes written on a dossier (reception reads its steps without them).
NOTE_READERS = frozenset(FOLLOWING)
EVERYONE = tuple(Role)

dossier = field_resources("dossier", "dossier_id", "response.dossier.dossier_id")
person = field_resources("person", "person_id", "response.person.person_id", "response.person_id")

RULES: dict[str, Rule] = {
    "ListReferenceData": rule(
        *EVERYONE, action="consulter le référentiel (motifs, canaux d'arrivée, communes, issues)"
    ),
    "OpenDossier": rule(
        *CASE, access="write", resources=dossier, purpose="accueil", action="ouvrir un dossier"
    ),
    "GetDossier": rule(
        *CASE,
        access="read",
        resources=dossier,
        purpose="consultation du dossier",
        action="consulter un dossier",
    ),
    "ListDossiers": rule(
        *CASE,
        access="read",
        resources=field_resources("dossier", "response.dossiers.dossier_id"),
        purpose="liste des dossiers",
        action="lister les dossiers d'une commune",
    ),
    "ListTasks": rule(
        *FOLLOWING,
        access="read",
        resources=field_resources("dossier", "response.tasks.dossier_id"),
        purpose="tâches à traiter",
        action="consulter les tâches des dossiers à traiter",
    ),
    "GetDossierTimeline": rule(
        *CASE,
        access="read",
        resources=dossier,
        purpose="suivi du dossier",
        action="lire la chronologie d'un dossier",
    ),
    "RecordInterview": rule(
        *FOLLOWING,
        access="write",
        resources=dossier,
        purpose="écoute",
        action="enregistrer un entretien d'écoute",
    ),
    "CompleteEcoute": rule(
        *FOLLOWING,
        access="write",
        resources=dossier,
        purpose="écoute",
        action="terminer l'écoute d'un dossier",
    ),
    "StartSuivi": rule(
        *FOLLOWING, access="write", resources=dossier, purpose="suivi", action="passer un dossier en suivi"
    ),
    "RecordFollowUp": rule(
        *FOLLOWING,
        access="write",
        resources=dossier,
        purpose="suivi",
        action="enregistrer un contact de suivi",
    ),
    "AssignAgent": rule(
        *FOLLOWING,
        access="write",
        resources=dossier,
        purpose="attribution",
        action="attribuer un dossier à un agent",
    ),
    "CloseDossier": rule(
        *FOLLOWING, access="write", resources=dossier, purpose="clôture", action="clôturer un dossier"
    ),
    "ReopenDossier": rule(
        *FOLLOWING,
        access="write",
        resources=dossier,
        purpose="réouverture",
        action="rouvrir un dossier clôturé",
    ),
    "CreatePerson": rule(
        *CASE, access="write", resources=person, purpose="accueil", action="enregistrer une personne"
    ),
    "GetPerson": rule(
        *CASE,
        access="read",
        resources=person,
        purpose="consultation de la personne",
        action="consulter la fiche d'une personne",
    ),
    "SearchPersons": rule(
        *CASE,
        access="read",
        resources=field_resources("person", "response.persons.person_id"),
        purpose="recherche d'une personne",
        action="rechercher une personne",
    ),
    "CheckPossibleDuplicates": rule(
        *CASE,
        access="read",
        resources=field_resources("person", "response.duplicates.person_id"),
        purpose="accueil",
        action="chercher les doublons possibles d'une personne",
    ),
    "MergePersons": rule(
        *FOLLOWING,
        access="write",
        resources=field_resources("person", "keep_id", "duplicate_id"),
        purpose="fusion de doublons",
        action="fusionner les doublons d'une personne",
    ),
    "CreateHousehold": rule(
        *CASE,
        access="write",
        resources=field_resources("person", "member_ids"),
        purpose="composition du foyer",
        action="créer un foyer",
    ),
    "RecordConsent": rule(
        *FOLLOWING,
        access="write",
        resources=person,
        purpose="recueil du consentement",
        action="enregistrer le consentement d'une personne",
    ),
    "RevokeConsent": rule(
        *FOLLOWING,
        access="write",
        resources=field_resources("person", "response.person_id"),
        purpose="retrait du consentement",
        action="enregistrer le retrait d'un consentement",
    ),
    "ListConsents": rule(
        *FOLLOWING,
        access="read",
        resources=person,
        purpose="consentements",
        action="consulter les consentements d'une personne",
    ),
    "ExportPerson": rule(
        Role.RESPONSABLE,
        access="read",
        resources=person,
        purpose="droit d'accès",
        action="exporter les données d'une personne (droit d'accès)",
    ),
    "RectifyPerson": rule(
        Role.RESPONSABLE,
        access="write",
        resources=person,
        purpose="droit de rectification",
        action="rectifier les données d'une personne",
    ),
    "AnonymisePerson": rule(
        Role.RESPONSABLE,
        access="write",
        resources=person,
        purpose="droit à l'effacement",
        action="anonymiser une personne (droit à l'effacement)",
    ),
    "ImportDossiers": rule(
        Role.RESPONSABLE,
        access="write",
        purpose="reprise des dossiers existants",
        action="importer les dossiers d'un fichier existant",
    ),
}
