-- The SIRET of the agent's organisation, as ProConnect gives it (`siret` claim): when
-- set, a sign-in whose identity carries another SIRET is refused (the person now works
-- for another organisation).
ALTER TABLE {schema}.agents ADD COLUMN siret text NOT NULL DEFAULT '';
