-- The request a change of an appointment came from (kernel.idempotency.derived_id of the
-- caller's request id): a move, cancellation or attendance retried after its row was
-- written but before its workflow update went through finds the change it wrote and
-- sends the same update again, instead of writing a second change.
ALTER TABLE {schema}.appointment_changes ADD COLUMN request_key text;
CREATE UNIQUE INDEX appointment_changes_request ON {schema}.appointment_changes (request_key)
    WHERE request_key IS NOT NULL;

-- A person who does not agree to be contacted (or opted out) need not choose a channel.
ALTER TABLE {schema}.contact_preferences DROP CONSTRAINT contact_preferences_channel_check;
ALTER TABLE {schema}.contact_preferences ADD CONSTRAINT contact_preferences_channel_check
    CHECK (channel IN ('sms', 'email') OR (channel = '' AND (NOT consent OR opted_out)));
