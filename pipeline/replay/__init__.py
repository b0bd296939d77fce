"""Audit replays of the decision log: `verify` (exact re-decision, hash chains, certification
snapshots) and `whatif` (the recorded period through a candidate policy)."""
