/* Small SVG charts for the dashboard: scatter + lines, linear axes, limit lines, a rug of points
   without a y value (infeasible candidates: never trained), and hover tooltips. No dependencies. */
"use strict";
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, parent) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceStep(span, n) {
    const raw = span / Math.max(1, n);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  }

  function ticks(lo, hi, n) {
    const step = niceStep(hi - lo || 1, n);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }

  function domain(values, pad) {
    let lo = Math.min(...values), hi = Math.max(...values);
    if (!isFinite(lo)) return [0, 1];
    if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
    const p = (hi - lo) * pad;
    return [lo - p, hi + p];
  }

  const tooltip = () => document.getElementById("tooltip");
  function hover(node, html) {
    node.addEventListener("mouseenter", (ev) => {
      const t = tooltip();
      t.innerHTML = html;
      t.hidden = false;
      t.style.left = `${ev.clientX + 14}px`;
      t.style.top = `${ev.clientY + 14}px`;
    });
    node.addEventListener("mousemove", (ev) => {
      const t = tooltip();
      t.style.left = `${ev.clientX + 14}px`;
      t.style.top = `${ev.clientY + 14}px`;
    });
    node.addEventListener("mouseleave", () => { tooltip().hidden = true; });
  }

  function marker(g, kind, x, y, r, color) {
    if (kind === "x") {
      const s = r * 0.9;
      const grp = el("g", { class: "mk-x", stroke: color, "stroke-width": 2 }, g);
      el("line", { x1: x - s, y1: y - s, x2: x + s, y2: y + s }, grp);
      el("line", { x1: x - s, y1: y + s, x2: x + s, y2: y - s }, grp);
      el("circle", { cx: x, cy: y, r: r + 2, fill: "transparent", stroke: "none" }, grp);
      return grp;
    }
    if (kind === "star") {
      const pts = [];
      for (let i = 0; i < 10; i++) {
        const a = -Math.PI / 2 + (i * Math.PI) / 5, rr = i % 2 ? r * 0.45 : r;
        pts.push(`${x + rr * Math.cos(a)},${y + rr * Math.sin(a)}`);
      }
      return el("polygon", { points: pts.join(" "), fill: color, stroke: "#222", "stroke-width": 1, class: "mk-star" }, g);
    }
    return el("circle", { cx: x, cy: y, r, fill: color, "fill-opacity": 0.75, stroke: "#fff", "stroke-width": 1,
      class: "mk-dot" }, g);
  }

  /* spec: {xLabel, yLabel, xFmt, yFmt, series: [{name, color, points: [{x, y, tip, marker, r}], line: "step"|"line"|null,
           legend: bool}], rug: [{x, tip, color}], vlines: [{x, label, color}]} */
  function draw(svg, spec) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = svg.clientWidth || 760, H = svg.clientHeight || 320;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const rug = spec.rug || [];
    const m = { l: 62, r: 18, t: 16, b: 46 + (rug.length ? 24 : 0) };
    const pw = W - m.l - m.r, ph = H - m.t - m.b;
    const pts = spec.series.flatMap((s) => s.points.filter((p) => p.y != null && p.x != null));
    if (!pts.length && !rug.length) {
      el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, svg).textContent =
        spec.empty || "no data yet";
      return;
    }
    const xs = [...pts.map((p) => p.x), ...rug.map((p) => p.x), ...(spec.vlines || []).map((v) => v.x)];
    const [x0, x1] = domain(xs, 0.05);
    const [y0, y1] = pts.length ? domain(pts.map((p) => p.y), 0.08) : [0, 100];
    const sx = (v) => m.l + ((v - x0) / (x1 - x0)) * pw;
    const sy = (v) => m.t + ph - ((v - y0) / (y1 - y0)) * ph;
    const xFmt = spec.xFmt || ((v) => `${v}`), yFmt = spec.yFmt || ((v) => `${v}`);

    const axes = el("g", { class: "axes" }, svg);
    for (const t of ticks(x0, x1, Math.max(2, Math.floor(pw / 90)))) {
      el("line", { x1: sx(t), x2: sx(t), y1: m.t, y2: m.t + ph, class: "grid" }, axes);
      el("text", { x: sx(t), y: H - m.b + 16 + (rug.length ? 24 : 0), "text-anchor": "middle" }, axes).textContent = xFmt(t);
    }
    for (const t of ticks(y0, y1, Math.max(2, Math.floor(ph / 50)))) {
      el("line", { x1: m.l, x2: m.l + pw, y1: sy(t), y2: sy(t), class: "grid" }, axes);
      el("text", { x: m.l - 6, y: sy(t) + 4, "text-anchor": "end" }, axes).textContent = yFmt(t);
    }
    el("rect", { x: m.l, y: m.t, width: pw, height: ph, class: "frame" }, axes);
    el("text", { x: m.l + pw / 2, y: H - 6, "text-anchor": "middle", class: "label" }, axes).textContent = spec.xLabel || "";
    el("text", { x: 14, y: m.t + ph / 2, "text-anchor": "middle", class: "label",
      transform: `rotate(-90 14 ${m.t + ph / 2})` }, axes).textContent = spec.yLabel || "";

    for (const v of spec.vlines || []) {
      if (v.x < x0 || v.x > x1) continue;
      el("line", { x1: sx(v.x), x2: sx(v.x), y1: m.t, y2: m.t + ph + (rug.length ? 24 : 0), class: "limit",
        stroke: v.color || "#c0392b" }, svg);
      el("text", { x: sx(v.x) - 4, y: m.t + 12, "text-anchor": "end", class: "limit-label",
        fill: v.color || "#c0392b" }, svg).textContent = v.label || "";
    }

    if (rug.length) {
      const ry = m.t + ph + 14;
      el("text", { x: m.l - 6, y: ry + 4, "text-anchor": "end", class: "rug-label" }, svg).textContent = "infeasible";
      const g = el("g", { class: "rug" }, svg);
      for (const p of rug) hover(marker(g, "x", sx(p.x), ry, 4, p.color || "#c0392b"), p.tip || "");
    }

    for (const s of spec.series) {
      const line = s.points.filter((p) => p.y != null && p.x != null);
      if (s.line && line.length > 1) {
        let d = `M${sx(line[0].x)},${sy(line[0].y)}`;
        for (let i = 1; i < line.length; i++) {
          d += s.line === "step" ? `H${sx(line[i].x)}V${sy(line[i].y)}` : `L${sx(line[i].x)},${sy(line[i].y)}`;
        }
        el("path", { d, fill: "none", stroke: s.color, "stroke-width": s.width || 2, class: "series-line" }, svg);
      }
    }
    for (const s of spec.series) {
      if (s.markers === false) continue;
      const g = el("g", { class: `series ${s.cls || ""}` }, svg);
      for (const p of s.points) {
        if (p.y == null || p.x == null) continue;
        const node = marker(g, p.marker || "dot", sx(p.x), sy(p.y), p.r || 4.5, p.color || s.color);
        if (p.tip) hover(node, p.tip);
      }
    }

    const named = spec.series.filter((s) => s.legend);
    if (named.length) {
      const g = el("g", { class: "legend" }, svg);
      named.forEach((s, i) => {
        const y = m.t + ph - 8 - (named.length - 1 - i) * 16, x = m.l + pw - 8;
        el("rect", { x: x - 10, y: y - 8, width: 10, height: 10, fill: s.color }, g);
        el("text", { x: x - 14, y: y + 1, "text-anchor": "end" }, g).textContent = s.name;
      });
    }
  }

  return { draw };
})();
