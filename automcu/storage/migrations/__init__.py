"""Alembic migrations of the AutoMCU schema (SQLite and PostgreSQL); applied by ``automcu.storage.migrate``."""
