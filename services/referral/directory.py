"""The partner directory, after Open Referral HSDS: organisations, their services (motifs
and communes served, eligibility), locations, weekly schedules (permanences) and how each
partner is notified. Import validates a JSON document (errors name the JSON path), then
upserts it; export writes the same shape back."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from kernel.db import Connection
from kernel.errors import InvalidArgument
from kernel.reference import ReferenceData
from services.referral.schema import SCHEMA

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_SECRET_REF = re.compile(r"^[A-Za-z0-9_./:-]{1,200}$")
MAX_TEXT = 2000


@dataclass
class Schedule:
    weekday: str
    opens_at: time
    closes_at: time
    location_id: str
    service_id: str | None = None


@dataclass
class Location:
    location_id: str
    name: str
    address: str
    commune: str
    schedules: list[Schedule] = field(default_factory=list)


@dataclass
class Service:
    service_id: str
    name: str
    motifs: list[str]
    communes: list[str]
    eligibility: str = ""


@dataclass
class Organization:
    partner_id: str
    name: str
    kind: str
    description: str = ""
    email: str = ""
    phone: str = ""
    website: str = ""
    services: list[Service] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    nats: bool = True
    webhook_url: str | None = None
    webhook_secret_ref: str | None = None

    @property
    def motifs(self) -> list[str]:
        return sorted({m for s in self.services for m in s.motifs})

    @property
    def territories(self) -> list[str]:
        return sorted({c for s in self.services for c in s.communes})


# ---------------------------------------------------------------- validation

REFERENTIEL = "`entraide referentiel`"


def _bad(path: str, message: str, fr: str, reason: str) -> InvalidArgument:
    """INVALID_ARGUMENT naming the JSON path at fault, in English and in French."""
    return InvalidArgument(f"{path}: {message}", fr=f"Annuaire, {path} : {fr}.", reason=reason, field=path)


class _Reader:
    def __init__(self, reference: ReferenceData) -> None:
        self.reference = reference

    def obj(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise _bad(path, "an object is expected", "un objet JSON { … } est attendu", "WRONG_TYPE")
        return value

    def items(self, parent: Mapping[str, Any], key: str, path: str, required: bool = False) -> list[Any]:
        value = parent.get(key, [])
        if not isinstance(value, list):
            raise _bad(f"{path}.{key}", "a list is expected", "une liste [ … ] est attendue", "WRONG_TYPE")
        if required and not value:
            raise _bad(f"{path}.{key}", "at least one is needed", "il en faut au moins un", "FIELD_REQUIRED")
        return value

    def text(
        self, parent: Mapping[str, Any], key: str, path: str, required: bool = True, limit: int = 200
    ) -> str:
        value = parent.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise _bad(
                f"{path}.{key}", "a string is expected", "un texte entre guillemets est attendu", "WRONG_TYPE"
            )
        value = value.strip()
        if required and not value:
            raise _bad(f"{path}.{key}", "required", "ce champ est obligatoire", "FIELD_REQUIRED")
        if len(value) > limit:
            raise _bad(
                f"{path}.{key}", f"at most {limit} characters", f"{limit} caractères au plus", "TOO_LONG"
            )
        return value

    def ident(self, parent: Mapping[str, Any], key: str, path: str) -> str:
        value = self.text(parent, key, path)
        if not _ID.match(value):
            raise _bad(
                f"{path}.{key}",
                "lowercase letters, digits, '-' or '_' (2 to 63)",
                "un identifiant s'écrit avec 2 à 63 minuscules, chiffres, « - » ou « _ »",
                "INVALID_FORMAT",
            )
        return value

    def codes(
        self,
        parent: Mapping[str, Any],
        key: str,
        path: str,
        known: Mapping[str, str],
        *,
        what: str,
        reason: str,
    ) -> list[str]:
        """Codes of the reference data; `what`: the French name of one ("motif inconnu")."""
        values = self.items(parent, key, path, required=True)
        for i, code in enumerate(values):
            if not isinstance(code, str) or code not in known:
                raise _bad(
                    f"{path}.{key}[{i}]",
                    f"unknown code {str(code)[:40]!r}",
                    f"{what} « {str(code)[:40]} » (voir {REFERENTIEL})",
                    reason,
                )
        return sorted(set(values))

    def clock(self, parent: Mapping[str, Any], key: str, path: str) -> time:
        value = self.text(parent, key, path)
        if not _TIME.match(value):
            raise _bad(
                f"{path}.{key}",
                "a local time 'HH:MM' is expected",
                "une heure locale HH:MM est attendue (par exemple 09:30)",
                "INVALID_FORMAT",
            )
        return time.fromisoformat(value)


def parse_document(document: str, reference: ReferenceData) -> list[Organization]:
    try:
        raw = json.loads(document)
    except json.JSONDecodeError as exc:
        raise _bad(
            "$",
            f"not valid JSON ({exc.msg} at line {exc.lineno})",
            f"le document n'est pas du JSON valable (erreur à la ligne {exc.lineno}, colonne {exc.colno})",
            "INVALID_JSON",
        ) from None
    r = _Reader(reference)
    root = r.obj(raw, "$")
    organizations: list[Organization] = []
    seen: dict[str, str] = {}
    kinds_fr = {"organization": "d'organisme", "service": "de service", "location": "de lieu"}

    def unique(kind: str, ident: str, path: str) -> None:
        key = f"{kind}:{ident}"
        if key in seen:
            raise _bad(
                path,
                f"{kind} id {ident!r} already used at {seen[key]}",
                f"l'identifiant {kinds_fr[kind]} « {ident} » est déjà utilisé en {seen[key]}",
                "DUPLICATE_ID",
            )
        seen[key] = path

    for i, raw_org in enumerate(r.items(root, "organizations", "$", required=True)):
        path = f"$.organizations[{i}]"
        o = r.obj(raw_org, path)
        org = Organization(
            partner_id=r.ident(o, "id", path),
            name=r.text(o, "name", path),
            kind=r.ident(o, "kind", path),
            description=r.text(o, "description", path, required=False, limit=MAX_TEXT),
            email=r.text(o, "email", path, required=False),
            phone=r.text(o, "phone", path, required=False, limit=40),
            website=r.text(o, "website", path, required=False),
        )
        unique("organization", org.partner_id, f"{path}.id")
        for j, raw_service in enumerate(r.items(o, "services", path, required=True)):
            spath = f"{path}.services[{j}]"
            s = r.obj(raw_service, spath)
            service = Service(
                service_id=r.ident(s, "id", spath),
                name=r.text(s, "name", spath),
                motifs=r.codes(
                    s, "motifs", spath, reference.motifs, what="motif inconnu", reason="UNKNOWN_MOTIF"
                ),
                communes=r.codes(
                    s,
                    "communes",
                    spath,
                    reference.territories,
                    what="commune inconnue de ce déploiement",
                    reason="UNKNOWN_TERRITORY",
                ),
                eligibility=r.text(s, "eligibility", spath, required=False, limit=MAX_TEXT),
            )
            unique("service", service.service_id, f"{spath}.id")
            org.services.append(service)
        service_ids = {s.service_id for s in org.services}
        for j, raw_location in enumerate(r.items(o, "locations", path)):
            lpath = f"{path}.locations[{j}]"
            loc = r.obj(raw_location, lpath)
            commune = r.text(loc, "commune", lpath, limit=10)
            if commune not in reference.territories:
                raise _bad(
                    f"{lpath}.commune",
                    f"{commune!r} is not a commune of this deployment",
                    f"« {commune} » n'est pas une commune de ce déploiement (voir {REFERENTIEL})",
                    "UNKNOWN_TERRITORY",
                )
            location = Location(
                location_id=r.ident(loc, "id", lpath),
                name=r.text(loc, "name", lpath),
                address=r.text(loc, "address", lpath, required=False),
                commune=commune,
            )
            unique("location", location.location_id, f"{lpath}.id")
            slots: set[tuple[str, time]] = set()
            for k, raw_schedule in enumerate(r.items(loc, "schedules", lpath)):
                kpath = f"{lpath}.schedules[{k}]"
                sch = r.obj(raw_schedule, kpath)
                weekday = r.text(sch, "byday", kpath, limit=2)
                if weekday not in WEEKDAYS:
                    raise _bad(
                        f"{kpath}.byday",
                        f"one of {', '.join(WEEKDAYS)}",
                        f"le jour s'écrit {', '.join(WEEKDAYS)} (du lundi au dimanche)",
                        "INVALID_CHOICE",
                    )
                opens_at = r.clock(sch, "opens_at", kpath)
                closes_at = r.clock(sch, "closes_at", kpath)
                if closes_at <= opens_at:
                    raise _bad(
                        f"{kpath}.closes_at",
                        "must be after opens_at",
                        "l'heure de fermeture doit suivre l'heure d'ouverture",
                        "INVALID_SCHEDULE",
                    )
                service_id = r.text(sch, "service_id", kpath, required=False) or None
                if service_id is not None and service_id not in service_ids:
                    raise _bad(
                        f"{kpath}.service_id",
                        "not a service of this organization",
                        f"« {service_id} » n'est pas un service de cet organisme",
                        "UNKNOWN_SERVICE",
                    )
                if (weekday, opens_at) in slots:
                    raise _bad(
                        kpath,
                        "this location already has a slot at that time",
                        "ce lieu a déjà une permanence ce jour-là à cette heure",
                        "SLOT_CONFLICT",
                    )
                slots.add((weekday, opens_at))
                location.schedules.append(
                    Schedule(weekday, opens_at, closes_at, location.location_id, service_id)
                )
            org.locations.append(location)
        notification = o.get("notification")
        if notification is not None:
            npath = f"{path}.notification"
            n = r.obj(notification, npath)
            nats = n.get("nats", True)
            if not isinstance(nats, bool):
                raise _bad(f"{npath}.nats", "true or false", "true ou false est attendu", "WRONG_TYPE")
            url = r.text(n, "webhook_url", npath, required=False, limit=500) or None
            secret_ref = r.text(n, "webhook_secret_ref", npath, required=False) or None
            if url is not None:
                if not url.startswith(("https://", "http://")):
                    raise _bad(
                        f"{npath}.webhook_url",
                        "an http(s) URL is expected",
                        "une adresse web en https:// (ou http://) est attendue",
                        "INVALID_FORMAT",
                    )
                if secret_ref is None:
                    raise _bad(
                        f"{npath}.webhook_secret_ref",
                        "required with a webhook_url",
                        "obligatoire avec une webhook_url : le nom du secret qui signe les notifications",
                        "FIELD_REQUIRED",
                    )
            if secret_ref is not None and not _SECRET_REF.match(secret_ref):
                raise _bad(
                    f"{npath}.webhook_secret_ref",
                    "a secret's name, not the secret itself",
                    "le nom d'un secret est attendu, jamais le secret lui-même",
                    "INVALID_FORMAT",
                )
            if not nats and url is None:
                raise _bad(
                    npath,
                    "a partner is notified by NATS, a webhook, or both",
                    "un partenaire est prévenu par NATS, par webhook, ou les deux",
                    "NO_NOTIFICATION_CHANNEL",
                )
            org.nats, org.webhook_url, org.webhook_secret_ref = nats, url, secret_ref
        organizations.append(org)
    return organizations


# ---------------------------------------------------------------- writes


async def upsert_organizations(conn: Connection, organizations: Sequence[Organization]) -> dict[str, int]:
    """Idempotent: an organisation's services, locations and schedules are replaced."""
    counts = {"organizations": 0, "services": 0, "locations": 0, "schedules": 0}
    for org in organizations:
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.partners
                    (partner_id, name, kind, motifs, territories, description, email, phone, website)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (partner_id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                    motifs = EXCLUDED.motifs, territories = EXCLUDED.territories,
                    description = EXCLUDED.description, email = EXCLUDED.email, phone = EXCLUDED.phone,
                    website = EXCLUDED.website, updated_at = now()""",
            org.partner_id,
            org.name,
            org.kind,
            org.motifs,
            org.territories,
            org.description,
            org.email,
            org.phone,
            org.website,
        )
        await conn.execute(f"DELETE FROM {SCHEMA}.partner_schedules WHERE partner_id = $1", org.partner_id)
        await conn.execute(f"DELETE FROM {SCHEMA}.partner_locations WHERE partner_id = $1", org.partner_id)
        await conn.execute(f"DELETE FROM {SCHEMA}.partner_services WHERE partner_id = $1", org.partner_id)
        await conn.executemany(
            f"""INSERT INTO {SCHEMA}.partner_services
                    (service_id, partner_id, name, motifs, communes, eligibility)
                VALUES ($1, $2, $3, $4, $5, $6)""",
            [
                (s.service_id, org.partner_id, s.name, s.motifs, s.communes, s.eligibility)
                for s in org.services
            ],
        )
        await conn.executemany(
            f"""INSERT INTO {SCHEMA}.partner_locations (location_id, partner_id, name, address, commune)
                VALUES ($1, $2, $3, $4, $5)""",
            [(loc.location_id, org.partner_id, loc.name, loc.address, loc.commune) for loc in org.locations],
        )
        schedules = [s for loc in org.locations for s in loc.schedules]
        await conn.executemany(
            f"""INSERT INTO {SCHEMA}.partner_schedules
                    (partner_id, location_id, service_id, weekday, opens_at, closes_at)
                VALUES ($1, $2, $3, $4, $5, $6)""",
            [
                (org.partner_id, s.location_id, s.service_id, s.weekday, s.opens_at, s.closes_at)
                for s in schedules
            ],
        )
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.partner_channels (partner_id, nats, webhook_url, webhook_secret_ref)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (partner_id) DO UPDATE SET nats = EXCLUDED.nats,
                    webhook_url = EXCLUDED.webhook_url, webhook_secret_ref = EXCLUDED.webhook_secret_ref,
                    updated_at = now()""",
            org.partner_id,
            org.nats,
            org.webhook_url,
            org.webhook_secret_ref,
        )
        counts["organizations"] += 1
        counts["services"] += len(org.services)
        counts["locations"] += len(org.locations)
        counts["schedules"] += len(schedules)
    return counts


# ---------------------------------------------------------------- reads


async def list_partners(conn: Connection, motif: str | None, territory: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.partners
             WHERE ($1::text IS NULL OR $1 = ANY(motifs))
               AND ($2::text IS NULL OR $2 = ANY(territories))
             ORDER BY name""",
        motif,
        territory,
    )


async def get_partner(conn: Connection, partner_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.partners WHERE partner_id = $1", partner_id)


async def load_organizations(
    conn: Connection, partner_ids: Sequence[str] | None = None
) -> list[Organization]:
    """The directory (or some organisations) as the import model."""
    partners = await conn.fetch(
        f"""SELECT p.*, c.nats, c.webhook_url, c.webhook_secret_ref
              FROM {SCHEMA}.partners p LEFT JOIN {SCHEMA}.partner_channels c USING (partner_id)
             WHERE $1::text[] IS NULL OR p.partner_id = ANY($1)
             ORDER BY p.partner_id""",
        list(partner_ids) if partner_ids is not None else None,
    )
    ids = [p["partner_id"] for p in partners]
    services = await conn.fetch(
        f"SELECT * FROM {SCHEMA}.partner_services WHERE partner_id = ANY($1) ORDER BY service_id", ids
    )
    locations = await conn.fetch(
        f"SELECT * FROM {SCHEMA}.partner_locations WHERE partner_id = ANY($1) ORDER BY location_id", ids
    )
    schedules = await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.partner_schedules WHERE partner_id = ANY($1)
             ORDER BY location_id, array_position(ARRAY['MO','TU','WE','TH','FR','SA','SU'], weekday),
                      opens_at""",
        ids,
    )
    by_id: dict[str, Organization] = {}
    for p in partners:
        by_id[p["partner_id"]] = Organization(
            partner_id=p["partner_id"],
            name=p["name"],
            kind=p["kind"],
            description=p["description"],
            email=p["email"],
            phone=p["phone"],
            website=p["website"],
            nats=p["nats"] if p["nats"] is not None else True,
            webhook_url=p["webhook_url"],
            webhook_secret_ref=p["webhook_secret_ref"],
        )
    for s in services:
        by_id[s["partner_id"]].services.append(
            Service(s["service_id"], s["name"], list(s["motifs"]), list(s["communes"]), s["eligibility"])
        )
    locs: dict[str, Location] = {}
    for loc in locations:
        locs[loc["location_id"]] = Location(loc["location_id"], loc["name"], loc["address"], loc["commune"])
        by_id[loc["partner_id"]].locations.append(locs[loc["location_id"]])
    for s in schedules:
        locs[s["location_id"]].schedules.append(
            Schedule(s["weekday"], s["opens_at"], s["closes_at"], s["location_id"], s["service_id"])
        )
    return list(by_id.values())


def to_document(organizations: Sequence[Organization]) -> dict[str, Any]:
    def org_json(o: Organization) -> dict[str, Any]:
        notification: dict[str, Any] = {"nats": o.nats}
        if o.webhook_url:
            notification["webhook_url"] = o.webhook_url
            notification["webhook_secret_ref"] = o.webhook_secret_ref
        return {
            "id": o.partner_id,
            "name": o.name,
            "kind": o.kind,
            "description": o.description,
            "email": o.email,
            "phone": o.phone,
            "website": o.website,
            "services": [
                {
                    "id": s.service_id,
                    "name": s.name,
                    "motifs": s.motifs,
                    "communes": s.communes,
                    "eligibility": s.eligibility,
                }
                for s in o.services
            ],
            "locations": [
                {
                    "id": loc.location_id,
                    "name": loc.name,
                    "address": loc.address,
                    "commune": loc.commune,
                    "schedules": [
                        {
                            "byday": s.weekday,
                            "opens_at": s.opens_at.strftime("%H:%M"),
                            "closes_at": s.closes_at.strftime("%H:%M"),
                            **({"service_id": s.service_id} if s.service_id else {}),
                        }
                        for s in loc.schedules
                    ],
                }
                for loc in o.locations
            ],
            "notification": notification,
        }

    return {"organizations": [org_json(o) for o in organizations]}


# ---------------------------------------------------------------- permanences


@dataclass(frozen=True)
class NextPermanence:
    starts_at: datetime
    ends_at: datetime
    location: Location


def next_permanence(
    org: Organization, now: datetime, service_ids: set[str] | None = None
) -> NextPermanence | None:
    """The next weekly slot (Europe/Paris local times) still to come or under way at `now`;
    with service_ids, only slots for those services or for all the partner's services."""
    local_now = now.astimezone(PARIS)
    best: NextPermanence | None = None
    for loc in org.locations:
        for slot in loc.schedules:
            if service_ids is not None and slot.service_id is not None and slot.service_id not in service_ids:
                continue
            days_ahead = (WEEKDAYS.index(slot.weekday) - local_now.weekday()) % 7
            for extra in (0, 7):
                day = local_now.date() + timedelta(days=days_ahead + extra)
                starts = datetime.combine(day, slot.opens_at, tzinfo=PARIS)
                ends = datetime.combine(day, slot.closes_at, tzinfo=PARIS)
                if ends > local_now:
                    if best is None or starts < best.starts_at:
                        best = NextPermanence(starts, ends, loc)
                    break
    return best
