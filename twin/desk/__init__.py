"""The evidence desk of a run folder: opening it (policy, officers, trail), its audit, cases
and exports. Used by `twin evidence` (twin.cli.evidence); stands above the storage layer."""
