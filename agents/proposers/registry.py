"""Proposers by name, in one place: the built-ins below plus any installed package's entry points.

A proposer is one module with a class that has ``name`` and ``propose(request) -> ProposalBatch``
(:class:`agents.proposers.base.Proposer`). It becomes selectable by name (CLI ``--proposer``, REST
``proposer``, ``AUTOMCU_``-configured jobs) either by calling :func:`register` or, from an
installed package, by an entry point in the group ``automcu.proposers`` whose value is a factory
``(settings) -> Proposer`` (a proposer class taking ``settings`` or no argument works too)::

    [project.entry-points."automcu.proposers"]
    mine = "my_package.my_proposer:MyProposer"

``auto`` is not a proposer but a rule: ``llm`` when an endpoint is configured, else
:data:`OFFLINE_DEFAULT`, which is also what the LLM proposer falls back to.

Spaces: a proposer's ``target`` searches the ``nb201`` space; ``spaces={"mcu": "module:attr"}`` names its
implementation for another space (:mod:`search_spaces.spaces`). A name without one for a job's space is
refused for that space (:func:`supports`) before anything is stored; ``auto`` resolves, for a space the LLM
proposer does not search, to :data:`OFFLINE_DEFAULT`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from agents.proposers.base import Proposer
from automcu.core.config import Settings

ENTRY_POINT_GROUP = "automcu.proposers"
#: the proposer ``auto`` resolves to without an LLM endpoint, and the LLM proposer's fallback
OFFLINE_DEFAULT = "evolution"
AUTO = "auto"
#: the space every proposer's own ``target`` searches
BASE_SPACE = "nb201"

Factory = Callable[[Settings], Proposer]


@dataclass(frozen=True)
class ProposerEntry:
    name: str
    target: str | Factory  # "module:attr" (imported on first use) or a factory
    summary: str
    needs_llm: bool = False
    spaces: dict[str, str | Factory] = field(default_factory=dict)  # space -> its implementation there

    def target_for(self, space: str) -> str | Factory | None:
        return self.target if space == BASE_SPACE else self.spaces.get(space)


_REGISTRY: dict[str, ProposerEntry] = {}
_ENTRY_POINTS_LOADED = False


def register(name: str, target: str | Factory, summary: str = "", *, needs_llm: bool = False,
             spaces: dict[str, str | Factory] | None = None) -> None:
    """Make ``name`` selectable. ``target``: ``"module:attr"`` or a callable ``(settings) -> Proposer``
    (a class whose ``__init__`` takes no argument is accepted too), searching the nb201 space; ``spaces``:
    the same proposer for other spaces (``{"mcu": target}``)."""
    if not name or not name.replace("_", "").replace("-", "").isalnum() or name == AUTO:
        raise ValueError(f"invalid proposer name {name!r}: letters, digits, '-' and '_' only, and not 'auto'")
    _REGISTRY[name] = ProposerEntry(name, target, summary, needs_llm, dict(spaces or {}))


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            _REGISTRY[ep.name] = ProposerEntry(ep.name, ep.value, f"from the installed package entry point {ep.value}")


def names() -> list[str]:
    """Every selectable proposer name, ``auto`` first, then built-ins and plug-ins in registration order."""
    _load_entry_points()
    return [AUTO, *_REGISTRY]


def choices_text() -> str:
    """The names joined for help texts and error messages: ``auto | llm | evolution | ...``."""
    return " | ".join(names())


def entry(name: str) -> ProposerEntry:
    _load_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown proposer {name!r}; choose {', '.join(names())}") from None


def supports(name: str, space: str) -> bool:
    """Whether ``name`` (``auto`` included) can search ``space``."""
    if name == AUTO:
        return supports(OFFLINE_DEFAULT, space)
    return entry(name).target_for(space) is not None


def resolve_name(name: str, settings: Settings, space: str = BASE_SPACE) -> str:
    if name == AUTO:
        return "llm" if settings.llm_configured and supports("llm", space) else OFFLINE_DEFAULT
    return name


def _factory(target: str | Factory) -> Factory:
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[return-value]


def _call(factory: Factory, settings: Settings) -> Proposer:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return factory(settings)
    required = [p for p in params.values() if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return factory(settings) if required or "settings" in params else factory()  # type: ignore[call-arg]


def make_proposer(name: str, settings: Settings, space: str = BASE_SPACE) -> Proposer:
    name = resolve_name(name, settings, space)
    item = entry(name)
    target = item.target_for(space)
    if target is None:
        raise ValueError(f"proposer {name!r} does not search the {space} space")
    if item.needs_llm and not settings.llm_configured:
        raise ValueError(f"proposer {name!r} needs AUTOMCU_LLM_BASE_URL (an OpenAI-compatible endpoint)")
    proposer = _call(_factory(target), settings)
    if not callable(getattr(proposer, "propose", None)):
        raise ValueError(f"proposer {name!r} ({item.target}) has no propose(request) method")
    return proposer


register("llm", "agents.proposers.llm:LLMProposer", "an OpenAI-compatible chat model proposes cells",
         needs_llm=True, spaces={"mcu": "agents.proposers.llm:MCULLMProposer"})
register("evolution", "agents.proposers.evolution:EvolutionProposer",
         "constraint-aware regularized evolution (screens children by the estimator)",
         spaces={"mcu": "agents.proposers.mcu:MCUEvolutionProposer"})
register("random", "agents.proposers.random_search:RandomProposer",
         "uniform random over the space (the feasibility agent rejects what does not fit)",
         spaces={"mcu": "agents.proposers.mcu:MCURandomProposer"})
register("local", "agents.proposers.local_search:LocalSearchProposer",
         "best-improvement local search over the one-edge neighbours inside the exact feasible set",
         spaces={"mcu": "agents.proposers.mcu_local:MCULocalSearchProposer"})
register("predictor", "agents.proposers.predictor:PredictorProposer",
         "Gaussian-process surrogate on the evaluated archs, expected improvement over the exact feasible set",
         spaces={"mcu": "agents.proposers.mcu_predictor:MCUPredictorProposer"})
