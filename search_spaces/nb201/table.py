"""The embedded NAS-Bench-201 table (``data/nb201_compact.csv.gz``), loaded once into numpy."""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from search_spaces.nb201.cell import N_EDGES, OPS

#: User-facing dataset names → the table's column prefix.
DATASETS: dict[str, str] = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet16"}
#: Number of classes / input resolution of each benchmark dataset.
NUM_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
INPUT_HW: dict[str, int] = {"cifar10": 32, "cifar100": 32, "ImageNet16-120": 16}


@dataclass(frozen=True)
class Table:
    """Columns of the table as numpy arrays, row i = official index i."""

    codes: np.ndarray  # base-5 op code per row
    ops: np.ndarray  # (n, 6) int8
    columns: dict[str, np.ndarray]
    seeds: dict[str, list[tuple[float, ...]]]  # dataset prefix -> per-row per-seed valid accs

    def column(self, name: str) -> np.ndarray:
        return self.columns[name]


def table_path() -> Path:
    return Path(str(resources.files("search_spaces.nb201") / "data" / "nb201_compact.csv.gz"))


@lru_cache(maxsize=1)
def load_table() -> Table:
    """Parse the embedded table (about 0.2 s)."""
    with gzip.open(table_path(), "rt", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    col = {name: i for i, name in enumerate(header)}
    op_index = {name: i for i, name in enumerate(OPS)}
    n = len(rows)
    ops = np.empty((n, N_EDGES), dtype=np.int8)
    for r, row in enumerate(rows):
        if int(row[col["arch_index"]]) != r:
            raise RuntimeError(f"embedded NB201 table row {r} holds index {row[col['arch_index']]}")
        parts = row[col["arch_str"]].replace("+", "").strip("|").split("|")
        ops[r] = [op_index[p.split("~")[0]] for p in parts if p]
    codes = np.zeros(n, dtype=np.int64)
    for e in range(N_EDGES):
        codes = codes * len(OPS) + ops[:, e]
    numeric = [h for h in header if h not in ("arch_index", "arch_str", "hpo_key") and not h.endswith("_seeds")]
    columns = {h: np.array([float(row[col[h]]) for row in rows]) for h in numeric}
    seeds = {
        prefix: [tuple(float(v) for v in row[col[f"{prefix}_valid_seeds"]].split(";")) for row in rows]
        for prefix in DATASETS.values()
    }
    return Table(codes=codes, ops=ops, columns=columns, seeds=seeds)

