"""`python -m devstack.synthetic`: a synthetic year's expected figures as JSON, and
optionally the year published to the stack's NATS.

    python -m devstack.synthetic --year 2026 --dossiers 750 --seed 1            # figures, JSON
    python -m devstack.synthetic --year 2026 --dossiers 750 --seed 1 --publish  # to the stack's NATS
    python -m devstack.synthetic --dijon --year 2026 --visits 6000 --publish  # a Dijon-like activity
    python -m devstack.synthetic --bar-le-duc --year 2014 --publish  # group sessions and signals
    python -m devstack.synthetic --aides --year 2030 --publish  # aid requests, decisions, budget lines

`--dijon` generates the Maison de la solidarité de Dijon's permanences and appointments
of `--year` and of the year before (visits +4.5 %) instead of dossiers, and prints the
activity figures the bilan of `--year` must report. `--bar-le-duc` generates a
Bar-le-Duc-like CIAS's year of collective actions ("RV du CIAS" weekly sessions) and
signals from its 15 communes' élus and secrétaires de mairie, and prints the collective
and signals figures the bilan of `--year` must report. `--aides` generates a year of a
CIAS's own aid in six communes (requests, commission and urgent decisions, payments,
micro-credits, budget lines: devstack/synthetic/aides.py) and prints the aid figures
(Bilan.aides, cents) the bilan of `--year` must report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from devstack.synthetic import aides, aides_oracle, bar_le_duc, dijon, outreach_oracle
from devstack.synthetic.activity import events_of, generate_dijon_years
from devstack.synthetic.activity_oracle import expected
from devstack.synthetic.generator import generate_year
from devstack.synthetic.oracle import figures
from devstack.synthetic.outreach import generate_outreach_year
from domain.planning import PARIS
from kernel import reference
from kernel.events import Event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.synthetic", description="Generate a synthetic year of CIAS activity."
    )
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--dossiers", type=int, default=750)
    parser.add_argument("--people", type=int, help="distinct persons (default: one per dossier)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--referral-rate", type=float, default=0.4)
    parser.add_argument("--open-share", type=float, default=0.0, help="share left open at year end")
    parser.add_argument("--publish", action="store_true", help="publish to the stack's NATS (NATS_URL...)")
    parser.add_argument("--dijon", action="store_true", help="a Dijon-like year of appointments instead")
    parser.add_argument("--visits", type=int, default=6000, help="visits of the Dijon-like year")
    parser.add_argument(
        "--bar-le-duc",
        action="store_true",
        help="a Bar-le-Duc-like year of group sessions and signals instead",
    )
    parser.add_argument(
        "--signals", type=int, default=bar_le_duc.SIGNALS, help="signals of the Bar-le-Duc-like year"
    )
    parser.add_argument(
        "--aides", action="store_true", help="a year of aid requests and budget lines instead"
    )
    parser.add_argument(
        "--requests", type=int, default=aides.REQUESTS, help="aid requests of the --aides year"
    )
    args = parser.parse_args(argv)
    if args.aides:
        events, summary = _aides(args.seed, args.year, args.requests)
    elif args.dijon:
        events, summary = _dijon(args.seed, args.year, args.visits)
    elif args.bar_le_duc:
        events, summary = _bar_le_duc(args.seed, args.year, args.signals)
    else:
        events, summary = _dossiers(args)
    if args.publish:
        from devstack.synthetic.publish import publish_to_stack  # NATS only when publishing

        stored = asyncio.run(publish_to_stack(events, os.environ))
        summary["published"] = {"events": len(events), "stored": stored, "duplicates": len(events) - stored}
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def _dossiers(args: argparse.Namespace) -> tuple[list[Event], dict[str, Any]]:
    events = generate_year(
        args.seed,
        year=args.year,
        dossiers=args.dossiers,
        people=args.people,
        referral_rate=args.referral_rate,
        open_share=args.open_share,
    )
    return events, figures(events).as_json()


def _dijon(seed: int, year: int, visits: int) -> tuple[list[Event], dict[str, Any]]:
    years = generate_dijon_years(seed, year=year, visits=visits)
    start, end = (datetime(y, 1, 1, tzinfo=PARIS).astimezone(UTC) for y in (year, year + 1))
    appointments = [a for y in years for a in y.appointments]
    activity = expected(appointments, [dijon.TERRITORY], start, end, reference.load({}))
    return events_of(years), MessageToDict(activity, preserving_proto_field_name=True)


def _bar_le_duc(seed: int, year: int, signals: int) -> tuple[list[Event], dict[str, Any]]:
    generated = generate_outreach_year(seed, year=year, signals=signals)
    start, end = (datetime(y, 1, 1, tzinfo=PARIS).astimezone(UTC) for y in (year, year + 1))
    communes = list(bar_le_duc.COMMUNES)
    collective = outreach_oracle.collective([generated], communes, start, end)
    signal_figures = outreach_oracle.signals([generated], communes, start, end, reference.load({}))
    return list(generated.events), {
        "collective": MessageToDict(collective, preserving_proto_field_name=True),
        "signals": MessageToDict(signal_figures, preserving_proto_field_name=True),
    }


def _aides(seed: int, year: int, requests: int) -> tuple[list[Event], dict[str, Any]]:
    reference_data = reference.load({})
    generated = aides.generate_aid_year(seed, year=year, requests=requests, reference=reference_data)
    start, end = (datetime(y, 1, 1, tzinfo=PARIS).astimezone(UTC) for y in (year, year + 1))
    figures_ = aides_oracle.figures([generated], list(aides.COMMUNES), start, end, reference_data)
    return list(generated.events), {"aides": MessageToDict(figures_, preserving_proto_field_name=True)}
