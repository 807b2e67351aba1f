"""`python -m devstack.synthetic`: a synthetic year's expected figures as JSON, and
optionally the year published to the stack's NATS.

    python -m devstack.synthetic --year 2026 --dossiers 750 --seed 1            # figures, JSON
    python -m devstack.synthetic --year 2026 --dossiers 750 --seed 1 --publish  # to the stack's NATS
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from devstack.synthetic.generator import generate_year
from devstack.synthetic.oracle import figures


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
    args = parser.parse_args(argv)
    events = generate_year(
        args.seed,
        year=args.year,
        dossiers=args.dossiers,
        people=args.people,
        referral_rate=args.referral_rate,
        open_share=args.open_share,
    )
    summary = figures(events).as_json()
    if args.publish:
        from devstack.synthetic.publish import publish_to_stack  # NATS only when publishing

        stored = asyncio.run(publish_to_stack(events, os.environ))
        summary["published"] = {"events": len(events), "stored": stored, "duplicates": len(events) - stored}
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0
