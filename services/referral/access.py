"""Who may call each ReferralService method, and what personal data it touches."""

from __future__ import annotations

from kernel.access import Rule, field_resources, rule
from kernel.auth import Role

# Agents who orient people: the professionals who follow dossiers.
FOLLOWING = (Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE)
CASE = (Role.ACCUEIL, Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE)
PARTNER = (Role.PARTENAIRE,)

dossier = field_resources("dossier", "dossier_id")
referral = field_resources("referral", "referral_id", "response.referral_id")
referrals = field_resources("referral", "response.referrals.referral_id")
# A link's use names the referral it reached (read from the link's row, in the answer).
linked = field_resources("referral", "response.referral_id")
# The console presenting a partner's signed link (services/console/partner_link.py).
CONSOLE = (Role.SERVICE,)

RULES: dict[str, Rule] = {
    # The directory is public information about organisations.
    "ListPartners": rule(*Role, action="consulter l'annuaire des partenaires"),
    "GetPartner": rule(*Role, action="consulter la fiche d'un partenaire"),
    "ImportDirectory": rule(Role.RESPONSABLE, action="importer l'annuaire des partenaires"),
    "ExportDirectory": rule(Role.RESPONSABLE, Role.OPS, action="exporter l'annuaire des partenaires"),
    "SuggestPartners": rule(*CASE, action="chercher des partenaires pour un dossier"),
    "CreateReferral": rule(
        *FOLLOWING,
        access="write",
        resources=referral,
        purpose="orientation",
        action="orienter une personne vers un partenaire",
    ),
    "CancelReferral": rule(
        *FOLLOWING,
        access="write",
        resources=referral,
        purpose="orientation",
        action="annuler une orientation",
    ),
    "ListDossierReferrals": rule(
        *FOLLOWING,
        access="read",
        resources=dossier,
        purpose="suivi des orientations",
        action="lister les orientations d'un dossier",
    ),
    "ListMyReferrals": rule(
        *PARTNER,
        access="read",
        resources=referrals,
        purpose="orientations reçues",
        action="lister les orientations reçues par un partenaire",
    ),
    "GetReferral": rule(
        *PARTNER,
        *FOLLOWING,
        access="read",
        resources=referral,
        purpose="orientation",
        action="consulter une orientation",
    ),
    "AcknowledgeReferral": rule(
        *PARTNER,
        access="write",
        resources=referral,
        purpose="réponse du partenaire",
        action="accuser réception d'une orientation",
    ),
    "AcceptReferral": rule(
        *PARTNER,
        access="write",
        resources=referral,
        purpose="réponse du partenaire",
        action="accepter une orientation",
    ),
    "RejectReferral": rule(
        *PARTNER,
        access="write",
        resources=referral,
        purpose="réponse du partenaire",
        action="refuser une orientation",
    ),
    "StartReferral": rule(
        *PARTNER,
        access="write",
        resources=referral,
        purpose="réponse du partenaire",
        action="commencer l'accompagnement d'une orientation",
    ),
    "CompleteReferral": rule(
        *PARTNER,
        access="write",
        resources=referral,
        purpose="réponse du partenaire",
        action="terminer une orientation",
    ),
    "FailReferral": rule(
        *PARTNER,
        access="write",
        resources=referral,
        purpose="réponse du partenaire",
        action="déclarer une orientation en échec",
    ),
    "CreateReferralLink": rule(
        *FOLLOWING,
        Role.SERVICE,
        access="write",
        resources=referral,
        purpose="lien de réponse du partenaire",
        action="créer un lien de réponse à une orientation",
    ),
    "RevokeReferralLink": rule(
        *FOLLOWING,
        access="write",
        resources=linked,
        purpose="lien de réponse du partenaire",
        action="désactiver un lien de réponse à une orientation",
    ),
    # Refused uses of a link are logged by the handler (services/referral/grpc_api.py).
    "ReadReferralByLink": rule(
        *CONSOLE,
        access="read",
        resources=linked,
        purpose="réponse du partenaire par lien",
        action="consulter une orientation par un lien de réponse",
    ),
    "AnswerReferralByLink": rule(
        *CONSOLE,
        access="write",
        resources=linked,
        purpose="réponse du partenaire par lien",
        action="répondre à une orientation par un lien de réponse",
    ),
}
