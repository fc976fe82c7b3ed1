"""What the twin keeps on disk for both the live twin and the evidence desk: the live catalog
(SQLite), the signed audit trail and officers' keys. Below the engines and the desk, so the
live sweeper and the desk use it without reaching into each other."""
