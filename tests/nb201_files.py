"""Small benchmark files in the official NAS-Bench-201 and NATS-Bench tss formats (made-up numbers).

Records are the plain state dicts that ``ArchResults.create_from_state_dict`` /
``ResultsCount.create_from_state_dict`` read in both packages (``nas_201_api/api_utils.py``,
``nats_bench/api_utils.py``): per arch, datasets ``cifar10-valid`` (x-valid, ori-test),
``cifar10`` (ori-test), ``cifar100`` and ``ImageNet16-120`` (x-valid, x-test, ori-test).
"""

from __future__ import annotations

import bz2
import pickle
from pathlib import Path
from typing import Any

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]
EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
DS_OFFSET = {"cifar10-valid": 0.0, "cifar10": 2.0, "cifar100": -20.0, "ImageNet16-120": -45.0}
SET_OFFSET = {"x-valid": 0.0, "x-test": 0.5, "ori-test": 1.0}
SEEDS = {200: (777, 888, 999), 12: (111,)}
PER_EPOCH_S = {"cifar10-valid": 10.0, "cifar10": 15.0, "cifar100": 10.0, "ImageNet16-120": 30.0}


def final_acc(arch: int, dataset: str, setname: str, epochs: int, seed: int) -> float:
    """The made-up final accuracy a record holds (tests derive expectations from it)."""
    base = 90.0 - 10.0 * arch - (20.0 if epochs == 12 else 0.0)
    return base + DS_OFFSET[dataset] + SET_OFFSET[setname] + (seed % 7) * 0.1


def params_m(arch: int, dataset: str) -> float:
    return 1.0 - 0.3 * arch + (0.01 if dataset == "cifar100" else 0.0)


def flops_m(arch: int, dataset: str) -> float:
    return 150.0 - 40.0 * arch - (100.0 if dataset == "ImageNet16-120" else 0.0)


def _results_count(arch: int, dataset: str, epochs: int, seed: int) -> dict[str, Any]:
    evals = EVAL_SETS[dataset]
    state: dict[str, Any] = {
        "name": dataset,
        "net_state_dict": None,
        "train_acc1es": {e: 50.0 + e * 0.1 for e in range(epochs)},
        "train_acc5es": None,
        "train_losses": {e: 1.0 / (e + 1) for e in range(epochs)},
        "train_times": {e: PER_EPOCH_S[dataset] * (1 + arch) for e in range(epochs)},
        "arch_config": {"name": "infer.tiny", "channel": 16, "num_cells": 5, "arch_str": ARCHS[arch],
                        "class_num": 10},
        "params": params_m(arch, dataset),
        "flop": flops_m(arch, dataset),
        "seed": seed,
        "epochs": epochs,
        "latency": [0.01],
        "eval_names": list(evals),
        "eval_acc1es": {},
        "eval_times": {},
        "eval_losses": {},
    }
    for name in evals:
        for e in range(epochs):
            key = f"{name}@{e}"
            last = e == epochs - 1
            state["eval_acc1es"][key] = final_acc(arch, dataset, name, epochs, seed) if last else 10.0
            state["eval_times"][key] = 1.0
            state["eval_losses"][key] = 1.0
    return state


def arch_results(arch: int, epochs: int) -> dict[str, Any]:
    all_results = {}
    dataset_seed = {}
    for dataset in EVAL_SETS:
        seeds = SEEDS[epochs] if dataset != "cifar10" or epochs == 12 else SEEDS[epochs][:2]
        dataset_seed[dataset] = list(seeds)
        for seed in seeds:
            all_results[(dataset, seed)] = _results_count(arch, dataset, epochs, seed)
    return {"arch_index": arch, "arch_str": ARCHS[arch], "all_results": all_results, "dataset_seed": dataset_seed,
            "clear_net_done": True}


def nb201_dict() -> dict[str, Any]:
    """What ``torch.load`` of NAS-Bench-201-v1_1-096897.pth returns (3 archs)."""
    return {
        "meta_archs": list(ARCHS),
        "arch2infos": {i: {"less": arch_results(i, 12), "full": arch_results(i, 200)} for i in range(len(ARCHS))},
        "evaluated_indexes": list(range(len(ARCHS))),
        "total_archs": len(ARCHS),
    }


def nats_dict() -> dict[str, Any]:
    """What NATS-tss-v1_0-3ffb9.pickle.pbz2 holds (3 archs)."""
    return {
        "meta_archs": list(ARCHS),
        "arch2infos": {i: {"12": arch_results(i, 12), "200": arch_results(i, 200)} for i in range(len(ARCHS))},
        "evaluated_indexes": list(range(len(ARCHS))),
    }


def _bz2_pickle(obj: Any, path: Path) -> Path:
    with bz2.BZ2File(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=4)
    return path


def write_nats_file(directory: Path) -> Path:
    return _bz2_pickle(nats_dict(), directory / "NATS-tss-v1_0-3ffb9.pickle.pbz2")


def write_nats_dir(directory: Path) -> Path:
    root = directory / "NATS-tss-v1_0-3ffb9-simple"
    root.mkdir()
    data = nats_dict()
    _bz2_pickle({"meta_archs": data["meta_archs"]}, root / "meta.pickle.pbz2")
    for i, hp2res in data["arch2infos"].items():
        _bz2_pickle(hp2res, root / f"{i:06d}.pickle.pbz2")
    return root
