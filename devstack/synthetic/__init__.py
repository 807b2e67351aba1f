"""Synthetic activity of a CIAS: a year of dossiers and referrals, as domain events.

Used by the demo (`make up` publishes one synthetic year so the bilan has content) and by
the benchmarks and reporting tests. Modules: `mixes` (the activity mixes and parameters,
the seeds' figures, `quota`), `generator` (pure: the events of a year from a seed),
`oracle` (the expected figures, folded from the events), `publish` (to JetStream, to an
outbox, the demo's year), `cli` (`python -m devstack.synthetic`). This file stays empty:
importing the generator does not import NATS.
"""
