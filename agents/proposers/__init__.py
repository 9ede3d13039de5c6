"""Proposer agents behind one interface (see base.py)."""
