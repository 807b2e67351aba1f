"""Example partner webhook receiver (Python standard library only).

    ENTRAIDE_WEBHOOK_SECRET=... python webhook_receiver.py 8080

Verifies `Entraide-Signature: t=<unix>,v1=<hex>` (HMAC-SHA256 of "<t>.<raw body>" with the
shared secret), refuses timestamps older than 5 minutes (replay protection), answers
2xx quickly and de-duplicates by `Entraide-Delivery-Id` (a retried delivery keeps its id).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["ENTRAIDE_WEBHOOK_SECRET"].encode()
TOLERANCE_S = 300
seen_deliveries: set[str] = set()  # use your database (unique key) in production


def signature_ok(header: str, body: bytes, now: float) -> bool:
    try:
        fields = [item.split("=", 1) for item in header.split(",")]
        timestamp = int(next(v for k, v in fields if k.strip() == "t"))
    except (ValueError, StopIteration):
        return False
    if abs(now - timestamp) > TOLERANCE_S:
        return False  # too old (or from the future): a replay, refused
    expected = hmac.new(SECRET, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in fields if k.strip() == "v1")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not signature_ok(self.headers.get("Entraide-Signature", ""), body, time.time()):
            self.send_response(401)
            self.end_headers()
            return
        delivery = self.headers.get("Entraide-Delivery-Id", "")
        if delivery not in seen_deliveries:
            event = json.loads(body)
            data = event["data"]
            print(f"referral {data['referral_id']}: {data['status']} (#{data['sequence']})", flush=True)
            seen_deliveries.add(delivery)
        self.send_response(204)  # also for a duplicate: it was already processed
        self.end_headers()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    HTTPServer(("0.0.0.0", port), Handler).serve_forever()
