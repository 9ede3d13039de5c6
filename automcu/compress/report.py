"""``report.md``: the compress result for a person (``report.json`` carries the same figures)."""

from __future__ import annotations

from typing import Any


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f} %"


def _pp(v: float | None) -> str:
    return "—" if v is None else f"{v:+.2f} pp"


def kd_loss_note(kd_gain: float | None) -> str | None:
    """What to tell the user when the student did worse with its teacher than without (same epochs and seed).

    Measured in ``benchmarks/results/compress_quality.md``: distilling a 93.5 % teacher helps a C=8 or C=4
    student by a few tenths of a point, but costs a C=2 student accuracy (the capacity gap)."""
    if kd_gain is None or kd_gain >= 0:
        return None
    return (f"the same student trained without the teacher scored {-kd_gain:.2f} pp higher: a student this small "
            "may not be able to follow this teacher (the capacity gap). The deployed model is still the distilled "
            "one; rerun without --teacher, or with a teacher closer to the student's size")


def _vs_estimate(what: str, measured: int, estimated: int | None, est_label: str) -> str:
    """Measured against the estimator's figure for the same thing (model vs model, arena vs arena)."""
    if estimated is None:
        return f"- {what} {measured:,} B"
    diff = 100.0 * (estimated - measured) / measured if measured else 0.0
    return f"- {what} {measured:,} B; {est_label} {estimated:,} B ({diff:+.1f} %)"


def report_markdown(r: dict[str, Any]) -> str:
    lines = [f"# automcu compress: {r['dataset']} on {r.get('board') or 'no board'}", "",
             f"- arch `{r['arch']}` (index {r['index']}), macro {r['macro']}",
             f"- data: {r['samples']['train']} training images, accuracy on {r['samples']['test']} test images",
             f"- deployed model: **{r['deployed']}** int8 (`model.tflite`, {r['flash_bytes']:,} B)", "",
             "## Accuracy", "", "| model | accuracy | vs float |", "|---|---|---|",
             f"| float (torch) | {_pct(r['float_acc'])} | |",
             f"| int8 PTQ (TFLite Micro) | {_pct(r['ptq']['int8_acc'])} | {_pp(-r['ptq']['drop_pp'])} |"]
    if r.get("qat"):
        q = r["qat"]
        lines.append(f"| int8 QAT (TFLite Micro) | {_pct(q['int8_acc'])} | {_pp(-q['drop_pp'])} |")
    lines.append("")
    lines.append(f"int8 accuracies are measured by running `model.tflite` in the TensorFlow Lite Micro interpreter "
                 f"on the test images (source: `{r['int8_acc_source']}`).")
    kd = r.get("kd")
    if kd:
        lines += ["", "## Knowledge distillation", "",
                  f"- teacher: {kd['teacher'].get('arch')} ({kd['teacher']['kind']}), "
                  f"test accuracy {_pct(kd['teacher'].get('test_acc'))}",
                  f"- student with KD: {_pct(kd['student_kd_acc'])}; without KD (same epochs, seed): "
                  f"{_pct(kd.get('student_no_kd_acc'))}; gain {_pp(kd.get('kd_gain'))}",
                  f"- loss: (1-α)·CE + α·T²·KL, T={kd['temperature']}, α={kd['alpha']}, cosine feature β={kd['beta']}"]
        note = kd_loss_note(kd.get("kd_gain"))
        if note:
            lines.append(f"- **KD lowered accuracy here**: {note}.")
    prec = r.get("precision")
    if prec and prec.get("chosen"):
        lines += _precision_lines(prec)
    lines += ["", "## Memory and speed", "",
              _vs_estimate("Flash: model (`model.tflite`, measured)", r["flash_bytes"],
                           r["estimate"].get("flash_model_bytes"), "estimated model"),
              _vs_estimate("SRAM: smallest TFLM arena (measured)", r["arena_bytes"],
                           r["estimate"].get("arena_bytes"), "estimated arena"),
              f"- latency (estimated, {r.get('board') or 'no board'}): {r['latency_ms']:.2f} ms"]
    for msg in r.get("messages", []):  # per region: model/arena + runtime = total against the board's limit
        lines.append(f"- {msg}")
    if not r.get("messages"):
        lines.append("- no board given: the runtime's code and RAM are not counted, no limit to compare with")
    if r.get("fits") is not None:
        lines.append(f"- **{'fits' if r['fits'] else 'does NOT fit'}** on {r['board']}")
    lines += ["", "## Files", ""]
    lines += [f"- `{name}`" for name in r["artifacts"]]
    lines += ["", "## Time", ""]
    lines += [f"- {stage}: {sec:.1f} s" for stage, sec in r["seconds"].items()]
    return "\n".join(lines) + "\n"


def _precision_lines(p: dict[str, Any]) -> list[str]:
    c, b = p["chosen"], p["int8"]
    out = ["", "## Mixed precision", "",
           f"Per-layer sensitivity measured in TFLite Micro on {p['sensitivity_images']} {p['sensitivity_source']}; "
           f"tolerance {p['tolerance_pp']:g} pp, paired on those images. Deployed: "
           f"{c.get('reason') or 'the least Flash within the tolerance'} "
           f"({c['n_w4']} layer(s) with 4-bit weights, {c['n_a16']} in 16x8"
           + (", {:+.2f} pp [{:+.2f}, {:+.2f}] against uniform int8 there".format(*c["vs_int8_pp"])
              if c.get("vs_int8_pp") else "") + ").", "",
           "| model | test accuracy (TFLM) | Flash (model) | arena |", "|---|---|---|---|",
           f"| uniform int8 | {_pct(b['acc'])} | {b['flash_bytes']:,} B | {b['arena_bytes']:,} B |",
           f"| mixed (deployed) | {_pct(c['acc'])} | {c['flash_bytes']:,} B | {c['arena_bytes']:,} B |", "",
           "Frontier (sensitivity images): " + "; ".join(
               f"{pt['label']}: {pt['flash_bytes']:,} B, {pt['sens_acc']:.2f} %" for pt in p.get("frontier", []))
           + "."]
    res = c.get("resolution")
    if res:
        more = res["images_for_tolerance"]
        out.append(f"On {p['sensitivity_images']} images the paired interval is ±{res['half_width_pp']:.2f} pp, "
                   f"wider than the {p['tolerance_pp']:g} pp tolerance: a loss of up to about "
                   f"{res['undetectable_loss_pp']:.2f} pp cannot be told from noise there"
                   + (f"; about {more:,} images (`--sensitivity-images`) would resolve the tolerance" if more else "")
                   + ". The test accuracy above is the measured one.")
    est = p.get("estimate")
    if est:
        out.append(f"Estimator for the deployed precision: model {est['flash_model_bytes']:,} B, arena "
                   f"{est['arena_bytes']:,} B, latency {est['latency_ms']:.2f} ms ({'; '.join(est['left_out'])}).")
    return out
