"""Knowledge-distillation losses: KL on temperature-softened logits and a cosine feature term."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from automcu.train.config import KDConfig


def kd_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T² · KL(softmax(t/T) ‖ softmax(s/T))``, batch mean (Hinton et al.'s scaling keeps gradients comparable)."""
    t = temperature
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits / t, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (t * t)


def cosine_feature_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> torch.Tensor:
    """``1 - cos`` between (projected) student features and teacher features, batch mean."""
    return (1.0 - F.cosine_similarity(student_feat, teacher_feat, dim=1)).mean()


class Distiller(nn.Module):
    """Holds the frozen teacher and the student→teacher feature projection (trained with the student)."""

    def __init__(self, teacher: nn.Module, cfg: KDConfig, student_width: int, teacher_width: int) -> None:
        super().__init__()
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.cfg = cfg
        self.project = nn.Linear(student_width, teacher_width, bias=False) if cfg.beta > 0 else None

    def train(self, mode: bool = True) -> Distiller:  # the teacher always stays in eval mode
        super().train(mode)
        self.teacher.eval()
        return self

    def loss(self, student: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss, student logits) for one batch."""
        cfg = self.cfg
        with torch.no_grad():
            t_feat = self.teacher.features(x) if self.project is not None else None  # type: ignore[operator]
            t_logits = self.teacher.classifier(t_feat) if t_feat is not None else self.teacher(x)  # type: ignore[operator]
        if self.project is not None:
            s_feat = student.features(x)  # type: ignore[operator]
            s_logits = student.classifier(s_feat)  # type: ignore[operator]
        else:
            s_feat, s_logits = None, student(x)
        loss = (1.0 - cfg.alpha) * F.cross_entropy(s_logits, y) + cfg.alpha * kd_kl(s_logits, t_logits,
                                                                                  cfg.temperature)
        if self.project is not None and s_feat is not None and t_feat is not None:
            loss = loss + cfg.beta * cosine_feature_loss(self.project(s_feat), t_feat)
        return loss, s_logits


def feature_width(model: nn.Module) -> int:
    """Width of ``model.features(x)`` (the classifier's input)."""
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Linear):
        raise ValueError("feature distillation needs a model with .features() and a Linear .classifier")
    return int(classifier.in_features)
