"""SignalService ("aller vers"), served by the intake process (docs/signals.md)."""
