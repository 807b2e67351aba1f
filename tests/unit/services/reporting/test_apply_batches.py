"""The projection's batch plumbing (services.reporting.projection.apply), without any
server: the set-based upserts' parameters carry every delta exactly (a dossier's motifs
as a slice of one flat array), the batch statement numbers them as they are passed, and
a batch folded ahead applies the fold of the events the inbox found new."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Sequence
from dataclasses import replace

import pytest

from devstack.synthetic.generator import generate_year
from domain.events import EventType
from kernel.db import Connection
from kernel.events import Event
from services.reporting.projection import apply as apply_module
from services.reporting.projection.apply import (
    _DOSSIER_INPUT,
    _REFERRAL_INPUT,
    BatchParams,
    _batch_sql,
    _columns,
    _dossier_params,
    _referral_row,
    prepare_batch,
)
from services.reporting.projection.fold import Fold, fold
from services.reporting.projection.tables import LIVE, Tables


def year() -> list[Event]:
    return generate_year(5, year=2026, dossiers=60, people=50)


def test_dossier_params_carry_every_delta_and_its_motifs() -> None:
    folded = fold(year())
    deltas = [folded.dossiers[k] for k in sorted(folded.dossiers)]
    keys = {d.person_id: f"key-of-{d.person_id}" for d in deltas if d.person_id}
    params = BatchParams(True, False, False, _dossier_params(deltas)).with_keys(keys)
    assert len(params) == len(_DOSSIER_INPUT) + 1  # the columns, then the flat motifs
    columns = {name: params[i] for i, (name, _) in enumerate(_DOSSIER_INPUT)}
    flat = params[-1]
    assert all(len(column) == len(deltas) for column in columns.values())
    assert any(d.motifs and len(d.motifs[1]) > 1 for d in deltas) or flat  # motifs exercised
    for i, d in enumerate(deltas):
        assert columns["dossier_id"][i] == d.dossier_id
        offset, count = columns["motif_o"][i], columns["motif_n"][i]
        if d.motifs is None:
            assert offset is None and count is None and columns["motifs_at"][i] is None
        else:
            assert isinstance(offset, int) and isinstance(count, int)
            assert flat[offset : offset + count] == d.motifs[1]  # SQL: $n[o + 1 : o + n]
            assert columns["motifs_at"][i] == d.motifs[0]
        assert columns["person_key"][i] == (keys[d.person_id] if d.person_id else None)
        assert columns["last_activity_at"][i] == d.last_activity_at


def test_referral_columns_are_the_rows_transposed() -> None:
    folded = fold(year())
    rows = [_referral_row(folded.referrals[k]) for k in sorted(folded.referrals)]
    assert rows
    columns = _columns(rows, len(_REFERRAL_INPUT))
    assert len(columns) == len(_REFERRAL_INPUT)
    assert [tuple(c[i] for c in columns) for i in range(len(rows))] == rows
    assert _columns([], 3) == [[], [], []]  # an empty batch still has its arrays


@pytest.mark.parametrize("parts", list(itertools.product([False, True], repeat=3))[1:])
def test_the_batch_statement_numbers_its_parameters_as_they_are_passed(
    parts: tuple[bool, bool, bool],
) -> None:
    folded = fold(year())
    dossiers, referrals, names = parts
    if not dossiers:
        folded.dossiers.clear()
    if not referrals:
        folded.referrals.clear()
    if not names:
        folded.partner_names.clear()
    batch = BatchParams.of(folded)
    assert (batch.dossiers, batch.referrals, batch.names) == parts
    sql = _batch_sql(LIVE, *parts)
    numbers = {int(n) for n in re.findall(r"\$(\d+)", sql)}
    assert numbers == set(range(1, len(batch.params) + 1))  # each passed array is read
    expected = (len(_DOSSIER_INPUT) + 1) * dossiers + len(_REFERRAL_INPUT) * referrals + 4 * names
    assert len(batch.params) == expected
    assert ("INSERT INTO reporting.dossier_facts" in sql) == dossiers
    assert ("INSERT INTO reporting.referral_facts" in sql) == referrals
    assert ("INSERT INTO reporting.partner_names" in sql) == names


def test_a_batch_prepared_ahead_folds_as_fold_does() -> None:
    events = year()[:700]
    prepared = asyncio.run(prepare_batch(events))
    assert prepared.folded == fold(events)
    assert prepared.tables == LIVE


@pytest.mark.parametrize("duplicates", [0, 5])
def test_a_prepared_batch_applies_the_fold_of_the_new_events(
    monkeypatch: pytest.MonkeyPatch, duplicates: int
) -> None:
    events = year()[:300]
    shadow = Tables("reporting_rebuild")
    applied: list[tuple[Fold, Tables, BatchParams | None]] = []

    async def capture(
        conn: Connection, folded: Fold, tables: Tables = LIVE, ahead: BatchParams | None = None
    ) -> None:
        applied.append((folded, tables, ahead))

    monkeypatch.setattr(apply_module, "apply_fold", capture)
    prepared = asyncio.run(prepare_batch(events, shadow))
    # The inbox found all new, or all but a few already applied (a redelivery).
    fresh: Sequence[Event] = events if not duplicates else events[duplicates:]
    asyncio.run(prepared.apply(None, fresh))  # type: ignore[arg-type]  # apply_fold is captured
    [(folded, tables, ahead)] = applied
    assert tables == shadow
    assert folded == fold(fresh)
    if not duplicates:
        assert folded is prepared.folded  # not folded twice
        assert ahead is prepared.params and ahead == BatchParams.of(folded)  # parameters built ahead
    else:
        assert ahead is None  # built again from the new fold


def test_a_malformed_event_fails_the_preparation_as_the_fold() -> None:
    good = year()[:50]
    opened = next(e for e in good if e.type == EventType.DOSSIER_OPENED)
    bad = replace(opened, data_schema="entraide.v1.NotTheRightMessage")
    with pytest.raises(ValueError):
        fold([*good, bad])
    with pytest.raises(ValueError):
        asyncio.run(prepare_batch([*good, bad]))
