"""Rules of the job body that pydantic checks in validators, stated in the OpenAPI schema too.

:class:`automcu.jobs.spec.JobSpec` enforces them at runtime (``model_validator``), which its generated JSON schema
cannot show; this module adds them to the document as JSON Schema (OpenAPI 3.1) so clients and fuzzers see every
rule the server applies:

- ``dataset``: a NAS-Bench-201 lookup name (any letter case) or a real-data name (any case, surrounding spaces,
  aliases such as ``fashion_mnist``);
- lookups take ``epochs`` 12 or 200 (the NB201 schedules; default 200) and no ``data_path``; real data takes
  ``epochs`` 1-200 (the field's own range);
- ``compress`` of a cifar10/cifar100 winner needs ``compress.data_path``; an ImageNet16-120 winner can't be
  compressed (lookup only);
- ``hardware`` without a ``board`` (absent, null or blank) needs ``sram_kb``, ``flash_kb``, ``clock_mhz`` and
  ``core`` (with a blank board, all or none of them);
- ``proposer`` is one of the registered names.

The estimate body (``POST /estimate``) shares the ``dataset`` and ``board``/``hardware`` rules.
"""

from __future__ import annotations

from typing import Any

from automcu.data import registry as data_registry
from automcu.data.realdata import REAL_DATASETS
from automcu.jobs.spec import TRAINABLE_LOOKUPS
from search_spaces.nb201.table import DATASETS

_REGEX_SPECIAL = set("\\^$.|?*+()[]{}/")


def _any_case(name: str) -> str:
    """An ECMA-262 (and Python) regex matching ``name`` in any letter case."""
    out = []
    for ch in name:
        if ch.lower() != ch.upper():
            out.append(f"[{ch.lower()}{ch.upper()}]")
        else:
            out.append("\\" + ch if ch in _REGEX_SPECIAL else ch)
    return "".join(out)


def _one_of(names: list[str]) -> str:
    return "(?:" + "|".join(_any_case(n) for n in sorted(names, key=len, reverse=True)) + ")"


def lookup_pattern(names: list[str] | None = None) -> str:
    """Lookup names as the server accepts them: exactly, in any letter case."""
    return "^" + _one_of(list(DATASETS) if names is None else names) + "$"


def real_names() -> list[str]:
    """Every spelling that names a real dataset once stripped and lower-cased (the names and their aliases)."""
    aliases: dict[str, str] = getattr(data_registry, "_ALIASES", {})
    return sorted({*REAL_DATASETS, *(alias for alias, name in aliases.items() if name in REAL_DATASETS)})


def dataset_pattern() -> str:
    """Any dataset the job body accepts."""
    return lookup_pattern() + "|^\\s*" + _one_of(real_names()) + "\\s*$"


def _if_dataset(pattern: str, then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"properties": {"dataset": {"type": "string", "pattern": pattern}}, "required": ["dataset"]},
            "then": {"properties": then}}


_HARDWARE = ("sram_kb", "flash_kb", "clock_mhz", "core")


def _complete_hardware() -> dict[str, Any]:
    return {"type": "object", "required": list(_HARDWARE),
            "properties": {k: {"type": "string" if k == "core" else "number"} for k in _HARDWARE}}


def hardware_rules() -> list[dict[str, Any]]:
    """``board`` and ``hardware`` together (the job body and the estimate body)."""
    return [
        {"if": {"anyOf": [{"not": {"required": ["board"]}},
                          {"properties": {"board": {"type": "null"}}, "required": ["board"]}]},
         "then": {"properties": {"hardware": {
             "anyOf": [{"type": "null"}, _complete_hardware()],
             "description": "without a board, a custom spec needs sram_kb, flash_kb, clock_mhz and core"}}}},
        {"if": {"properties": {"board": {"type": "string", "pattern": "^\\s*$"}}, "required": ["board"]},
         "then": {"properties": {"hardware": {
             "anyOf": [{"type": "null"}, _complete_hardware(),
                       {"type": "object", "properties": {k: {"type": "null"} for k in _HARDWARE}}],
             "description": "a blank board is no board: a custom spec needs all of sram_kb, flash_kb, clock_mhz "
                            "and core, or none"}}}},
    ]


def job_body_rules() -> list[dict[str, Any]]:
    """The ``allOf`` entries stating the cross-field rules of the job body."""
    lookup_only = [name for name in DATASETS if name not in TRAINABLE_LOOKUPS]
    return [
        _if_dataset(lookup_pattern(), {
            "epochs": {"enum": [12, 200, None],
                       "description": "NAS-Bench-201 lookups have 12- and 200-epoch results (default 200)"},
            "data_path": {"type": "null", "description": "data_path is for real-data training only"}}),
        _if_dataset(lookup_pattern(list(TRAINABLE_LOOKUPS)), {
            "compress": {"anyOf": [{"type": "null"},
                                   {"type": "object", "required": ["data_path"],
                                    "properties": {"data_path": {"type": "string", "minLength": 1}}}],
                         "description": "compressing a cifar winner needs compress.data_path (the CIFAR batches)"}}),
        _if_dataset(lookup_pattern(lookup_only), {
            "compress": {"type": "null", "description": "lookup-only: no real images to compress with"}}),
        *hardware_rules(),
    ]


def declare_job_rules(doc: dict[str, Any]) -> None:
    """Add the rules to the job body's (``JobSpec``) and the estimate body's schemas in ``doc``, in place."""
    from agents.proposers.registry import names

    schemas = doc.get("components", {}).get("schemas", {})
    for name, rules in (("JobSpec", job_body_rules()), ("EstimateRequest", hardware_rules())):
        schema = schemas.get(name)
        if schema is None:
            continue
        props = schema.setdefault("properties", {})
        if "dataset" in props:
            props["dataset"]["pattern"] = dataset_pattern()
        if "proposer" in props:
            props["proposer"]["enum"] = names()
        schema["allOf"] = [*schema.get("allOf", []), *rules]
