"""Settings: one root, read from AUTOMCU_* environment variables."""
