"""The aid events' projection (migration 009): a batch's rows (aides_fold.py) written
by one upsert per table, in key order. A row is one event's: a duplicate changes
nothing, and of two differing versions of a key the least is kept, compared as the
fold compares them (texts in the "C" collation), so the rows are order-free. No
pre-aggregate and no lock: rows are few and the bilan reads them.
"""

from __future__ import annotations

from collections.abc import Sequence

from kernel.db import Connection
from services.reporting.projection.aides_fold import AidFold
from services.reporting.projection.tables import LIVE, Tables

Columns = Sequence[tuple[str, str]]  # (name, SQL type)


def _upsert(table: str, key: Columns, columns: Columns) -> str:
    """INSERT of key + columns; on conflict the incoming row replaces the known one only
    when its columns, as a tuple, are less (texts in the "C" collation, no person as '')."""
    every = [*key, *columns]
    params = ", ".join(
        f"NULLIF(${i}::text, '')::uuid" if kind == "uuid" else f"${i}::{kind}"
        for i, (_, kind) in enumerate(every, start=1)
    )

    def tuple_of(alias: str) -> str:
        def one(name: str, kind: str) -> str:
            if kind in ("text", "text[]"):
                return f'{alias}.{name} COLLATE "C"'
            if kind == "uuid":
                return f"COALESCE({alias}.{name}::text, '') COLLATE \"C\""
            return f"{alias}.{name}"

        return "(" + ", ".join(one(n, k) for n, k in columns) + ")"

    return (
        f"INSERT INTO {table} AS f ({', '.join(n for n, _ in every)}) VALUES ({params})\n"
        f"ON CONFLICT ({', '.join(n for n, _ in key)}) DO UPDATE SET "
        + ", ".join(f"{n} = EXCLUDED.{n}" for n, _ in columns)
        + f"\n WHERE {tuple_of('EXCLUDED')} < {tuple_of('f')}"
    )


_REQUEST_COLUMNS = (
    ("dossier_id", "text"),
    ("person_id", "uuid"),
    ("territory", "text"),
    ("aid_type", "text"),
    ("amount_asked_cents", "bigint"),
    ("requested_at", "timestamptz"),
)
_DECISION_COLUMNS = (
    ("territory", "text"),
    ("aid_type", "text"),
    ("decision", "text"),
    ("channel", "text"),
    ("amount_granted_cents", "bigint"),
    ("refusal_reason", "text"),
    ("budget_line_id", "text"),
    ("overridden", "bool"),
    ("commission_id", "text"),
    ("decided_at", "timestamptz"),
)
_WITHDRAWAL_COLUMNS = (("withdrawn_at", "timestamptz"), ("territory", "text"))
_PAYMENT_COLUMNS = (
    ("aid_request_id", "text"),
    ("territory", "text"),
    ("aid_type", "text"),
    ("budget_line_id", "text"),
    ("amount_cents", "bigint"),
    ("mode", "text"),
    ("status", "text"),
    ("changed_at", "timestamptz"),
)
_LOAN_COLUMNS = (
    ("aid_request_id", "text"),
    ("territory", "text"),
    ("bank", "text"),
    ("amount_cents", "bigint"),
    ("months", "int"),
    ("annual_rate_bp", "int"),
    ("set_up_at", "timestamptz"),
)
_INCIDENT_COLUMNS = (
    ("aid_request_id", "text"),
    ("territory", "text"),
    ("kind", "text"),
    ("amount_cents", "bigint"),
    ("at", "timestamptz"),
)
_LINE_COLUMNS = (
    ("territory", "text"),
    ("year", "int"),
    ("label", "text"),
    ("aid_types", "text[]"),
    ("envelope_cents", "bigint"),
    ("created_at", "timestamptz"),
)


def _keyed(*names: str) -> Columns:
    return tuple((n, "int" if n == "sequence" else "text") for n in names)


async def apply_aides(conn: Connection, folded: AidFold, tables: Tables = LIVE) -> None:
    """Upserts the batch's rows in key order (concurrent batches lock rows alike)."""
    if folded.requests:
        await conn.executemany(
            _upsert(tables.aid_requests, _keyed("aid_request_id"), _REQUEST_COLUMNS),
            [(k, *folded.requests[k]) for k in sorted(folded.requests)],
        )
    if folded.decisions:
        await conn.executemany(
            _upsert(tables.aid_decisions, _keyed("aid_request_id", "sequence"), _DECISION_COLUMNS),
            [(*k, *folded.decisions[k]) for k in sorted(folded.decisions)],
        )
    if folded.withdrawals:
        await conn.executemany(
            _upsert(tables.aid_withdrawals, _keyed("aid_request_id"), _WITHDRAWAL_COLUMNS),
            [(k, *folded.withdrawals[k]) for k in sorted(folded.withdrawals)],
        )
    if folded.payments:
        await conn.executemany(
            _upsert(tables.aid_payments, _keyed("payment_id", "sequence"), _PAYMENT_COLUMNS),
            [(*k, *folded.payments[k]) for k in sorted(folded.payments)],
        )
    if folded.loans:
        await conn.executemany(
            _upsert(tables.loans, _keyed("loan_id"), _LOAN_COLUMNS),
            [(k, *folded.loans[k]) for k in sorted(folded.loans)],
        )
    if folded.incidents:
        await conn.executemany(
            _upsert(tables.loan_incidents, _keyed("loan_id", "sequence"), _INCIDENT_COLUMNS),
            [(*k, *folded.incidents[k]) for k in sorted(folded.incidents)],
        )
    if folded.budget_lines:
        rows = []
        for k in sorted(folded.budget_lines):
            territory, year, label, aid_types, envelope, at = folded.budget_lines[k]
            rows.append((k, territory, year, label, list(aid_types), envelope, at))
        await conn.executemany(_upsert(tables.budget_lines, _keyed("budget_line_id"), _LINE_COLUMNS), rows)
