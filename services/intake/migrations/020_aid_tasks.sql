-- Aid requests past their step's deadline (docs/aides.md): written by the request's
-- workflow (AID_DEADLINE_PASSED) when the deadline of the step the request waits for
-- passed with the request still at the version that armed it; one row per (request,
-- step, version), so a retried activity writes nothing twice. The dossier's inbox
-- (ListTasks) shows a row only while the request is still at that version: the task
-- disappears once the request moved on (services/intake/aides/tasks.py). Codes and
-- dates only.
CREATE TABLE {schema}.aid_tasks (
    aid_request_id uuid NOT NULL REFERENCES {schema}.aid_requests (aid_request_id),
    -- domain.aides.AidStep.
    step           text NOT NULL CHECK (step IN ('instruction', 'commission', 'payment')),
    -- The request's change counter when the deadline was armed.
    version        integer NOT NULL CHECK (version >= 0),
    dossier_id     uuid NOT NULL REFERENCES {schema}.dossiers (dossier_id),
    territory      text NOT NULL,
    -- When the deadline passed (the task's time in the inbox).
    at             timestamptz NOT NULL,
    PRIMARY KEY (aid_request_id, step, version)
);
CREATE INDEX aid_tasks_inbox ON {schema}.aid_tasks (territory, at DESC);

ALTER TABLE {schema}.aid_tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE {schema}.aid_tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY territory ON {schema}.aid_tasks
    USING (territory = ANY ({schema}.caller_territories()))
    WITH CHECK (territory = ANY ({schema}.caller_territories()));
-- Case data: no signaleur reads or writes it (migration 015's rule for later tables).
CREATE POLICY no_signaleur ON {schema}.aid_tasks AS RESTRICTIVE
    USING (coalesce(current_setting('entraide.role', true), '') <> 'signaleur')
    WITH CHECK (coalesce(current_setting('entraide.role', true), '') <> 'signaleur');
