"""The interview form sent twice at the same instant (a double click the script did not
stop, two tabs), then once more as a browser replays a post on reload: one interview,
and every answer the same redirect."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
from entraide.v1 import intake_pb2_grpc

from tests.e2e.services.console.conftest import AGENTS, Console
from tests.e2e.services.console.test_dossier_page import (
    assert_done,
    encoded,
    entry_kinds,
    guards,
    open_dossier,
)
from tests.e2e.services.console.test_dossier_page import intake as intake  # the fixture


async def test_the_same_interview_form_posted_at_once_and_replayed_is_one_interview(
    console: Console, intake: intake_pb2_grpc.IntakeServiceAsyncStub
) -> None:
    dossier_id = await open_dossier(intake)
    action = f"/dossiers/{dossier_id}/entretien"
    http = console.sign_in(AGENTS["ts"])
    page = http.get(f"/dossiers/{dossier_id}")
    data = encoded(
        [*guards(page.text, action).items(), ("notes", "Premier entretien."), ("visibility", "team")]
    )

    def post() -> httpx.Response:
        with httpx.Client(base_url=console.url, cookies=http.cookies, timeout=30) as tab:
            return tab.post(action, data=data)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(), range(4)))
    replay = http.post(action, data=data)  # "Confirm form resubmission" after a reload
    for answer in [*answers, replay]:
        assert_done(answer, dossier_id, "entretien", "entretien")
    assert (await entry_kinds(intake, dossier_id)).count("interview") == 1
