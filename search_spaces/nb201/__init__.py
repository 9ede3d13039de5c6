"""NAS-Bench-201 search space: ops, edges, index mapping, benchmark backends."""

from search_spaces.nb201.space import EDGES, OPS, Arch, ArchError, parse_arch

__all__ = ["EDGES", "OPS", "Arch", "ArchError", "parse_arch"]
