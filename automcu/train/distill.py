"""Knowledge-distillation losses and the :class:`Distiller` that applies them during training.

Terms (each optional except the first two):

- hard labels: cross-entropy, weight ``w_hard`` (``1 - alpha``, or the ``--label-mix`` schedule);
- soft labels: ``T² · KL(q_T ‖ softmax(s/T))`` with weight ``1 - w_hard``, where the target ``q_T`` mixes
  the teachers' tempered distributions with per-sample weights: ``mean`` (1/K each) or ``entropy``
  (``w_k(x) ∝ exp(-H_k(x))``, ``H_k`` the predictive entropy of teacher ``k`` at T=1: the student learns
  most from the teacher that is confident on that sample, as in entropy-weighted multi-teacher KD);
- ``beta``: cosine between the student's pooled features, linearly projected to the (first) teacher's
  width, and the teacher's;
- ``feature``: intermediate-layer term at the end of the second stage (the block before the last
  reduction): the student's map, through a learned 1×1 conv to the teacher's channels (identity when
  widths match), average-pooled to the smaller map, against the (first) teacher's map: ``1 - cos`` of
  the flattened maps, batch mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from automcu.train.config import KDConfig
from automcu.train.label_mix import LabelMix

Weighting = Literal["mean", "entropy"]
WEIGHTINGS: tuple[str, ...] = ("mean", "entropy")


def kd_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T² · KL(softmax(t/T) ‖ softmax(s/T))``, batch mean (Hinton et al.'s scaling keeps gradients comparable)."""
    t = temperature
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits / t, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (t * t)


def kd_kl_to(student_logits: torch.Tensor, target_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T² · KL(target ‖ softmax(s/T))`` against a given (mixed) tempered target distribution, batch mean."""
    t = temperature
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    return F.kl_div(log_p_s, target_probs.clamp_min(1e-12), reduction="batchmean") * (t * t)


def teacher_weights(teacher_logits: Sequence[torch.Tensor], weighting: str) -> torch.Tensor:
    """Per-sample teacher weights, shape ``(batch, K)``, rows summing to 1."""
    k = len(teacher_logits)
    stacked = torch.stack(list(teacher_logits), dim=1)  # (B, K, classes)
    if weighting == "mean" or k == 1:
        return torch.full(stacked.shape[:2], 1.0 / k, dtype=stacked.dtype)
    if weighting != "entropy":
        raise ValueError(f"teacher weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    log_p = F.log_softmax(stacked, dim=2)
    entropy = -(log_p.exp() * log_p).sum(dim=2)  # (B, K)
    return torch.softmax(-entropy, dim=1)


def mixed_target(teacher_logits: Sequence[torch.Tensor], weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """``Σ_k w_k(x) · softmax(t_k / T)``: the soft-label target, shape ``(batch, classes)``."""
    probs = torch.stack([F.softmax(t / temperature, dim=1) for t in teacher_logits], dim=1)
    return (weights.unsqueeze(2) * probs).sum(dim=1)


def cosine_feature_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> torch.Tensor:
    """``1 - cos`` between (projected) student features and teacher features, batch mean."""
    return (1.0 - F.cosine_similarity(student_feat.flatten(1), teacher_feat.flatten(1), dim=1)).mean()


def tap_index(model: nn.Module) -> int:
    """Index in ``model.cells`` of the block that ends the second stage (NB201 and mcu networks)."""
    cells = getattr(model, "cells", None)
    n = getattr(model, "N", None)
    if not isinstance(cells, nn.Sequential) or not isinstance(n, int) or 2 * n >= len(cells):
        raise ValueError("feature KD needs an NB201-style network (.cells of three stages, .N cells per stage)")
    return 2 * n


def forward_with_tap(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, the intermediate map at :func:`tap_index`), through the model's own forward (hooks kept)."""
    seen: list[torch.Tensor] = []
    handle = model.cells[tap_index(model)].register_forward_hook(  # type: ignore[index]
        lambda _m, _i, out: seen.append(out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return logits, seen[-1]


def tap_channels(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Channels of the intermediate map (a dry run on one zero image)."""
    was = model.training
    model.eval()
    with torch.no_grad():
        _, mid = forward_with_tap(model, torch.zeros(1, *input_shape))
    model.train(was)
    return int(mid.shape[1])


def match_maps(student_map: torch.Tensor, teacher_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Average-pool the larger map to the smaller's spatial size (an mcu stem stride 2 vs stride 1)."""
    hs, ht = student_map.shape[-1], teacher_map.shape[-1]
    if hs > ht:
        student_map = F.adaptive_avg_pool2d(student_map, teacher_map.shape[-2:])
    elif ht > hs:
        teacher_map = F.adaptive_avg_pool2d(teacher_map, student_map.shape[-2:])
    return student_map, teacher_map


class Distiller(nn.Module):
    """The frozen teacher(s) and the trained projections; :meth:`loss` is the training loss of a batch.

    ``progress`` (0 → 1 over the run) is set by the training loop before each step; the
    ``label_mix`` schedule reads it.
    """

    def __init__(self, teacher: nn.Module | Sequence[nn.Module], cfg: KDConfig, student_width: int,
                 teacher_width: int, *, weighting: str = "mean", label_mix: LabelMix | None = None,
                 feature_channels: tuple[int, int] | None = None, feature_weight: float = 1.0) -> None:
        super().__init__()
        teachers = [teacher] if isinstance(teacher, nn.Module) else list(teacher)
        if not teachers:
            raise ValueError("distillation needs at least one teacher")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"teacher weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
        if feature_weight < 0:
            raise ValueError(f"feature KD weight must be >= 0, got {feature_weight}")
        self.teachers = nn.ModuleList(t.eval() for t in teachers)
        for p in self.teachers.parameters():
            p.requires_grad_(False)
        self.cfg = cfg
        self.weighting = weighting
        self.label_mix = label_mix
        self.feature_weight = feature_weight if feature_channels is not None else 0.0
        self.progress = 0.0
        # trained with the student (the loop's optimizer takes every trainable parameter of the distiller)
        self.project = nn.Linear(student_width, teacher_width, bias=False) if cfg.beta > 0 else None
        self.feature_project: nn.Module | None = None
        if feature_channels is not None:
            s_ch, t_ch = feature_channels
            self.feature_project = nn.Conv2d(s_ch, t_ch, 1, bias=False) if s_ch != t_ch else nn.Identity()
        self.last_weights: torch.Tensor | None = None  # the last batch's teacher weights (B, K)

    @property
    def teacher(self) -> nn.Module:
        """The first teacher (the feature terms' reference)."""
        return self.teachers[0]

    def train(self, mode: bool = True) -> Distiller:  # the teachers always stay in eval mode
        super().train(mode)
        self.teachers.eval()
        return self

    def hard_weight(self) -> float:
        return self.label_mix.hard_weight(self.progress) if self.label_mix is not None else 1.0 - self.cfg.alpha

    def _teacher_outputs(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None,
                                                          torch.Tensor | None]:
        """(every teacher's logits, the first teacher's pooled features, its intermediate map)."""
        pooled = mid = None
        logits = []
        with torch.no_grad():
            for k, t in enumerate(self.teachers):
                if k == 0 and self.feature_weight > 0:
                    out, mid = forward_with_tap(t, x)
                else:
                    out = t(x)
                logits.append(out)
            if self.project is not None:
                pooled = self.teachers[0].features(x)  # type: ignore[operator]
        return logits, pooled, mid

    def loss(self, student: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss, student logits) for one batch."""
        cfg = self.cfg
        t_logits, t_pooled, t_mid = self._teacher_outputs(x)
        s_pooled = s_mid = None
        if self.feature_weight > 0:
            s_logits, s_mid = forward_with_tap(student, x)
        else:
            s_logits = student(x)
        if t_pooled is not None:
            s_pooled = student.features(x)  # type: ignore[operator]
        weights = teacher_weights(t_logits, self.weighting)
        self.last_weights = weights
        if len(t_logits) == 1:
            soft = kd_kl(s_logits, t_logits[0], cfg.temperature)
        else:
            soft = kd_kl_to(s_logits, mixed_target(t_logits, weights, cfg.temperature), cfg.temperature)
        w_hard = self.hard_weight()
        loss = w_hard * F.cross_entropy(s_logits, y) + (1.0 - w_hard) * soft
        if self.project is not None and s_pooled is not None and t_pooled is not None:
            loss = loss + cfg.beta * cosine_feature_loss(self.project(s_pooled), t_pooled)
        if self.feature_project is not None and s_mid is not None and t_mid is not None:
            s_map, t_map = match_maps(self.feature_project(s_mid), t_mid)
            loss = loss + self.feature_weight * cosine_feature_loss(s_map, t_map)
        return loss, s_logits


def feature_width(model: nn.Module) -> int:
    """Width of ``model.features(x)`` (the classifier's input)."""
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Linear):
        raise ValueError("feature distillation needs a model with .features() and a Linear .classifier")
    return int(classifier.in_features)
