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

RULES: dict[str, Rule] = {
    # The directory is public information about organisations.
    "ListPartners": rule(*Role),
    "GetPartner": rule(*Role),
    "ImportDirectory": rule(Role.RESPONSABLE),
    "ExportDirectory": rule(Role.RESPONSABLE, Role.OPS),
    "SuggestPartners": rule(*CASE),
    "CreateReferral": rule(*FOLLOWING, access="write", resources=referral, purpose="orientation"),
    "CancelReferral": rule(*FOLLOWING, access="write", resources=referral, purpose="orientation"),
    "ListDossierReferrals": rule(
        *FOLLOWING, access="read", resources=dossier, purpose="suivi des orientations"
    ),
    "ListMyReferrals": rule(*PARTNER, access="read", resources=referrals, purpose="orientations reçues"),
    "GetReferral": rule(*PARTNER, *FOLLOWING, access="read", resources=referral, purpose="orientation"),
    "AcknowledgeReferral": rule(
        *PARTNER, access="write", resources=referral, purpose="réponse du partenaire"
    ),
    "AcceptReferral": rule(*PARTNER, access="write", resources=referral, purpose="réponse du partenaire"),
    "RejectReferral": rule(*PARTNER, access="write", resources=referral, purpose="réponse du partenaire"),
    "StartReferral": rule(*PARTNER, access="write", resources=referral, purpose="réponse du partenaire"),
    "CompleteReferral": rule(*PARTNER, access="write", resources=referral, purpose="réponse du partenaire"),
    "FailReferral": rule(*PARTNER, access="write", resources=referral, purpose="réponse du partenaire"),
}
