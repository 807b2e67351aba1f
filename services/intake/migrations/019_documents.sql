-- Supporting documents (docs/documents.md): the row holds what the document is and how
-- its bytes are sealed; the bytes are in the document store (local disk or S3), under
-- an opaque key, encrypted with a data key of their own that the deployment's key wraps.
CREATE TABLE {schema}.documents (
    document_id  uuid PRIMARY KEY,
    -- domain.aides.DocumentOwner, and the owner's id.
    owner_kind   text NOT NULL CHECK (owner_kind IN ('person', 'dossier', 'aid_request')),
    owner_id     uuid NOT NULL,
    territory    text NOT NULL,
    -- Reference data code (document_kinds).
    kind         text NOT NULL,
    media_type   text NOT NULL CHECK (media_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size_bytes   bigint NOT NULL CHECK (size_bytes > 0),
    -- The store's key (random, nothing personal) and the sealed data key with its key id.
    storage_key  text NOT NULL UNIQUE,
    key_id       text NOT NULL,
    wrapped_key  bytea NOT NULL,
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    -- The retention schedule deletes the bytes then (aid documents: after the decision).
    delete_after date,
    -- Deleted: the sealed data key is erased at once (the bytes can no longer be read,
    -- wherever a copy lies), then the store's file is removed (purged_at).
    deleted_at   timestamptz,
    purged_at    timestamptz,
    request_key  text NOT NULL UNIQUE
);
CREATE INDEX documents_owner ON {schema}.documents (owner_kind, owner_id, uploaded_at);
CREATE INDEX documents_due ON {schema}.documents (delete_after) WHERE deleted_at IS NULL;
CREATE INDEX documents_to_purge ON {schema}.documents (deleted_at) WHERE purged_at IS NULL AND deleted_at IS NOT NULL;

ALTER TABLE {schema}.documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE {schema}.documents FORCE ROW LEVEL SECURITY;
CREATE POLICY territory ON {schema}.documents
    USING (territory = ANY ({schema}.caller_territories()))
    WITH CHECK (territory = ANY ({schema}.caller_territories()));
CREATE POLICY no_signaleur ON {schema}.documents AS RESTRICTIVE
    USING (coalesce(current_setting('entraide.role', true), '') <> 'signaleur')
    WITH CHECK (coalesce(current_setting('entraide.role', true), '') <> 'signaleur');
-- Reception files documents at the desk but reads none back (like the notes).
CREATE POLICY reception_writes_only ON {schema}.documents AS RESTRICTIVE FOR SELECT
    USING (coalesce(current_setting('entraide.role', true), '') <> 'accueil');
