-- What a caseload and an agent's inbox need (ListDossiers' flags and deadlines,
-- ListTasks), projected from the dossier workflow's steps by intake.record_transition
-- (repository.apply_transition) as the workflow keeps them in its state:
--   escalated        set by an "escalated" step, cleared by a reopening;
--   reminded_at      set by a "reminder" step, cleared by an activity (see touched_at);
--   closure_proposed set by a "closure_proposed" step, cleared by an activity;
--   touched_at       the workflow's last_activity_at: the opening, then every interview,
--                    end of écoute, stage change, follow-up, reopening and new referral
--                    (unlike last_activity_at, the retention clock, which a referral
--                    does not move).
-- The lifecycle durations the dossier's workflow runs with (DossierSpec.timers, fixed
-- when it is opened); NULL for dossiers opened before this migration, whose deadlines
-- use the service's current settings.
ALTER TABLE {schema}.dossiers
    ADD COLUMN escalated          boolean NOT NULL DEFAULT false,
    ADD COLUMN reminded_at        timestamptz,
    ADD COLUMN closure_proposed   boolean NOT NULL DEFAULT false,
    ADD COLUMN touched_at         timestamptz,
    ADD COLUMN urgent_ecoute_s    double precision,
    ADD COLUMN suivi_reminder_s   double precision,
    ADD COLUMN closure_proposal_s double precision;

-- The referral a "referral" step is about, its status then ("reminder" for a reminder
-- of the partner) and the partner's directory name: an agent's inbox reads them.
ALTER TABLE {schema}.dossier_timeline
    ADD COLUMN referral_id     uuid,
    ADD COLUMN referral_status text,
    ADD COLUMN partner_name    text;

-- Referral steps written before: status and partner read back from their French summary
-- ("Orientation vers <partenaire> : <statut>…", workflows.labels.REFERRAL_STATUS_LABELS);
-- the referral id was not kept.
UPDATE {schema}.dossier_timeline
   SET partner_name = nullif(substring(summary FROM '^Orientation vers (.*) : [^:]*$'), 'un partenaire'),
       referral_status = CASE
           WHEN summary LIKE 'Relance : orientation vers %' THEN 'reminder'
           WHEN summary ~ ' : demandée$' THEN 'requested'
           WHEN summary ~ ' : refusée( \(.*\))?$' THEN 'rejected'
           WHEN summary ~ ' : échouée( \(.*\))?$' THEN 'failed'
           WHEN summary ~ ' : expirée sans réponse du partenaire( \(.*\))?$' THEN 'expired'
       END
 WHERE kind = 'referral';

-- Steps written before this migration: the same rules, from the timeline. A cycle
-- starts at its reopening, so a flag counts in the dossier's current cycle only, and a
-- reminder or proposal only when no activity step came after it.
UPDATE {schema}.dossiers d
   SET touched_at = greatest(
           coalesce(d.last_activity_at, d.opened_at),
           (SELECT max(t.at) FROM {schema}.dossier_timeline t
             WHERE t.dossier_id = d.dossier_id AND t.kind = 'referral' AND t.referral_status = 'requested')),
       escalated = EXISTS (
           SELECT 1 FROM {schema}.dossier_timeline t
            WHERE t.dossier_id = d.dossier_id AND t.kind = 'escalated' AND t.cycle = d.cycle),
       reminded_at = (
           SELECT max(t.at) FROM {schema}.dossier_timeline t
            WHERE t.dossier_id = d.dossier_id AND t.kind = 'reminder'
              AND NOT EXISTS (
                  SELECT 1 FROM {schema}.dossier_timeline a
                   WHERE a.dossier_id = t.dossier_id AND a.step > t.step
                     AND (a.kind IN ('interview', 'ecoute_completed', 'stage_changed', 'follow_up',
                                     'reopened')
                          OR (a.kind = 'referral' AND a.referral_status = 'requested')))),
       closure_proposed = EXISTS (
           SELECT 1 FROM {schema}.dossier_timeline t
            WHERE t.dossier_id = d.dossier_id AND t.kind = 'closure_proposed'
              AND NOT EXISTS (
                  SELECT 1 FROM {schema}.dossier_timeline a
                   WHERE a.dossier_id = t.dossier_id AND a.step > t.step
                     AND (a.kind IN ('interview', 'ecoute_completed', 'stage_changed', 'follow_up',
                                     'reopened')
                          OR (a.kind = 'referral' AND a.referral_status = 'requested'))));

-- An agent's inbox: the steps that ask something of an agent, newest first.
CREATE INDEX dossier_timeline_tasks ON {schema}.dossier_timeline (territory, at DESC)
    WHERE kind IN ('escalated', 'reminder', 'closure_proposed', 'referral');
CREATE INDEX dossiers_territory_agent ON {schema}.dossiers (territory, assigned_agent, opened_at DESC);

-- Possible duplicates of a person: the one rule (CreatePerson's possible_duplicates and
-- FindPossibleDuplicates), a person not merged with the same name key and birth date, or
-- the same phone. Inlined by the planner, so the indexes of migration 003 serve it.
CREATE FUNCTION {schema}.possible_duplicate(p {schema}.persons, key text, born date, tel text)
    RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p.merged_into IS NULL AND ((p.name_key = key AND p.birth_date = born) OR p.phone = tel)
$$;
-- How many possible duplicates live outside the caller's communes (a count, nothing
-- about them), for the reception form to say « une fiche existe peut-être ailleurs ».
CREATE FUNCTION {schema}.duplicates_elsewhere(key text, born date, tel text, other_than uuid)
    RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT count(*) FROM {schema}.persons p
     WHERE {schema}.possible_duplicate(p, key, born, tel)
       AND p.person_id IS DISTINCT FROM other_than
       AND NOT (p.territory = ANY (coalesce({schema}.caller_territories(), '{}'::text[])))
$$;
GRANT EXECUTE ON FUNCTION {schema}.possible_duplicate({schema}.persons, text, date, text),
    {schema}.duplicates_elsewhere(text, date, text, uuid) TO entraide_app;
