"""Proposer by name: ``auto`` = ``llm`` when an endpoint is configured, else ``evolution``."""

from __future__ import annotations

from agents.proposers.base import Proposer
from automcu.config import Settings


def resolve_name(name: str, settings: Settings) -> str:
    if name == "auto":
        return "llm" if settings.llm_configured else "evolution"
    return name


def make_proposer(name: str, settings: Settings) -> Proposer:
    name = resolve_name(name, settings)
    if name == "evolution":
        from agents.proposers.evolution import EvolutionProposer

        return EvolutionProposer()
    if name == "random":
        from agents.proposers.random_search import RandomProposer

        return RandomProposer()
    if name == "llm":
        if not settings.llm_configured:
            raise ValueError("proposer 'llm' needs AUTOMCU_LLM_BASE_URL (an OpenAI-compatible endpoint)")
        from agents.proposers.llm import LLMProposer

        return LLMProposer(settings)
    raise ValueError(f"unknown proposer {name!r}; choose auto, llm, evolution or random")
