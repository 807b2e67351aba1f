"""Where reporting's projections live, named once: the `reporting` schema (live) or a
shadow schema (a rebuild), the projector's durable consumer and its lock."""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA = "reporting"
CONSUMER = "reporting-projector"
# Taken shared by every projector transaction, exclusive by the rebuild's cut-over.
PROJECTION_LOCK = 0x52657072  # "Repr"


@dataclass(frozen=True)
class Tables:
    """Where the projections live: `reporting` live, a shadow schema during a rebuild."""

    schema: str = SCHEMA

    @property
    def dossiers(self) -> str:
        return f"{self.schema}.dossier_facts"

    @property
    def referrals(self) -> str:
        return f"{self.schema}.referral_facts"

    @property
    def inbox(self) -> str:
        return f"{self.schema}.inbox"

    @property
    def opened_cells(self) -> str:
        return f"{self.schema}.opened_cells"

    @property
    def closed_cells(self) -> str:
        return f"{self.schema}.closed_cells"

    @property
    def duration_cells(self) -> str:
        return f"{self.schema}.duration_cells"

    @property
    def return_cells(self) -> str:
        return f"{self.schema}.return_cells"

    @property
    def person_aliases(self) -> str:
        return f"{self.schema}.person_aliases"

    @property
    def partner_names(self) -> str:
        return f"{self.schema}.partner_names"

    @property
    def appointments(self) -> str:
        return f"{self.schema}.appointment_facts"

    @property
    def appointment_cells(self) -> str:
        return f"{self.schema}.appointment_cells"

    @property
    def appointment_hosts(self) -> str:
        return f"{self.schema}.appointment_hosts"

    @property
    def group_sessions(self) -> str:
        return f"{self.schema}.group_session_facts"

    @property
    def enrolments(self) -> str:
        return f"{self.schema}.enrolment_facts"

    @property
    def goals(self) -> str:
        return f"{self.schema}.goal_facts"

    @property
    def signals(self) -> str:
        return f"{self.schema}.signal_facts"

    @property
    def aid_requests(self) -> str:
        return f"{self.schema}.aid_request_facts"

    @property
    def aid_decisions(self) -> str:
        return f"{self.schema}.aid_decision_facts"

    @property
    def aid_withdrawals(self) -> str:
        return f"{self.schema}.aid_withdrawal_facts"

    @property
    def aid_payments(self) -> str:
        return f"{self.schema}.aid_payment_facts"

    @property
    def loans(self) -> str:
        return f"{self.schema}.loan_facts"

    @property
    def loan_incidents(self) -> str:
        return f"{self.schema}.loan_incident_facts"

    @property
    def budget_lines(self) -> str:
        return f"{self.schema}.budget_line_facts"


LIVE = Tables()
