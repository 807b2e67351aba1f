"""Example partner consumer (NATS JetStream), for a partner's IT team.

    pip install nats-py
    ENTRAIDE_NATS_URL=nats://nats.entraide.example:4222 PARTNER_ID=caf-meuse \\
    PARTNER_PASSWORD=... python nats_consumer.py

Creates (or resumes) the partner's durable pull consumer on the PARTNERS stream, named
after the partner and filtered to its own subjects, then prints each status change and
acknowledges it. A message is acknowledged only after it was processed: after a crash it
is delivered again; de-duplicate with the Nats-Msg-Id header (or the CloudEvents id).
"""

from __future__ import annotations

import asyncio
import json
import os

import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def main() -> None:
    partner = os.environ["PARTNER_ID"]
    nc = await nats.connect(
        os.environ.get("ENTRAIDE_NATS_URL", "nats://127.0.0.1:4222"),
        user=partner,
        password=os.environ["PARTNER_PASSWORD"],
        # Your account may only receive replies under this prefix.
        inbox_prefix=f"_INBOX_{partner}",
    )
    js = nc.jetstream()
    subscription = await js.pull_subscribe(
        f"partners.{partner}.>",
        durable=partner,  # the only consumer name your account may use
        stream="PARTNERS",  # always name the stream: stream lookups are not allowed
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=60, max_deliver=-1
        ),
    )
    seen: set[str] = set()  # use your database in production
    try:
        while True:
            try:
                messages = await subscription.fetch(50, timeout=5)
            except nats.errors.TimeoutError:
                continue
            for msg in messages:
                delivery = (msg.headers or {}).get("Nats-Msg-Id", "")
                if delivery not in seen:
                    event = json.loads(msg.data)
                    data = event["data"]
                    print(
                        f"{event['time']} referral {data['referral_id']}: "
                        f"{data['previous_status']} -> {data['status']} (#{data['sequence']})"
                    )
                    seen.add(delivery)
                await msg.ack_sync()
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
