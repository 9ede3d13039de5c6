"""``--precision mixed``: measure each weight layer's sensitivity in TensorFlow Lite Micro and choose, per
layer, among the modes TFLM runs (int8, 4-bit weights, 16x8), trading accuracy against Flash and arena.

1. **Sensitivity.** Every weight layer is switched alone to each of its other modes (the rest int8); the
   model runs in TFLM on a sensitivity set (images the caller holds for it, never the test set) and the
   mean KL divergence of its softmax from the float network's is recorded, with its top-1 accuracy.
   KL is used for ranking because, on a few hundred images, single-layer accuracy deltas are mostly
   noise.
2. **Flash frontier.** TFLM unpacks a 4-bit layer's weights into an arena scratch buffer while the layer runs,
   so on a board a large layer's 4-bit form may not fit the SRAM even alone: each single-layer ``w4`` model's
   arena is measured and a layer whose own does not fit is left out of the frontier (``scratch_fits``).
   The other ``w4`` layers are ordered by KL added per Flash byte saved; the first k of them are made
   4-bit for every k, each model measured (Flash exactly, accuracy on the sensitivity set).
3. **Choice.** The deployed point is the one with the least Flash that is within ``tolerance_pp`` of the
   uniform int8 model and fits the board (when one is given) with its own measured arena: TFLM unpacks 4-bit
   weights into an arena scratch buffer, so 4-bit layers can raise the arena over uniform int8's.
   "Within the tolerance" is decided on the same images, paired: a point is refused only when the 95 %
   interval of its per-image accuracy difference from int8 lies wholly below ``-tolerance_pp``
   (:func:`paired_gap`). On a few hundred images one model's accuracy moves by about a point from sample
   noise alone, so comparing two point estimates against a 0.3 pp margin refused mixes that were as accurate
   as int8 on the test set. When no point within the tolerance fits but uniform int8 does not fit either, the
   most accurate point that fits is deployed and ``reason`` says so; when nothing fits, int8 is kept. Then
   the int8 layers of that point whose ``a16`` mode lowered KL the most are tried on top of it, one at a time
   (at most ``max_a16``), each kept only if both the sensitivity accuracy and the KL improve and the measured
   arena still fits. A 4-bit layer of the choice is not turned 16x8: that would put its weights back to 8 bits
   and undo the Flash the choice saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automcu.hardware.spec import HardwareSpec


@dataclass
class MixedPoint:
    """One measured configuration: the modes of the layers that are not int8, and what it costs."""

    modes: dict[int, str]
    flash_bytes: int
    sens_acc: float
    kl: float
    arena_bytes: int | None = None
    label: str = ""
    correct: np.ndarray | None = field(default=None, repr=False)  # per sensitivity image: top-1 right
    vs_int8: tuple[float, float, float] | None = None  # paired_gap against uniform int8 (pp)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "modes": {str(k): v for k, v in sorted(self.modes.items())},
                "n_w4": sum(m == "w4" for m in self.modes.values()),
                "n_a16": sum(m == "a16" for m in self.modes.values()), "flash_bytes": self.flash_bytes,
                "arena_bytes": self.arena_bytes, "sens_acc": self.sens_acc, "kl": self.kl,
                "vs_int8_pp": rounded_gap(self.vs_int8)}


@dataclass
class MixedChoice:
    tflite: bytes
    chosen: MixedPoint
    int8: MixedPoint
    frontier: list[MixedPoint]
    layers: list[dict[str, Any]]
    a16_tried: list[dict[str, Any]] = field(default_factory=list)
    w4_left_out: list[int] = field(default_factory=list)  # positions whose 4-bit scratch does not fit alone
    n_sensitivity: int = 0
    tolerance_pp: float = 0.0
    seconds: float = 0.0
    fits: bool = True  # the chosen point fits the board with its own arena (True without a board)
    within: bool = True  # the chosen point is within the tolerance of uniform int8 (paired)
    reason: str = ""  # why this point: which rule of step 3 chose it


def paired_gap(correct: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """Accuracy of ``correct`` minus ``reference`` on the same images, in pp, with its 95 % interval
    (normal, on the per-image differences in {-1, 0, 1}): (mean, low, high)."""
    a, b = np.asarray(correct, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("paired_gap needs two equal-length per-image vectors")
    d = a - b
    mean = float(d.mean())
    half = 1.96 * float(d.std(ddof=1)) / float(np.sqrt(len(d))) if len(d) > 1 else 0.0
    return 100.0 * mean, 100.0 * (mean - half), 100.0 * (mean + half)


def rounded_gap(gap: tuple[float, float, float] | None) -> list[float] | None:
    """A :func:`paired_gap` as the reports write it: ``[mean, low, high]`` in pp, 3 decimals."""
    return None if gap is None else [round(v, 3) for v in gap]


def within_tolerance(point: MixedPoint, reference: MixedPoint, tolerance_pp: float) -> bool:
    """False only when the paired 95 % interval of ``point`` minus ``reference`` lies wholly below
    ``-tolerance_pp``: the sensitivity images show it losing more than the user allows. Measured afresh, not
    read from ``point.vs_int8``: the reference may be another network's int8 (the fine-tune's check)."""
    if point.correct is None or reference.correct is None:
        raise ValueError("within_tolerance needs both points' per-image results")
    return bool(paired_gap(point.correct, reference.correct)[2] >= -tolerance_pp)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _kl(p_ref: np.ndarray, logits: np.ndarray) -> float:
    q = np.clip(_softmax(logits), 1e-12, 1.0)
    return float(np.mean(np.sum(p_ref * (np.log(np.clip(p_ref, 1e-12, 1.0)) - np.log(q)), axis=1)))


def board_fit(hardware: HardwareSpec | None, data: bytes, arena: int) -> tuple[bool, bool]:
    """(SRAM fits, Flash fits) of a model's bytes with its measured arena on ``hardware``, counted as the
    bundle's final check counts them (:func:`automcu.deploy.verify.verify_tflite`): the runtime's RAM and code,
    and the scratch the board's optimized kernels add to the arena. Both True without a board."""
    if hardware is None:
        return True, True
    from automcu.deploy.tflm import model_ops
    from automcu.deploy.verify import kernel_scratch_planned, regions

    scratch = kernel_scratch_planned(data, [o.model_dump() for o in model_ops(data)], hardware)
    sram, flash = regions(arena, len(data), hardware, scratch)
    return sram.fits, flash.fits


def choose_mixed(float_tflite: bytes, calibration_nhwc: list[np.ndarray], x_sens: np.ndarray, y_sens: np.ndarray,
                 float_logits: np.ndarray, hardware: HardwareSpec | None = None, tolerance_pp: float = 0.3,
                 max_a16: int = 3, progress: Callable[[str], None] | None = None) -> MixedChoice:
    """Run steps 1-3 of the module docstring on one float model; ``x_sens`` NCHW, normalized."""
    import time

    from automcu.compress.tflm_eval import tflm_logits
    from automcu.deploy.mixed_export import MixedQuantizer
    from automcu.deploy.tflm import smallest_arena

    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    p_ref = _softmax(np.asarray(float_logits, dtype=np.float64))
    mq = MixedQuantizer(float_tflite, calibration_nhwc)
    built: dict[tuple, tuple[bytes, MixedPoint]] = {}

    def measure(modes: dict[int, str], label: str) -> tuple[bytes, MixedPoint]:
        key = tuple(sorted(modes.items()))
        if key not in built:
            data = mq.build(modes)
            logits = tflm_logits(data, x_sens)
            correct = np.argmax(logits, axis=1) == y_sens
            built[key] = (data, MixedPoint(dict(modes), len(data), float(100.0 * np.mean(correct)),
                                           _kl(p_ref, logits), label=label, correct=correct))
        return built[key]

    base_bytes, base = measure({}, "int8")
    base.arena_bytes = smallest_arena(base_bytes)
    layers: list[dict[str, Any]] = []
    for layer in mq.layers:
        row: dict[str, Any] = {"position": layer.position, "kind": layer.kind, "weights": layer.weight_count,
                               "modes": list(layer.modes)}
        for mode in layer.modes:
            if mode == "int8":
                continue
            data, pt = measure({layer.position: mode}, f"{layer.position}:{mode}")
            row[mode] = {"kl_added": pt.kl - base.kl, "acc_delta_pp": pt.sens_acc - base.sens_acc,
                         "flash_saved": base.flash_bytes - pt.flash_bytes}
            if mode == "w4" and hardware is not None:
                pt.arena_bytes = smallest_arena(data)
                row[mode].update(arena_bytes=pt.arena_bytes, scratch_fits=board_fit(hardware, data, pt.arena_bytes)[0])
        layers.append(row)
        say(f"sensitivity {layer.position + 1}/{len(mq.layers)}")

    left_out = [r["position"] for r in layers if "w4" in r and not r["w4"].get("scratch_fits", True)]
    w4 = [r for r in layers if "w4" in r and r["w4"]["flash_saved"] > 0 and r["position"] not in left_out]
    w4.sort(key=lambda r: max(r["w4"]["kl_added"], 0.0) / r["w4"]["flash_saved"])
    frontier = [base]
    modes: dict[int, str] = {}
    for k, r in enumerate(w4, 1):
        modes = {**modes, r["position"]: "w4"}
        data, pt = measure(modes, f"w4 x{k}")
        # each point's own arena (TFLM unpacks 4-bit weights into an arena scratch buffer, so a 4-bit layer can
        # raise the arena over uniform int8's): the frontier is accuracy / Flash / arena
        pt.arena_bytes = smallest_arena(data)
        frontier.append(pt)
        say(f"frontier {k}/{len(w4)}")
    for p in frontier:
        p.vs_int8 = paired_gap(p.correct, base.correct)
    fitting = [p for p in frontier if p.arena_bytes is not None
               and all(board_fit(hardware, built[tuple(sorted(p.modes.items()))][0], p.arena_bytes))]
    chosen, fits, reason = pick_point(base, fitting, tolerance_pp, hardware is not None)
    chosen_bytes = built[tuple(sorted(chosen.modes.items()))][0]

    tried: list[dict[str, Any]] = []
    a16 = [r for r in layers if "a16" in r and r["a16"]["kl_added"] < 0 and r["position"] not in chosen.modes]
    a16.sort(key=lambda r: r["a16"]["kl_added"])
    for r in a16[:max_a16]:
        cand_modes = {**chosen.modes, r["position"]: "a16"}
        data, pt = measure(cand_modes, chosen.label + f" + a16@{r['position']}")
        pt.arena_bytes = smallest_arena(data)
        pt.vs_int8 = paired_gap(pt.correct, base.correct)
        kept = (pt.sens_acc > chosen.sens_acc and pt.kl < chosen.kl
                and all(board_fit(hardware, data, pt.arena_bytes)))
        tried.append({"position": r["position"], "sens_acc": pt.sens_acc, "arena_bytes": pt.arena_bytes,
                      "flash_bytes": pt.flash_bytes, "kept": kept})
        if kept:
            chosen, chosen_bytes = pt, data
            frontier.append(pt)
    within = within_tolerance(chosen, base, tolerance_pp)
    return MixedChoice(chosen_bytes, chosen, base, frontier, layers, tried, left_out, len(x_sens), tolerance_pp,
                       round(time.perf_counter() - t0, 2), fits, within, reason)


def pick_point(base: MixedPoint, fitting: list[MixedPoint], tolerance_pp: float,
               board: bool = True) -> tuple[MixedPoint, bool, str]:
    """Step 3's rule: (the point to deploy, whether it fits, why). ``fitting``: the frontier points that fit the
    board with their own arena (all of them without a board)."""
    accurate = sorted((p for p in fitting if within_tolerance(p, base, tolerance_pp)),
                      key=lambda p: (p.flash_bytes, -p.sens_acc))
    if accurate:  # least Flash first
        if accurate[0] is base:
            return base, True, ("uniform int8: no lower-precision point within the tolerance "
                                + ("fits the board" if board else "saves Flash"))
        return accurate[0], True, "the least Flash within the tolerance that fits"
    if fitting:  # int8 itself does not fit (it would be in `accurate`): the most accurate point that does
        return (max(fitting, key=lambda p: (p.sens_acc, -p.flash_bytes)), True,
                "uniform int8 does not fit the board and no point within the tolerance does: the most accurate "
                "point that fits is deployed, below the tolerance")
    return base, False, "no point of the frontier fits the board: uniform int8 kept, not deployable there"


def refine_replaces(first: MixedChoice, again: MixedChoice, tolerance_pp: float) -> tuple[bool, str]:
    """Whether the choice made on the 4-bit-fine-tuned network (``again``) replaces the first one, and why.

    The fine-tuned choice counts as within the tolerance only when it is, paired on the same images, within it
    of both its own network's uniform int8 and the *original* network's, so the fine-tune never trades more
    accuracy than the user allowed. Choices are ranked by: fits the board, then within the tolerance, then
    least Flash and, at the same Flash, more accurate on the sensitivity images (as :func:`pick_point` orders
    them) within the tolerance, or most accurate below it."""
    again_ok = again.within and within_tolerance(again.chosen, first.int8, tolerance_pp)

    def rank(c: MixedChoice, ok: bool) -> tuple[bool, bool, float, float]:
        return c.fits, ok, -c.chosen.flash_bytes if ok else c.chosen.sens_acc, c.chosen.sens_acc

    used = rank(again, again_ok) > rank(first, first.within)
    saves = again.chosen.flash_bytes < first.chosen.flash_bytes
    if used:
        why = ("it fits the board and the first choice does not" if again.fits and not first.fits
               else "it is within the tolerance and the first choice is not" if again_ok and not first.within
               else "it saves Flash within the tolerance" if again_ok and saves
               else "the same Flash, more accurate on the sensitivity images, within the tolerance" if again_ok
               else "both are below the tolerance and it is more accurate on the sensitivity images")
    else:
        why = ("it does not fit the board" if first.fits and not again.fits
               else "it is below the tolerance of the uniform int8 network on the sensitivity images"
               if first.within and not again_ok
               else "neither less Flash nor, at the same Flash, more accurate than the first choice" if again_ok
               else "not more accurate than the first choice on the sensitivity images")
    return used, why
