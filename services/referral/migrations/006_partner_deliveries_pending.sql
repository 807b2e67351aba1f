-- The delivery loop claims a channel's pending rows in seq order (LIMIT one batch).
-- partner_deliveries_due (next_attempt_at, seq) made every claim read and sort all
-- the pending rows (22 ms a claim with 10,000 waiting, and the same for the webhook
-- claim when only NATS rows wait); this index reads one batch of the channel's rows.
-- The due index stays for webhooks that back off (rows not due yet).
CREATE INDEX partner_deliveries_pending ON {schema}.partner_deliveries (channel, seq)
    WHERE status = 'pending';
