"""The consent gate of referrals (docs/domain.md rule 1), an intake activity run by the dossier's
workflow before a referral leaves: the dossier's person must have a recorded consent,
or a legal basis recorded by a named agent, covering that partner and every data
category sent. Returns only those categories of the person, for the partner."""

from __future__ import annotations

from temporalio import activity

from kernel.db import Pool, system_scope
from kernel.errors import FailedPrecondition, NotFound
from kernel.temporal import application_error
from services.intake import persons, repository
from workflows.contracts import ActivityName, ConsentCheck, PersonShare


class ReferralGate:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn(name=ActivityName.CHECK_REFERRAL_CONSENT)
    async def check_referral_consent(self, check: ConsentCheck) -> PersonShare:
        async with system_scope(self.pool, [check.territory]) as conn:
            dossier = await repository.get_dossier(conn, check.dossier_id)
            if dossier is None:
                raise application_error(
                    NotFound(
                        "no dossier with this id",
                        fr="Aucun dossier ne porte cet identifiant.",
                        reason="DOSSIER_NOT_FOUND",
                        field="dossier_id",
                    )
                )
            if dossier["person_id"] is None:
                raise application_error(
                    FailedPrecondition(
                        "this dossier has no person: no referral leaves without the person's consent"
                        " (record the person and their consent first)",
                        fr="Ce dossier n'est rattaché à aucune personne : aucune orientation ne part"
                        " sans le consentement de la personne. Enregistrez d'abord la personne"
                        " et son consentement.",
                        reason="DOSSIER_WITHOUT_PERSON",
                    )
                )
            person_id = str(dossier["person_id"])
            person_territory = await persons.person_territory(conn, person_id)
        territories = {check.territory, person_territory or check.territory}
        async with system_scope(self.pool, territories) as conn:
            if not await persons.consent_covers(conn, person_id, check.partner_id, check.data_scope):
                data = ", ".join(f"« {s} »" for s in check.data_scope)
                raise application_error(
                    FailedPrecondition(
                        "no consent of the person (nor legal basis recorded by a named agent) covers sharing "
                        f"{', '.join(check.data_scope)} with this partner: record it first (RecordConsent)",
                        fr="Aucun consentement de la personne (ni base légale enregistrée par un agent)"
                        f" ne couvre le partage des données {data} avec ce partenaire : enregistrez d'abord"
                        " le consentement de la personne pour ce partenaire"
                        " (commande `entraide consentement enregistrer`).",
                        reason="CONSENT_MISSING",
                    )
                )
            current = await persons.current_person_id(conn, person_id)
            person = await persons.get_person(conn, current or person_id)
        share = PersonShare()
        if person is None:
            return share
        if "identite" in check.data_scope:
            share.first_name = person["first_name"]
            share.last_name = person["last_name"]
            share.birth_date = person["birth_date"].isoformat() if person["birth_date"] else ""
        if "contact" in check.data_scope:
            share.phone = person["phone"] or ""
            share.email = person["email"] or ""
            share.address = person["address_line"] or ""
        return share
