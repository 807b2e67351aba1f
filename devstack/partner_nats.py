"""Renders a nats-server configuration with one user per partner (deploy/nats/partners.conf.template).

    python -m devstack.partner_nats --partners deploy/local/demo_partners.json \\
        --out .state/partner-nats/nats.conf --credentials .state/partner-nats/credentials.json

A partner's user can create, fetch from and acknowledge only its own durable consumer on
the partner stream, filtered to `partners.<partner_id>.>`; the notifier's user publishes
to the partner stream and consumes domain events. Passwords are generated once and kept
in the credentials file (mode 0600), so re-rendering does not change them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "deploy" / "nats" / "partners.conf.template"
NOTIFIER_USER = "entraide-notifier"
# The local stack's one user for Entraide's own processes (every permission).
SERVICE_USER = "entraide"
_PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")


def inbox_prefix(partner_id: str) -> str:
    """The inbox prefix a partner's client must use (nats-py: connect(inbox_prefix=...))."""
    return f"_INBOX_{partner_id}"


def partner_permissions(
    partner_id: str, stream: str = "PARTNERS", subject_root: str = "partners"
) -> dict[str, Any]:
    if not _PARTNER_ID.match(partner_id):
        raise ValueError(f"not a partner id: {partner_id!r}")
    own = f"{subject_root}.{partner_id}"
    return {
        "publish": {
            "allow": [
                # Create or update its consumer, named after itself, filtered on its subjects only.
                f"$JS.API.CONSUMER.CREATE.{stream}.{partner_id}.{own}.>",
                f"$JS.API.CONSUMER.INFO.{stream}.{partner_id}",
                f"$JS.API.CONSUMER.DELETE.{stream}.{partner_id}",
                f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{partner_id}",
                f"$JS.ACK.{stream}.{partner_id}.>",
            ],
            "deny": [
                f"{subject_root}.>",
                "$JS.API.STREAM.>",
                "$JS.API.DIRECT.>",
                "$JS.API.CONSUMER.DURABLE.>",
                "$JS.API.CONSUMER.LIST.>",
                "$JS.API.CONSUMER.NAMES.>",
            ],
        },
        "subscribe": {
            "allow": [f"{inbox_prefix(partner_id)}.>"],
            "deny": [f"{subject_root}.>", "$JS.>", "_INBOX.>"],
        },
    }


def notifier_permissions(subject_root: str = "partners", events_root: str = "entraide") -> dict[str, Any]:
    return {
        "publish": {"allow": ["$JS.API.>", "$JS.ACK.>", f"{subject_root}.>", f"{events_root}.>"]},
        "subscribe": {"allow": ["_INBOX.>"]},
    }


def _user(name: str, password: str, permissions: Mapping[str, Any]) -> str:
    # JSON is valid NATS configuration syntax; no permissions block: every permission.
    entry: dict[str, Any] = {"user": name, "password": password}
    if permissions:
        entry["permissions"] = permissions
    return "    " + json.dumps(entry, ensure_ascii=True)


def render(
    partner_ids: Iterable[str],
    passwords: Mapping[str, str],
    *,
    listen: str = "127.0.0.1:4222",
    store_dir: str = "/var/lib/nats/jetstream",
    stream: str = "PARTNERS",
    subject_root: str = "partners",
    events_root: str = "entraide",
    server_name: str = "entraide_partners",
    template: Path = TEMPLATE,
) -> str:
    users = [_user(NOTIFIER_USER, passwords[NOTIFIER_USER], notifier_permissions(subject_root, events_root))]
    users += [
        _user(p, passwords[p], partner_permissions(p, stream, subject_root)) for p in sorted(partner_ids)
    ]
    return string.Template(template.read_text()).substitute(
        server_name=server_name,
        listen=listen,
        store_dir=store_dir,
        stream=stream,
        subject_root=subject_root,
        users=",\n".join(users),
    )


def ensure_passwords(
    partner_ids: Iterable[str], existing: Mapping[str, str], service_user: str = NOTIFIER_USER
) -> dict[str, str]:
    """Keeps known passwords, generates the missing ones."""
    passwords = dict(existing)
    for name in [service_user, *partner_ids]:
        passwords.setdefault(name, secrets.token_urlsafe(24))
    return passwords


def authorization(
    partner_ids: Iterable[str],
    passwords: Mapping[str, str],
    *,
    service_user: str = SERVICE_USER,
    stream: str = "PARTNERS",
    subject_root: str = "partners",
) -> str:
    """The `authorization` block of a single server shared by Entraide's processes (one
    user with every permission) and its partners (one user each, their own subjects only):
    what the local stack runs (devstack/servers.py)."""
    users = [_user(service_user, passwords[service_user], {})]
    users += [
        _user(p, passwords[p], partner_permissions(p, stream, subject_root)) for p in sorted(partner_ids)
    ]
    return "authorization {\n  users: [\n" + ",\n".join(users) + "\n  ]\n}\n"


def demo_partner_ids() -> list[str]:
    return _partner_ids(REPO_ROOT / "deploy" / "local" / "demo_partners.json")


def _partner_ids(path: Path) -> list[str]:
    """Partner ids of a directory file: HSDS-like `organizations[].id`, or `partners[].partner_id`."""
    document = json.loads(path.read_text())
    if isinstance(document, list):
        return [str(p.get("partner_id") or p["id"]) for p in document]
    if "organizations" in document:
        return [str(o["id"]) for o in document["organizations"]]
    return [str(p["partner_id"]) for p in document["partners"]]


def write_private(path: Path, text: str) -> None:
    """Written readable by its owner only (passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--partners", type=Path, default=REPO_ROOT / "deploy" / "local" / "demo_partners.json"
    )
    parser.add_argument("--partner", action="append", default=[], help="a partner id (repeatable)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--credentials", type=Path, required=True, help="JSON user → password (0600)")
    parser.add_argument("--listen", default="127.0.0.1:4222")
    parser.add_argument("--store-dir", default=None)
    parser.add_argument("--stream", default="PARTNERS")
    parser.add_argument("--subject-root", default="partners")
    parser.add_argument("--events-root", default="entraide")
    args = parser.parse_args(argv)
    ids = args.partner or _partner_ids(args.partners)
    existing = json.loads(args.credentials.read_text()) if args.credentials.exists() else {}
    passwords = ensure_passwords(ids, existing)
    store_dir = args.store_dir or str(args.out.parent / "jetstream")
    conf = render(
        ids,
        passwords,
        listen=args.listen,
        store_dir=store_dir,
        stream=args.stream,
        subject_root=args.subject_root,
        events_root=args.events_root,
    )
    write_private(args.out, conf)
    write_private(args.credentials, json.dumps(passwords, indent=2) + "\n")
    print(f"wrote {args.out} ({len(ids)} partners) and {args.credentials}")


if __name__ == "__main__":
    main()
