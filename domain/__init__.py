"""The dossier's domain, pure: vocabulary, rules, the referral state machine, the event
catalogue and the French words. No I/O, no Temporal, no SQL: everything here is
importable anywhere (workflow sandbox included) and testable without a server.
See docs/domain.md."""
