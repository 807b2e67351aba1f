"""The pure rules of signals: who signals as what, what a signaller may read of its
signal, which arrival channel the dossier opened from it gets, when « unreachable »
may be recorded. docs/signals.md says them in words."""

from __future__ import annotations

from domain.signals import ARRIVAL_CHANNEL, QUALIFIED, SignallerKind, SignallerView, SignalStatus
from kernel.auth import CASE_ROLES, Role

# The dossier opened from a signal an agent recorded itself (reference data code).
AGENT_ARRIVAL_CHANNEL = "aller_vers"
# Who may submit a signal: the signallers, and the agents (a call taken at the CIAS).
SIGNALLER_ROLES = frozenset({Role.SIGNALEUR, Role.ELU})
SUBMITTERS = SIGNALLER_ROLES | CASE_ROLES


def signaller_kind(role: Role) -> SignallerKind:
    """Kept simple: an élu's account signals as an élu, a signaleur's as the town hall's
    secretary (an élu référent without an `elu` account is counted with them), an
    agent's as the CIAS's own « aller vers »."""
    if role is Role.ELU:
        return SignallerKind.ELU
    if role is Role.SIGNALEUR:
        return SignallerKind.SECRETAIRE_MAIRIE
    if role in CASE_ROLES:
        return SignallerKind.AGENT
    raise ValueError(f"the role {role.value!r} does not signal")


def signaller_view(status: str, contact_attempts: int) -> SignallerView:
    """All a signaller reads: received until the CIAS acts on it; taken in charge once an
    agent tried to call or reached the person (a dossier was opened: nothing of it is
    said); closed when the signal ended without a dossier (unreachable, declined, not
    relevant — the signaller is not told which)."""
    state = SignalStatus(status)
    if state is SignalStatus.CONTACTED:
        return SignallerView.TAKEN_IN_CHARGE
    if state in QUALIFIED:
        return SignallerView.CLOSED
    return SignallerView.TAKEN_IN_CHARGE if contact_attempts > 0 else SignallerView.RECEIVED


def arrival_channel(kind: str) -> str:
    """The élus' and town halls' signals arrive as « signalement d'un élu référent /
    secrétaire de mairie »; an agent's own as « aller vers »."""
    return AGENT_ARRIVAL_CHANNEL if kind == SignallerKind.AGENT else ARRIVAL_CHANNEL


def may_be_unreachable(contact_attempts: int, required: int) -> bool:
    return contact_attempts >= required
