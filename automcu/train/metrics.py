"""Accuracy of a torch classifier on normalized NCHW arrays, batched, without gradients."""

from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def predict_logits(model: torch.nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    was_training = model.training
    model.eval()
    outs = [model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size]))).numpy()
            for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def accuracy_pct(logits: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    if len(y) == 0:
        raise ValueError("accuracy of an empty set")
    return float(100.0 * np.mean(np.argmax(logits, axis=1) == np.asarray(y)))


def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    return accuracy_pct(predict_logits(model, x, batch_size), y)
