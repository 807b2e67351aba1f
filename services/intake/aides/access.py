"""Who may call each AidService method, and what personal data it touches (kernel.access
keys rules by method name across the intake process: no name may repeat).

- the social workers and responsables open, instruct, schedule and decide requests in
  commission, and read them; reception has no part in the aid (its figures and the
  household's budget are the social worker's);
- an urgent decision and an override of a budget line are a responsable's (the handler
  checks it: the method is the same), and so are budget lines and recording payments.
"""

from __future__ import annotations

from kernel.access import Rule, all_resources, field_resources, rule
from kernel.auth import Role
from services.intake.access import FOLLOWING
from services.intake.access import RULES as INTAKE_RULES

request_of = field_resources("aid_request", "aid_request_id", "response.aid_request_id")
person_of = field_resources("person", "response.person_id")
request_and_person = all_resources(request_of, person_of)

RULES: dict[str, Rule] = {
    "ListAidTypes": rule(*FOLLOWING, action="consulter les types d'aide"),
    "CreateAidRequest": rule(
        *FOLLOWING,
        access="write",
        resources=all_resources(field_resources("dossier", "dossier_id"), request_and_person),
        purpose="aide facultative",
        action="déposer une demande d'aide",
    ),
    "GetAidRequest": rule(
        *FOLLOWING,
        access="read",
        resources=request_and_person,
        purpose="aide facultative",
        action="consulter une demande d'aide",
    ),
    "ListAidRequests": rule(
        *FOLLOWING,
        access="read",
        resources=field_resources("aid_request", "response.aid_requests.aid_request_id"),
        purpose="aide facultative",
        action="consulter les demandes d'aide",
    ),
    "RecordInstruction": rule(
        *FOLLOWING,
        access="write",
        resources=request_and_person,
        purpose="aide facultative",
        action="instruire une demande d'aide",
    ),
    "WithdrawAidRequest": rule(
        *FOLLOWING,
        access="write",
        resources=request_and_person,
        purpose="aide facultative",
        action="retirer une demande d'aide",
    ),
    "CreateCommission": rule(*FOLLOWING, access="write", action="créer une commission"),
    "GetCommission": rule(
        *FOLLOWING,
        access="read",
        resources=field_resources("aid_request", "response.agenda.aid_request_id"),
        purpose="commission des aides",
        action="consulter l'ordre du jour d'une commission",
    ),
    "ListCommissions": rule(
        *FOLLOWING,
        access="read",
        resources=field_resources("aid_request", "response.commissions.agenda.aid_request_id"),
        purpose="commission des aides",
        action="consulter les commissions",
    ),
    "ScheduleAidRequest": rule(
        *FOLLOWING,
        access="write",
        resources=field_resources("aid_request", "aid_request_id"),
        purpose="commission des aides",
        action="inscrire une demande à l'ordre du jour",
    ),
    "RecordDecision": rule(
        *FOLLOWING,
        access="write",
        resources=request_and_person,
        purpose="commission des aides",
        action="enregistrer une décision d'aide",
    ),
    "ListPayments": rule(
        *FOLLOWING,
        access="read",
        resources=field_resources("aid_request", "response.payments.aid_request_id"),
        purpose="paiement des aides",
        action="consulter les paiements à faire",
    ),
    "RecordPayment": rule(
        Role.RESPONSABLE,
        access="write",
        resources=field_resources("aid_request", "response.aid_request_id"),
        purpose="paiement des aides",
        action="enregistrer un paiement",
    ),
    "SetUpLoan": rule(
        *FOLLOWING,
        access="write",
        resources=request_of,
        purpose="microcrédit",
        action="mettre en place un microcrédit",
    ),
    "RecordLoanIncident": rule(
        *FOLLOWING,
        access="write",
        resources=field_resources("aid_request", "response.aid_request_id"),
        purpose="microcrédit",
        action="enregistrer un incident de remboursement",
    ),
    "GetDecisionLetter": rule(
        *FOLLOWING,
        access="read",
        resources=field_resources("aid_request", "aid_request_id"),
        purpose="aide facultative",
        action="éditer le courrier de décision",
    ),
    "CreateBudgetLine": rule(Role.RESPONSABLE, access="write", action="créer une ligne budgétaire"),
    "ListBudgetLines": rule(*FOLLOWING, action="consulter les lignes budgétaires"),
}

assert not set(RULES) & set(INTAKE_RULES), sorted(set(RULES) & set(INTAKE_RULES))
