"""Reporting's projection of domain events into its fact tables and the bilan's
pre-aggregates: `tables` (where), `fold` (events → deltas, pure), `apply` (deltas →
rows, in the consumer's transaction), `cells` (the bilan's pre-aggregates),
`appointments` (the appointments' facts and day cells)."""
