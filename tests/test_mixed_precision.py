"""``--precision mixed`` (issue 17): what TensorFlow Lite Micro runs per layer, the estimator's Flash/arena for
each precision against TFLM's, and a digits compress that deploys a mixed model."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tflite_micro")
pytest.importorskip("ai_edge_quantizer")

from automcu.compress.networks import network_graph  # noqa: E402
from automcu.deploy.exporter import export_float_tflite, export_int8, random_calibration, to_nhwc  # noqa: E402
from automcu.deploy.mixed_export import LAYER_MODES, MixedQuantizer, check_modes  # noqa: E402
from automcu.deploy.tflm import TFLMModel, smallest_arena  # noqa: E402
from automcu.hardware.precision import estimate_with_precision, weight_op_indices  # noqa: E402
from search_spaces.mcu.torch_model import build_mcu_model  # noqa: E402

MCU = "C8-N1-S1:|dw_sep_conv_3x3~0|+|nor_conv_1x1~0|dw_sep_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
SHAPE = (1, 16, 16)


@pytest.fixture(scope="module")
def quantizer():
    torch.manual_seed(0)
    model = build_mcu_model(MCU, 1, 10).eval()
    calib = random_calibration(SHAPE, 8, 0)
    float_tflite = export_float_tflite(model, SHAPE)
    nhwc = [s[None] for batch in calib for s in to_nhwc(batch)]
    return model, calib, MixedQuantizer(float_tflite, nhwc)


def _runs(data: bytes) -> bool:
    try:
        m = TFLMModel(data, arena_size=smallest_arena(data))
        m.invoke(np.zeros(m.input_shape, dtype=np.int8))
    except Exception:
        return False
    return True


def test_uniform_build_is_export_int8(quantizer) -> None:
    """build({}) is the same bytes as the uniform int8 export (calibrated on the same images)."""
    model, calib, mq = quantizer
    assert mq.build({}) == export_int8(model, SHAPE, calibration=calib).tflite


def test_layer_order_matches_the_estimator_graph(quantizer) -> None:
    _, _, mq = quantizer
    g = network_graph(MCU, 8, 1, 1, 16, 10)
    kinds = [g.ops[i].kind for i in weight_op_indices(g)]
    assert kinds == [layer.kind for layer in mq.layers]
    assert {layer.kind for layer in mq.layers} == set(LAYER_MODES)


def test_what_tflite_micro_runs_per_layer(quantizer) -> None:
    """The facts LAYER_MODES encodes, re-measured: 4-bit CONV_2D and 16x8 on every kind run in TFLM; a 4-bit
    FULLY_CONNECTED does not allocate; the quantizer makes no 4-bit DEPTHWISE_CONV_2D; check_modes refuses both."""
    _, _, mq = quantizer
    by_kind = {k: [layer.position for layer in mq.layers if layer.kind == k] for k in LAYER_MODES}
    conv, dw, fc = by_kind["CONV_2D"][0], by_kind["DEPTHWISE_CONV_2D"][0], by_kind["FULLY_CONNECTED"][0]
    assert _runs(mq.build({conv: "w4"}))
    for pos in (conv, dw, fc):
        assert _runs(mq.build({pos: "a16"}))
    from ai_edge_quantizer import qtyping

    raw = mq._quantizer({})
    raw.add_static_config("^" + re.escape(mq.layers[fc].scope) + "$",  # type: ignore[attr-defined]
                          qtyping.TFLOperationName.FULLY_CONNECTED, 8, 4)
    fc4 = bytes(raw.quantize(mq._stats).quantized_model)  # type: ignore[attr-defined]
    assert not _runs(fc4)
    raw = mq._quantizer({})
    with pytest.raises(ValueError, match="not found in the policy"):
        raw.add_static_config("^" + re.escape(mq.layers[dw].scope) + "$",  # type: ignore[attr-defined]
                              qtyping.TFLOperationName.DEPTHWISE_CONV_2D, 8, 4)
    for pos, why in ((fc, "fails to allocate"), (dw, "no 4-bit DEPTHWISE")):
        with pytest.raises(ValueError, match=why):
            mq.build({pos: "w4"})
    with pytest.raises(ValueError, match="unknown precision mode"):
        check_modes(mq.layers, {conv: "int2"})
    with pytest.raises(ValueError, match="no weight layer"):
        check_modes(mq.layers, {99: "w4"})


@pytest.mark.parametrize("config", ["int8", "w4_all", "a16_first"])
def test_estimator_knows_each_precision(quantizer, config) -> None:
    """Flash and arena of the estimate for a precision map within 3 % of what TFLM measures."""
    _, _, mq = quantizer
    modes: dict[int, str] = {}
    if config == "w4_all":
        modes = {layer.position: "w4" for layer in mq.layers if "w4" in layer.modes}
    elif config == "a16_first":
        modes = {0: "a16"}
    data = mq.build(modes)
    est = estimate_with_precision(network_graph(MCU, 8, 1, 1, 16, 10), MCU, None, modes)
    flash, arena = len(data), smallest_arena(data)
    assert abs(est.flash["model_total"] - flash) / flash < 0.03, (est.flash["model_total"], flash)  # type: ignore[attr-defined]
    assert abs(est.arena_bytes - arena) / arena < 0.03, (est.arena_bytes, arena)  # type: ignore[attr-defined]
    if config == "w4_all":
        assert flash < 0.8 * len(mq.build({}))


def test_digits_mixed_compress_end_to_end(tmp_path) -> None:
    """`automcu compress --precision mixed` on digits: the deployed model is the mixed one, measured in TFLM,
    with no more Flash than uniform int8, and the report says what each precision costs."""
    from typer.testing import CliRunner

    from automcu.cli.app import app

    out = tmp_path / "mx"
    res = CliRunner().invoke(app, ["compress", "--arch", MCU, "--dataset", "digits", "--board", "STM32F411",
                                   "--epochs", "3", "--precision", "mixed", "--sensitivity-images", "200",
                                   "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    p = report["precision"]
    assert p["mode"] == "mixed" and report["deployed"].startswith("mixed")
    assert p["chosen"]["flash_bytes"] <= p["int8"]["flash_bytes"]
    assert report["flash_bytes"] == p["chosen"]["flash_bytes"] == (out / "model.tflite").stat().st_size
    assert p["sensitivity_source"] in ("validation split", "training images")
    assert p["frontier"][0]["label"] == "int8" and p["frontier"][0]["modes"] == {}
    assert len(p["layers"]) >= 5 and all(row["modes"][0] == "int8" for row in p["layers"])
    assert p["estimate"]["flash_model_bytes"] > 0 and p["chosen"]["latency_ms"] is not None
    assert report["fits"] is True and p["chosen"]["fits"] is True and p["chosen"]["reason"]
    lo_hi = p["chosen"]["vs_int8_pp"]  # the paired gap to int8 on the sensitivity images, with its interval
    assert len(lo_hi) == 3 and lo_hi[1] <= lo_hi[0] <= lo_hi[2]
    assert p["chosen"]["within_tolerance"] is (lo_hi[2] >= -p["tolerance_pp"])
    md = (out / "report.md").read_text()
    assert "## Mixed precision" in md and "uniform int8" in md and "paired" in md
    resolution = p["chosen"]["resolution"]  # 200 images cannot resolve 0.3 pp unless the two models agree
    assert (resolution is None) is (lo_hi[2] - lo_hi[1] <= 2 * p["tolerance_pp"])
    assert ("cannot be told from noise" in md) is (resolution is not None)


def test_bad_precision_is_refused_before_training(tmp_path) -> None:
    from typer.testing import CliRunner

    from automcu.cli.app import app
    from automcu.compress.precision import PrecisionError, check_precision_supported

    check_precision_supported("int8")
    check_precision_supported("mixed")
    with pytest.raises(PrecisionError, match="int8 or mixed"):
        check_precision_supported("int4")
    res = CliRunner().invoke(app, ["compress", "--arch", MCU, "--dataset", "digits", "--precision", "mixed",
                                   "--mixed-tolerance", "-1", "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "mixed-tolerance" in res.output
    assert not (tmp_path / "x").exists()


def test_torch_layers_match_the_tflite_weight_layers(quantizer) -> None:
    """Every weight op of the .tflite (dw-sep edges included) has its torch module, in execution order."""
    from automcu.compress.mixed_qat import executed_weight_modules, match_layers

    model, _, mq = quantizer
    matched = match_layers(executed_weight_modules(model, SHAPE), mq.layers)
    assert sorted(matched) == [layer.position for layer in mq.layers]
    kinds = {layer.kind for layer in mq.layers}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= kinds
    with pytest.raises(ValueError, match="conv/linear layers"):
        match_layers(executed_weight_modules(model, SHAPE)[1:], mq.layers)


#: an arch whose cell edges 2<-0 / 1<-0 and 3<-1 / 3<-2 the converter runs in another order than torch does
REORDERED = "C16-N1-S1:|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|"


def test_layers_are_matched_by_their_weights_when_the_converter_reorders_edges() -> None:
    """The 4-bit-aware fine-tune needs each .tflite layer's torch module; matched by the weights each layer
    carries (BatchNorm folded, so per channel up to scale), not by position, and a wrong pairing is refused."""
    from automcu.compress.mixed_qat import MIN_ALIGNMENT, alignment, executed_weight_modules, match_layers
    from automcu.deploy.mixed_export import weight_arrays, weight_layers

    torch.manual_seed(1)
    model = build_mcu_model(REORDERED, 1, 10)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):  # BatchNorm statistics away from the identity, so folding rescales the weights
        loss = model(torch.randn(16, *SHAPE)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    float_tflite = export_float_tflite(model, SHAPE)
    layers = weight_layers(float_tflite)
    weights = weight_arrays(float_tflite, layers)
    assert [w.shape for w in weights] == [w.shape for w in weight_arrays(float_tflite)]  # the same list either way
    modules = executed_weight_modules(model, SHAPE)
    matched = match_layers(modules, layers, weights)
    assert sorted(matched) == [layer.position for layer in layers]
    assert len({id(m) for m in matched.values()}) == len(modules)  # one module per layer
    for layer, w in zip(layers, weights, strict=True):
        assert alignment(matched[layer.position], layer, w) >= MIN_ALIGNMENT, layer.label()
    # two layers of one kind and shape: each refuses the other's module
    same = [(a, b) for a in layers for b in layers
            if a.position < b.position and (a.kind, a.weight_shape) == (b.kind, b.weight_shape)]
    assert same
    a, b = same[0]
    assert alignment(matched[b.position], a, weights[a.position]) < 0.9
    with pytest.raises(ValueError, match="none of the network's"):
        match_layers(modules, layers, [weights[k] if k != a.position else weights[b.position]
                                       for k in range(len(layers))])


def test_w4_finetune_leaves_the_chosen_layers_on_the_4bit_grid(quantizer) -> None:
    from automcu.compress.mixed_qat import executed_weight_modules, finetune_w4, on_grid

    model, _, mq = quantizer
    modules = executed_weight_modules(model, SHAPE)
    w4 = [modules[layer.position] for layer in mq.layers if "w4" in layer.modes]
    rng = torch.Generator().manual_seed(0)

    def train(m) -> None:  # type: ignore[no-untyped-def]
        opt = torch.optim.SGD(m.parameters(), lr=0.01)
        m.train()
        for _ in range(3):
            loss = m(torch.randn(8, *SHAPE, generator=rng)).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    tuned = finetune_w4(model, w4, train)
    tuned_mods = executed_weight_modules(tuned, SHAPE)
    for layer in mq.layers:
        w = tuned_mods[layer.position].weight
        assert on_grid(w, 4) == ("w4" in layer.modes), layer.label()  # 4-bit ones on the 4-bit grid only
        assert on_grid(w, 4 if "w4" in layer.modes else 8), layer.label()  # the others on their int8 grid
    assert not on_grid(modules[0].weight, 4)  # the original network is untouched


def test_digits_mixed_qat_finetunes_the_4bit_layers(tmp_path) -> None:
    """`--precision mixed --qat`: the 4-bit-aware fine-tune runs, and what it did (used or why not) is reported;
    the deployed model is whichever choice was kept, measured in TFLM."""
    from typer.testing import CliRunner

    from automcu.cli.app import app

    out = tmp_path / "mq"
    res = CliRunner().invoke(app, ["compress", "--arch", MCU, "--dataset", "digits", "--board", "STM32F411",
                                   "--epochs", "3", "--qat", "--qat-epochs", "1", "--precision", "mixed",
                                   "--sensitivity-images", "200", "--out", str(out), "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    p, ft = report["precision"], report["precision"]["w4_finetune"]
    assert report["deployed"] == "mixed+qat" and ft["layers_trained_4bit"] > 0 and ft["epochs"] == 1
    assert ft["after"]["flash_bytes"] > 0 and ft["first_choice"]["flash_bytes"] >= p["chosen"]["flash_bytes"]
    if ft["used"]:
        assert p["chosen"]["flash_bytes"] == ft["after"]["flash_bytes"] <= ft["first_choice"]["flash_bytes"]
        assert (ft["after"]["flash_bytes"] < ft["first_choice"]["flash_bytes"]  # less Flash, or as much and
                or ft["after"]["sens_acc"] > ft["first_choice"]["sens_acc"])  # more accurate (refine_replaces)
        assert ft["after"]["vs_first_int8_pp"][2] >= -p["tolerance_pp"]  # within the tolerance of the first int8
        assert p["chosen"]["vs_int8_pp"][2] >= -p["tolerance_pp"]  # and of its own
    else:
        assert ft["why"] and p["chosen"]["flash_bytes"] == ft["first_choice"]["flash_bytes"]
    assert report["flash_bytes"] == p["chosen"]["flash_bytes"] == (out / "model.tflite").stat().st_size


def test_the_chosen_mix_fits_the_board_with_its_own_arena(quantizer) -> None:
    """4-bit layers raise the arena (TFLM unpacks their weights into an arena scratch buffer): on a board whose
    SRAM holds uniform int8's arena but not the all-4-bit one's, the choice is a mix that fits, measured."""
    from automcu.compress.mixed import board_fit, choose_mixed
    from automcu.hardware.catalog import resolve_hardware

    model, calib, _ = quantizer
    float_tflite = export_float_tflite(model, SHAPE)
    nhwc = [s[None] for batch in calib for s in to_nhwc(batch)]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, *SHAPE)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    free = choose_mixed(float_tflite, nhwc, x, y, logits, None, tolerance_pp=100.0, max_a16=0)
    a8, a4 = free.int8.arena_bytes, free.chosen.arena_bytes
    assert "w4" in free.chosen.modes.values() and a4 is not None and a8 is not None and a4 > a8  # the unpack scratch
    hw = resolve_hardware("STM32F411")
    hw = resolve_hardware("STM32F411", sram_kb=hw.runtime_sram_kb + (a8 + a4) / 2 / 1024)
    tight = choose_mixed(float_tflite, nhwc, x, y, logits, hw, tolerance_pp=100.0, max_a16=0)
    assert tight.chosen.arena_bytes is not None and tight.chosen.arena_bytes <= (a8 + a4) / 2
    assert all(board_fit(hw, tight.tflite, tight.chosen.arena_bytes))
    assert not all(board_fit(hw, free.tflite, a4))  # the unconstrained choice would not have fitted
    # a layer whose 4-bit scratch does not fit even alone is left out of the frontier; the others still save Flash
    rows = {r["position"]: r["w4"] for r in tight.layers if "w4" in r}
    assert tight.w4_left_out and not free.w4_left_out
    assert all(rows[p]["scratch_fits"] is False and rows[p]["arena_bytes"] > a8 for p in tight.w4_left_out)
    assert all(p not in tight.w4_left_out for pt in tight.frontier for p, m in pt.modes.items() if m == "w4")
    assert "w4" in tight.chosen.modes.values() and tight.chosen.flash_bytes < tight.int8.flash_bytes
