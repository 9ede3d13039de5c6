"""Agents: feasibility, proposers, evaluator. Each takes one message and returns one."""
