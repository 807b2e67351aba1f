"""Who may call each SignalService method, and what personal data it touches.

Merged into intake's rules (kernel.access keys rules by method name; no SignalService
method shares a name with another of the process, checked at import). Choices:
- submitting: the signallers (signaleur, elu) and the case roles (a signal taken by
  phone at the CIAS); the handler checks the commune is one of the caller's;
- a signaller's own signals' status: the signallers only (the CIAS reads the queue);
- the queue, a signal, the attempts and the qualification: the case roles (reception
  takes calls back as well as social workers); never a signaller, who learns nothing
  of what followed (the database agrees, migration 015).
"""

from __future__ import annotations

from kernel.access import Rule, all_resources, field_resources, rule
from kernel.auth import Role
from services.intake.access import CASE
from services.intake.access import RULES as INTAKE_RULES
from services.intake.planning.access import RULES as PLANNING_RULES

SIGNALLERS = (Role.SIGNALEUR, Role.ELU)

signal = field_resources("signal", "signal_id", "response.signal_id")

RULES: dict[str, Rule] = {
    "SubmitSignal": rule(
        *SIGNALLERS,
        *CASE,
        access="write",
        resources=field_resources("signal", "response.signal_id"),
        purpose="signalement",
        action="signaler une personne au CIAS",
    ),
    "ListMySignals": rule(
        *SIGNALLERS,
        access="read",
        resources=field_resources("signal", "response.signals.signal_id"),
        purpose="suivi de ses signalements",
        action="consulter l'état de ses signalements",
    ),
    "ListSignals": rule(
        *CASE,
        access="read",
        resources=field_resources("signal", "response.signals.signal_id"),
        purpose="signalements à traiter",
        action="consulter les signalements reçus",
    ),
    "GetSignal": rule(
        *CASE, access="read", resources=signal, purpose="signalement", action="consulter un signalement"
    ),
    "RecordContactAttempt": rule(
        *CASE,
        access="write",
        resources=signal,
        purpose="signalement",
        action="enregistrer une tentative de contact",
    ),
    "QualifySignal": rule(
        *CASE,
        access="write",
        resources=all_resources(signal, field_resources("dossier", "response.dossier_id")),
        purpose="qualification d'un signalement",
        action="qualifier un signalement",
    ),
}

# One process, one access policy keyed by method name: the names must differ.
assert not set(RULES) & (set(INTAKE_RULES) | set(PLANNING_RULES)), sorted(set(RULES) & set(INTAKE_RULES))
