"""The hand-designed baseline network: a DS-CNN (MLPerf Tiny style), width-scaled to a board.

:class:`DSCNN` (:mod:`search_spaces.baselines.dscnn_torch`) is the torch network of a
:class:`~search_spaces.baselines.dscnn.DSCNNSpec`; it trains with :func:`automcu.train.loop.train_model`
and exports with :func:`automcu.deploy.exporter.export_int8` like any searched network.
:func:`build_baseline` scales it to a board's SRAM/Flash with the estimator.
Importing this module imports torch.
"""

from __future__ import annotations

from automcu.hardware.baseline import scale_dscnn
from automcu.hardware.estimator import Estimate
from automcu.hardware.spec import HardwareSpec
from search_spaces.baselines.dscnn import DSCNNSpec
from search_spaces.baselines.dscnn_torch import DSCNN, DSBlock


def build_baseline(hardware: HardwareSpec, in_ch: int = 1, hw: int = 28, classes: int = 10,
                   margin: float = 0.05) -> tuple[DSCNN, DSCNNSpec, Estimate]:
    """The widest DS-CNN that fits ``hardware`` (estimated, ``margin`` below the limits): the untrained
    network (default PyTorch init), its spec and its estimate on that board."""
    spec, est = scale_dscnn(hardware, in_ch=in_ch, hw=hw, classes=classes, margin=margin)
    return DSCNN(spec, in_ch=in_ch, classes=classes), spec, est


__all__ = ["DSCNN", "DSBlock", "build_baseline"]
