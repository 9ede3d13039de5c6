"""The usual spellings of CPU core names, mapped onto the names the cycle model knows."""

from __future__ import annotations

#: Spelling (lower case, no spaces) -> canonical core name of ``automcu.hardware.cycles``.
#: ``cortex-m4``/``m4`` mean the FPU variant: every Cortex-M4 the cycle model covers has one.
CORE_ALIASES: dict[str, str] = {
    "cortex-m0+": "cortex-m0plus", "cortex-m0plus": "cortex-m0plus", "m0+": "cortex-m0plus", "m0plus": "cortex-m0plus",
    "cortex-m4": "cortex-m4f", "cortex-m4f": "cortex-m4f", "m4": "cortex-m4f", "m4f": "cortex-m4f",
    "cortex-m7": "cortex-m7", "m7": "cortex-m7",
    "cortex-m33": "cortex-m33", "m33": "cortex-m33",
    "cortex-m55": "cortex-m55", "m55": "cortex-m55",
    "xtensa-lx7": "xtensa-lx7", "lx7": "xtensa-lx7", "esp32-s3": "xtensa-lx7",
}


def canonical_core(core: str, where: str = "--core") -> str:
    """The canonical name of ``core`` (``cortex-m4`` -> ``cortex-m4f``, ``M7`` -> ``cortex-m7``, ...).

    Raises ``ValueError`` with one line listing every accepted spelling.
    """
    key = core.strip().lower().replace(" ", "").replace("_", "-")
    if key.startswith("arm-"):
        key = key[4:]
    if key in CORE_ALIASES:
        return CORE_ALIASES[key]
    spellings = ", ".join(sorted(CORE_ALIASES))
    raise ValueError(f"{where}: unknown core {core!r}; accepted spellings: {spellings}")
