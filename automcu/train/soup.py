"""Weight averaging of fine-tuned runs from one initialization ("model soups", Wortsman et al. 2022).

:func:`uniform_soup` averages every ingredient; :func:`greedy_soup` sorts the ingredients by validation
accuracy and adds each to the soup only when the averaged network's validation accuracy does not drop.
Floating-point entries of the state dict (weights, biases, BatchNorm running statistics) are averaged;
integer entries (``num_batches_tracked``) are taken from the first ingredient. The soup has the
ingredients' architecture, so it costs nothing extra at inference: same Flash, arena and latency.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from automcu.train.metrics import evaluate


def average_state(models: Sequence[nn.Module]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the models' state dicts (same architecture)."""
    if not models:
        raise ValueError("a soup needs at least one ingredient")
    states = [m.state_dict() for m in models]
    keys = list(states[0])
    for s in states[1:]:
        if list(s) != keys or any(s[k].shape != states[0][k].shape for k in keys):
            raise ValueError("soup ingredients must share one architecture")
    out: dict[str, torch.Tensor] = {}
    for k in keys:
        first = states[0][k]
        out[k] = torch.stack([s[k].float() for s in states]).mean(0).to(first.dtype) \
            if first.is_floating_point() else first.clone()
    return out


def soup_of(models: Sequence[nn.Module]) -> nn.Module:
    """A new network holding the average of ``models``."""
    soup = copy.deepcopy(models[0])
    soup.load_state_dict(average_state(models))
    return soup.eval()


@dataclass
class SoupResult:
    model: nn.Module
    chosen: list[int]  # ingredient indices in the greedy soup, in the order they were added
    ingredient_val_acc: list[float]
    soup_val_acc: float
    uniform_val_acc: float
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "ingredient_val_acc": self.ingredient_val_acc,
                "soup_val_acc": self.soup_val_acc, "uniform_val_acc": self.uniform_val_acc, "steps": self.steps}


def greedy_soup(models: Sequence[nn.Module], x_val: np.ndarray, y_val: np.ndarray) -> SoupResult:
    """Greedy soup on the validation arrays (ties keep the ingredient: averaging is free at inference)."""
    accs = [evaluate(m.eval(), x_val, y_val) for m in models]
    order = sorted(range(len(models)), key=lambda i: -accs[i])
    chosen = [order[0]]
    best = accs[order[0]]
    steps: list[dict[str, Any]] = [{"ingredient": order[0], "val_acc": best, "kept": True}]
    for i in order[1:]:
        acc = evaluate(soup_of([models[j] for j in [*chosen, i]]), x_val, y_val)
        kept = acc >= best
        steps.append({"ingredient": i, "val_acc": acc, "kept": kept})
        if kept:
            chosen.append(i)
            best = acc
    uniform = evaluate(soup_of(models), x_val, y_val)
    return SoupResult(soup_of([models[j] for j in chosen]), chosen, accs, best, uniform, steps)
