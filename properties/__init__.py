"""The invariants, as pytest tests: one module per property id."""
