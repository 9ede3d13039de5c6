"""Persistence: SQLAlchemy models and a small repository API. SQLite (WAL) by default, any URL."""

from automcu.storage.db import Database, open_database
from automcu.storage.models import AgentMessage, Candidate, Event, Job

__all__ = ["AgentMessage", "Candidate", "Database", "Event", "Job", "open_database"]
