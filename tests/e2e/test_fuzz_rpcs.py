"""Every RPC of every service fed generated messages (hypothesis), with and without
valid tokens: never INTERNAL or UNKNOWN, never OK for an unauthorised caller, and every
refusal in the rich error model (an ErrorInfo reason, a fr-FR LocalizedMessage)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from entraide.v1 import (
    aides_pb2,
    collective_pb2,
    documents_pb2,
    intake_pb2,
    planning_pb2,
    referral_pb2,
    reporting_pb2,
    signals_pb2,
)
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message_factory
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from kernel import client
from kernel.access import Rule
from kernel.auth import Role, mint
from kernel.rich_status import describe
from services.intake.access import RULES as INTAKE_RULES
from services.intake.aides.access import RULES as AID_RULES
from services.intake.collective.access import RULES as COLLECTIVE_RULES
from services.intake.documents.access import RULES as DOCUMENT_RULES
from services.intake.planning.access import RULES as PLANNING_RULES
from services.intake.signals.access import RULES as SIGNAL_RULES
from services.referral.access import RULES as REFERRAL_RULES
from services.reporting.access import RULES as REPORTING_RULES
from tests.conftest import TERRITORIES, AppStack
from tests.helpers import FORBIDDEN, rich_details

SERVICES: dict[str, tuple[pb_descriptor.ServiceDescriptor, dict[str, Rule]]] = {
    "intake": (intake_pb2.DESCRIPTOR.services_by_name["IntakeService"], INTAKE_RULES),
    "referral": (referral_pb2.DESCRIPTOR.services_by_name["ReferralService"], REFERRAL_RULES),
    "reporting": (reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"], REPORTING_RULES),
    "planning": (planning_pb2.DESCRIPTOR.services_by_name["PlanningService"], PLANNING_RULES),
    "signals": (signals_pb2.DESCRIPTOR.services_by_name["SignalService"], SIGNAL_RULES),
    "collective": (collective_pb2.DESCRIPTOR.services_by_name["CollectiveService"], COLLECTIVE_RULES),
    "aides": (aides_pb2.DESCRIPTOR.services_by_name["AidService"], AID_RULES),
    "documents": (documents_pb2.DESCRIPTOR.services_by_name["DocumentService"], DOCUMENT_RULES),
}
# The process serving each service, when it is not its own (PlanningService: intake's).
PROCESS = {
    "signals": "intake",
    "planning": "intake",
    "collective": "intake",
    "aides": "intake",
    "documents": "intake",
}
METHODS = [(service, method.name) for service, (desc, _) in SERVICES.items() for method in desc.methods]

# Values that reach deep into handlers: real codes and ids next to random text.
INTERESTING_STRINGS = st.sampled_from(
    [
        "",
        "55029",
        "55291",
        "99999",
        "logement",
        "violences_conjugales",
        "visite_spontanee",
        "regle",
        "orientation",
        "suivi",
        "team",
        "author",
        "consent",
        "legal_basis",
        "oral",
        "identite",
        "caf-meuse",
        "ccas-bar-le-duc",
        str(uuid.uuid4()),
        "00000000-0000-0000-0000-000000000000",
        "1984-03-07",
        "2999-01-01",
        "06 12 34 56 78",
        "durand cla",
        "x" * 20_001,
        "é" * 300,
        "\x00",
        "a\x00b",
        "\U0001f600",  # outside the BMP; lone surrogates cannot even be encoded (raw bytes below)
        "\u202e\u200b",
        "'; DROP TABLE intake.dossiers; --",
        "csv",
        "html",
        # Referral links: actions, and a well-formed token no deployment signed.
        "acknowledge",
        "complete",
        f"{uuid.uuid4().hex}.{uuid.uuid4().hex}.4102444800.{'A' * 43}",
        # Planning: a room, hours, days, kinds and statuses.
        "bureau-1",
        "09:00",
        "23:59",
        "2027-01-05",
        "weekly",
        "fortnightly",
        "partenaire",
        "extra",
        "holiday",
        "arrived",
        "no_show",
        "sms",
        # Signals: a small commune, the qualifications.
        "55041",
        "contacted",
        "unreachable",
        "declined",
        "not_relevant",
        # Collective actions: presences, goal statuses, outcomes.
        "present",
        "absent_excused",
        "under_way",
        "reached",
        "given_up",
        "parcours_insertion",
        "2015-03-12",
    ]
)
TEXT = st.one_of(INTERESTING_STRINGS, st.text(max_size=40))
SCALARS: dict[int, st.SearchStrategy[Any]] = {
    pb_descriptor.FieldDescriptor.TYPE_STRING: TEXT,
    pb_descriptor.FieldDescriptor.TYPE_BYTES: st.binary(max_size=40),
    pb_descriptor.FieldDescriptor.TYPE_BOOL: st.booleans(),
    # The extremes first (hypothesis favours small values otherwise), then anything.
    pb_descriptor.FieldDescriptor.TYPE_INT32: st.one_of(
        st.sampled_from([0, -1, 1, 2**31 - 1, -(2**31), 3650, 3651]), st.integers(-(2**31), 2**31 - 1)
    ),
    pb_descriptor.FieldDescriptor.TYPE_INT64: st.one_of(
        st.sampled_from([0, -1, 2**63 - 1, -(2**63)]), st.integers(-(2**63), 2**63 - 1)
    ),
    pb_descriptor.FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True),
}


def message_strategy(descriptor: pb_descriptor.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    cls = message_factory.GetMessageClass(descriptor)
    if descriptor.full_name == "google.protobuf.Timestamp":
        # Protobuf's valid range is [-62135596800, 253402300799]: the edges and beyond.
        seconds = st.sampled_from(
            [0, -1, 1767225600, 1798761600, 253402300799, 253402300800, -62135596800, -62135596801, 2**40]
        )
        nanos = st.one_of(st.sampled_from([0, 999_999_999, -1, 1_000_000_000]), st.integers(0, 999_999_999))
        return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.type == pb_descriptor.FieldDescriptor.TYPE_MESSAGE:
            if depth >= 2 or field.message_type.GetOptions().map_entry:
                continue
            value = message_strategy(field.message_type, depth + 1)
        elif field.type in SCALARS:
            value = SCALARS[field.type]
        else:
            continue
        fields[field.name] = (
            st.one_of(st.lists(value, max_size=3), st.lists(value, min_size=1_001, max_size=1_001))
            if field.is_repeated and field.type != pb_descriptor.FieldDescriptor.TYPE_MESSAGE
            else st.lists(value, max_size=3)
            if field.is_repeated
            else value
        )

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            target = getattr(message, name)
            if isinstance(value, list):
                for item in value:
                    target.append(item) if not isinstance(item, Message) else target.add().CopyFrom(item)
            elif isinstance(value, Message):
                target.CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return st.fixed_dictionaries({}, optional=fields).map(build)


VALID_TOKENS = st.tuples(
    st.sampled_from([r for r in Role if r is not Role.SERVICE]),
    st.one_of(st.just(list(TERRITORIES)), st.lists(st.sampled_from(TERRITORIES), max_size=3, unique=True)),
).map(lambda rt: ("valid", rt))
# Mostly valid callers: that is where the handlers are reached.
TOKENS = st.sampled_from(["none", "garbage", "valid", "valid", "valid"]).flatmap(
    lambda kind: VALID_TOKENS if kind == "valid" else st.just((kind, "eyJhbGciOiJub25lIn0.e30."))
)


@pytest.fixture(scope="module")
def channels(app_stack: AppStack) -> Iterator[dict[str, grpc.Channel]]:
    opened = {
        name: client.sync_channel(app_stack.address(PROCESS.get(name, name)), app_stack.env, token="")
        for name in SERVICES
    }
    yield opened
    for channel in opened.values():
        channel.close()


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[f"{s}.{m}" for s, m in METHODS])
def test_generated_messages_never_break_a_method(
    app_stack: AppStack, channels: dict[str, grpc.Channel], service: str, method: str
) -> None:
    descriptor, rules = SERVICES[service]
    method_desc = descriptor.methods_by_name[method]
    request_cls = message_factory.GetMessageClass(method_desc.input_type)
    response_cls = message_factory.GetMessageClass(method_desc.output_type)
    call = channels[service].unary_unary(
        f"/{descriptor.full_name}/{method}",
        request_serializer=request_cls.SerializeToString,
        response_deserializer=response_cls.FromString,
    )
    secret = app_stack.env["ENTRAIDE_JWT_SECRET"]
    rule = rules.get(method)

    @seed(20261121)
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(request=message_strategy(method_desc.input_type), token=TOKENS)
    def check(request: Message, token: tuple[str, Any]) -> None:
        kind, value = token
        metadata: list[tuple[str, str]] = []
        allowed = False
        if kind == "garbage":
            metadata = [("authorization", f"Bearer {value}")]
        elif kind == "valid":
            role, territories = value
            partner = "caf-meuse" if role is Role.PARTENAIRE else ""
            metadata = [
                ("authorization", f"Bearer {mint(secret, 'fuzzer', role, territories, partner_id=partner)}")
            ]
            allowed = rule is not None and role in rule.roles
        refused: grpc.RpcError | None = None
        try:
            call(request, metadata=metadata, timeout=20)
            code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            refused = error
            code = error.code()  # type: ignore[attr-defined]
        assert code not in FORBIDDEN, (method, kind, request)
        if refused is not None:
            reason, fr = rich_details(refused)
            assert reason and fr, (method, kind, code, refused.details())  # type: ignore[attr-defined]
        if kind != "valid":
            assert code == grpc.StatusCode.UNAUTHENTICATED, (method, kind, code)
        elif not allowed:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (method, value, code)

    check()


# The link RPCs admit only the platform (role service: the console presenting a
# partner's link): fuzzed as that caller too, so their handlers are reached.
LINK_METHODS = ["CreateReferralLink", "RevokeReferralLink", "ReadReferralByLink", "AnswerReferralByLink"]


@pytest.mark.parametrize("method", LINK_METHODS)
def test_generated_messages_never_break_a_link_method_as_the_console(
    app_stack: AppStack, channels: dict[str, grpc.Channel], method: str
) -> None:
    descriptor, rules = SERVICES["referral"]
    method_desc = descriptor.methods_by_name[method]
    request_cls = message_factory.GetMessageClass(method_desc.input_type)
    response_cls = message_factory.GetMessageClass(method_desc.output_type)
    call = channels["referral"].unary_unary(
        f"/{descriptor.full_name}/{method}",
        request_serializer=request_cls.SerializeToString,
        response_deserializer=response_cls.FromString,
    )
    token = mint(app_stack.env["ENTRAIDE_JWT_SECRET"], "console", Role.SERVICE)
    allowed = Role.SERVICE in rules[method].roles

    @seed(20261202)
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(request=message_strategy(method_desc.input_type))
    def check(request: Message) -> None:
        try:
            call(request, metadata=[("authorization", f"Bearer {token}")], timeout=20)
            return
        except grpc.RpcError as error:
            code = error.code()  # type: ignore[attr-defined]
            reason, fr = rich_details(error)
        assert code not in FORBIDDEN, (method, request)
        assert reason and fr, (method, code)
        assert (code != grpc.StatusCode.PERMISSION_DENIED or reason != "ROLE_NOT_ALLOWED") is allowed

    check()


def _first_text_field(descriptor: pb_descriptor.Descriptor) -> pb_descriptor.FieldDescriptor | None:
    return next((f for f in descriptor.fields if f.type == pb_descriptor.FieldDescriptor.TYPE_STRING), None)


TEXT_METHODS = [
    (service, method)
    for service, method in METHODS
    if _first_text_field(SERVICES[service][0].methods_by_name[method].input_type) is not None
]


@pytest.mark.parametrize(("service", "method"), TEXT_METHODS, ids=[f"{s}.{m}" for s, m in TEXT_METHODS])
def test_bytes_that_are_not_utf8_never_break_a_method(
    app_stack: AppStack, channels: dict[str, grpc.Channel], service: str, method: str
) -> None:
    """A text field holding bytes that are not UTF-8 (a lone surrogate's encoding, 0xff):
    what no client library builds, but a raw client can send."""
    descriptor, _ = SERVICES[service]
    method_desc = descriptor.methods_by_name[method]
    field = _first_text_field(method_desc.input_type)
    assert field is not None
    call = channels[service].unary_unary(
        f"/{descriptor.full_name}/{method}",
        request_serializer=lambda data: data,
        response_deserializer=lambda data: data,
    )
    token = mint(app_stack.env["ENTRAIDE_JWT_SECRET"], "fuzzer", Role.RESPONSABLE, list(TERRITORIES))
    for payload in (b"\xed\xa0\x80", b"\xff\xfe", b"ok\xc3"):
        key = bytes([(field.number << 3) | 2])  # field numbers below 16: one byte
        with pytest.raises(grpc.RpcError) as refused:
            call(
                key + bytes([len(payload)]) + payload,
                metadata=[("authorization", f"Bearer {token}")],
                timeout=20,
            )
        code = refused.value.code()  # type: ignore[attr-defined]
        assert code not in FORBIDDEN, (method, payload)
        if code != grpc.StatusCode.PERMISSION_DENIED:
            assert describe(refused.value).reason == "MALFORMED_REQUEST", (method, code)
