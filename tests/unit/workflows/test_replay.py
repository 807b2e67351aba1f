"""Replays recorded DossierWorkflow and ReferralWorkflow histories against today's
workflow code (the replayer knows every workflow the worker runs).

Every history under tests/histories/ was recorded from a real run of an earlier
version; a code change that is not guarded by workflow.patched() makes replay fail
with a non-determinism error here, before it can break running dossiers.
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from kernel.codec import data_converter
from tests.paths import HISTORIES
from tests.record_histories import HISTORY_PAYLOAD_KEYS
from workflows.worker import WORKFLOWS

HISTORIES = {path.stem: path.read_text() for path in sorted(HISTORIES.glob("*.json"))}
# The workers' converter (payload encryption), with the recorder's test-only key. The
# first histories were recorded before encryption: their clear payloads pass through.
CONVERTER = data_converter({"ENTRAIDE_PAYLOAD_KEYS": HISTORY_PAYLOAD_KEYS})


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(f"dossier-{name}", HISTORIES[name])
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_histories_are_recorded() -> None:
    assert {
        "dossier_v1_opened",
        "v2_full_lifecycle",
        "v2_escalated_reminded_closed",
        "v2_continued_as_new",
        "v3_referral_closed_loop",  # orient → child referral → partner closes the loop → closed
        "v3_referral_workflow_completed",  # that child ReferralWorkflow's own history
    } <= set(HISTORIES)


async def test_an_unguarded_change_fails_replay() -> None:
    """The replay test can fail: a change without workflow.patched() is caught."""
    from tests.unpatched_workflow import UnpatchedDossierWorkflow

    history = WorkflowHistory.from_json("dossier-v2", HISTORIES["v2_full_lifecycle"])
    result = await Replayer(workflows=[UnpatchedDossierWorkflow], data_converter=CONVERTER).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()
