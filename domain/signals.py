"""The vocabulary of signals ("aller vers"): an élu référent or a secrétaire de mairie
signals a resident; the CIAS qualifies the signal.

Pure: codes only (French labels in domain.labels_fr); docs/signals.md says the rules.
"""

from __future__ import annotations

from enum import StrEnum

# Days before an unqualified signal is escalated (ENTRAIDE_SIGNAL_ESCALATION_S overrides).
DEFAULT_ESCALATION_DAYS = 7
# Contact attempts before "unreachable" may be recorded (ENTRAIDE_SIGNAL_ATTEMPTS).
DEFAULT_CONTACT_ATTEMPTS = 3
MAX_DESCRIPTION = 1000


class SignallerKind(StrEnum):
    ELU = "elu"
    SECRETAIRE_MAIRIE = "secretaire_mairie"
    # An agent of the CIAS recording a signal received by phone.
    AGENT = "agent"


class SignalStatus(StrEnum):
    RECEIVED = "received"
    # Reached: a dossier is opened from the signal.
    CONTACTED = "contacted"
    UNREACHABLE = "unreachable"
    DECLINED = "declined"
    NOT_RELEVANT = "not_relevant"


QUALIFIED = frozenset(SignalStatus) - {SignalStatus.RECEIVED}


class SignallerView(StrEnum):
    """All a signaller learns of its signal (never what followed)."""

    RECEIVED = "received"
    TAKEN_IN_CHARGE = "taken_in_charge"
    CLOSED = "closed"


# The arrival channel of the dossier opened from a signal (reference data codes).
ARRIVAL_CHANNEL = "signalement_elu"
