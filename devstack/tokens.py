"""`entraide-token`: mints development and demo bearer tokens (HS256, signed with the
stack's ENTRAIDE_JWT_SECRET). Production tokens come from the identity provider.

    entraide-token --sub a.martin --role travailleur_social --territories 55029,55291
    export ENTRAIDE_TOKEN=$(entraide-token --sub elu.bar --role elu --territories 55029)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack import secrets
from kernel import reference
from kernel.auth import Role, mint

DEMO_SUBJECT = "demo.agent"
DEMO_TTL_S = 30 * 86400


def state_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("ENTRAIDE_STATE_DIR") or Path(__file__).resolve().parent.parent / ".state")


def signing_secret(env: Mapping[str, str]) -> str:
    """ENTRAIDE_JWT_SECRET, or the local stack's (generated once per state folder)."""
    return (
        env.get("ENTRAIDE_JWT_SECRET") or secrets.ensure_secrets(state_dir(env), env)["ENTRAIDE_JWT_SECRET"]
    )


def demo_token(env: Mapping[str, str]) -> str:
    """A social worker of every commune of the deployment, for the demo and the CLI."""
    secret = (
        env.get("ENTRAIDE_JWT_SECRET") or secrets.ensure_secrets(state_dir(env), env)["ENTRAIDE_JWT_SECRET"]
    )
    territories = reference.load(env).territories
    return mint(
        secret,
        DEMO_SUBJECT,
        Role.TRAVAILLEUR_SOCIAL,
        territories,
        name="Agent de démonstration",
        ttl_s=DEMO_TTL_S,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="entraide-token", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sub", required=True, help="the person's id (token subject)")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role if r is not Role.SERVICE])
    parser.add_argument("--territories", default="", help="commune codes, comma-separated (default: all)")
    parser.add_argument("--partner", default="", help="partner id, for the partenaire role")
    parser.add_argument("--name", default="", help="display name")
    parser.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    secret = (
        env.get("ENTRAIDE_JWT_SECRET") or secrets.ensure_secrets(state_dir(env), env)["ENTRAIDE_JWT_SECRET"]
    )
    territories = [t for t in args.territories.split(",") if t] or list(reference.load(env).territories)
    if args.role == Role.PARTENAIRE.value and not args.partner:
        parser.error("a partenaire token needs --partner")
    print(
        mint(
            secret,
            args.sub,
            Role(args.role),
            territories,
            partner_id=args.partner,
            name=args.name,
            ttl_s=args.ttl,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
