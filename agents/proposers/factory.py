"""Proposer by name (kept for existing imports): see :mod:`agents.proposers.registry`."""

from __future__ import annotations

from agents.proposers.registry import OFFLINE_DEFAULT, make_proposer, names, resolve_name

__all__ = ["OFFLINE_DEFAULT", "make_proposer", "names", "resolve_name"]
