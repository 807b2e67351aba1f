-- Erasure for signals and collective actions (docs/domain.md rule 3, docs/signals.md,
-- docs/collective.md): an anonymised person's signals and goals, and signals kept past
-- the deployment's retention, lose their identity and free text; codes, dates and
-- statuses stay, so the bilan does not move. The checks of migrations 014 and 015 are
-- replaced by ones that accept an erased row (and only an erased one) without text.
ALTER TABLE {schema}.signals ADD COLUMN anonymised_at timestamptz;
ALTER TABLE {schema}.goals ADD COLUMN erased_at timestamptz;
ALTER TABLE {schema}.goal_notes ADD COLUMN erased_at timestamptz;

DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
         WHERE contype = 'c'
           AND ((conrelid = '{schema}.signals'::regclass
                 AND (pg_get_constraintdef(oid) LIKE '%first_name%'
                      OR pg_get_constraintdef(oid) LIKE '%length(description)%'))
             OR (conrelid = '{schema}.goals'::regclass AND pg_get_constraintdef(oid) LIKE '%char_length(title)%')
             OR (conrelid = '{schema}.goal_notes'::regclass AND pg_get_constraintdef(oid) LIKE '%char_length(text)%'))
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    END LOOP;
END
$$;

ALTER TABLE {schema}.signals
    ADD CONSTRAINT signals_identity
        CHECK (anonymised_at IS NOT NULL OR coalesce(first_name, last_name, phone, email, address_line) IS NOT NULL),
    ADD CONSTRAINT signals_description
        CHECK (CASE WHEN anonymised_at IS NULL THEN length(description) BETWEEN 1 AND 1000
                    ELSE description = '' END);
ALTER TABLE {schema}.goals
    ADD CONSTRAINT goals_title
        CHECK (CASE WHEN erased_at IS NULL THEN char_length(title) BETWEEN 1 AND 200 ELSE title = '' END);
ALTER TABLE {schema}.goal_notes
    ADD CONSTRAINT goal_notes_text
        CHECK (CASE WHEN erased_at IS NULL THEN char_length(text) BETWEEN 1 AND 2000 ELSE text = '' END);

-- Retention looks for signals by their last change.
CREATE INDEX signals_retention ON {schema}.signals ((coalesce(qualified_at, submitted_at)))
    WHERE anonymised_at IS NULL;
