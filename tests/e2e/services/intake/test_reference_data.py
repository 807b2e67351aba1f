"""ListReferenceData serves every enumeration an integrator needs, each with its French
label, and each code it serves is one the services accept."""

from __future__ import annotations

import uuid

from entraide.v1 import intake_pb2, intake_pb2_grpc

from domain import vocabulary as v
from tests.conftest import AppStack


async def test_every_enumeration_is_served_with_french_labels_and_accepted(app_stack: AppStack) -> None:
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        data = await intake.ListReferenceData(intake_pb2.ListReferenceDataRequest(), timeout=10)
        served = {
            "stages": set(v.Stage),
            "step_kinds": set(v.StepKind),
            "task_kinds": set(v.TaskKind),
            "consent_kinds": set(v.ConsentKind),
            "consent_channels": set(v.ConsentChannel),
            "note_visibilities": set(v.Visibility),
            "referral_statuses": set(v.ReferralStatus),
            "referral_outcomes": set(v.REFERRAL_OUTCOMES),
            "referral_reasons": set(v.REFERRAL_REASONS),
        }
        for name, expected in served.items():
            items = list(getattr(data, name))
            assert {i.code for i in items} == expected, name
            assert all(i.label and i.label[0].isupper() for i in items), name
        assert [i.code for i in data.stages] == list(v.STAGES)  # in lifecycle order
        for name in ("motifs", "arrival_channels", "territories", "closure_outcomes", "data_scopes"):
            assert getattr(data, name), name

        # Each data scope and each channel served is accepted by RecordConsent.
        person = await intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=uuid.uuid4().hex, territory="55029", first_name="Inès", last_name="Référentiel"
            ),
            timeout=10,
        )
        for scope in data.data_scopes:
            for channel_item in data.consent_channels:
                consent = await intake.RecordConsent(
                    intake_pb2.RecordConsentRequest(
                        person_id=person.person.person_id,
                        partner_id="caf-meuse",
                        data_scope=[scope.code],
                        kind="consent",
                        channel=channel_item.code,
                    ),
                    timeout=10,
                )
                assert consent.consent_id
