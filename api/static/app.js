/* AutoMCU dashboard: talks to /api/v1 with the token kept in sessionStorage. Only reads, except
   "Start search" (POST /jobs) and "Cancel job" (POST /jobs/{id}/cancel). */
"use strict";
const API = "/api/v1";
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("automcu.token"), boards: [], jobsOffset: 0, jobsTotal: 0, selected: null,
  job: null, cands: [], stream: null, lastEventId: 0, refreshTimer: null, cSort: "eval_order", cOffset: 0,
  compare: new Set(), jobsTimer: null,
};

// ----- helpers -----------------------------------------------------------------------------------
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
function kb(bytes) {
  if (bytes == null) return "–";
  return bytes >= 1024 * 1024 ? `${(bytes / 1048576).toFixed(2)} MB` : `${(bytes / 1024).toFixed(1)} KB`;
}
const num = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : +v.toPrecision(3)).toString();
const ms = (v) => (v == null ? "–" : `${v.toFixed(v < 10 ? 2 : 1)} ms`);
const pct = (v) => (v == null ? "–" : v.toFixed(2));
const shortArch = (a) => esc(a).replace(/\|\+\|/g, "|+<wbr>|");
const AXES = {
  flash_bytes: { label: "Flash (KB: int8 model + runtime code)", scale: 1 / 1024, unit: kb,
    limit: (j) => (j.hardware ? j.hardware.flash_kb * 1024 : null) },
  peak_sram_bytes: { label: "peak SRAM (KB: tensor arena + runtime)", scale: 1 / 1024, unit: kb,
    limit: (j) => (j.hardware ? j.hardware.sram_kb * 1024 : null) },
  latency_ms: { label: "latency (ms)", scale: 1, unit: ms, limit: (j) => j.max_latency_ms },
};

async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}), Authorization: `Bearer ${state.token}` };
  if (opts.body) headers["Content-Type"] = "application/json";
  const r = await fetch(API + path, { ...opts, headers });
  if (r.status === 401) { signOut("your token was not accepted; sign in again"); throw new Error("unauthorized"); }
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) {
    const msg = data?.message || (typeof data?.detail === "string" ? data.detail : JSON.stringify(data?.detail));
    throw new Error(msg || `HTTP ${r.status}`);
  }
  return data;
}

async function allCandidates(id) {
  const out = [];
  for (let offset = 0; ; offset += 500) {
    const page = await api(`/jobs/${id}/candidates?limit=500&offset=${offset}`);
    out.push(...page.items);
    if (out.length >= page.total || !page.items.length) return out;
  }
}

// ----- sign in -----------------------------------------------------------------------------------
async function signIn(token) {
  state.token = token;
  const r = await fetch(`${API}/jobs?limit=1`, { headers: { Authorization: `Bearer ${token}` } });
  if (!r.ok) { state.token = null; throw new Error(r.status === 401 ? "token not accepted" : `HTTP ${r.status}`); }
  sessionStorage.setItem("automcu.token", token);
  await start();
}

function signOut(message) {
  sessionStorage.removeItem("automcu.token");
  state.token = null;
  stopStream();
  clearInterval(state.jobsTimer);
  $("app").hidden = true;
  $("signin").hidden = false;
  $("who").innerHTML = "";
  $("signin-error").textContent = message || "";
}

async function start() {
  $("signin").hidden = true;
  $("app").hidden = false;
  $("who").innerHTML = `signed in <button id="signout" class="secondary">Sign out</button>`;
  $("signout").onclick = () => signOut();
  await loadBoards();
  await loadJobs();
  state.jobsTimer = setInterval(() => loadJobs().catch(() => {}), 3000);
}

// ----- new job form ------------------------------------------------------------------------------
async function loadBoards() {
  const { items } = await api("/boards");
  state.boards = items;
  const sel = $("f-board");
  sel.innerHTML = `<option value="">none (unconstrained)</option>` +
    items.map((b) => `<option value="${esc(b.name)}">${esc(b.name)}</option>`).join("") +
    `<option value="__custom">custom spec…</option>`;
  const f746 = items.find((b) => b.name.toLowerCase() === "stm32f746");
  if (f746) sel.value = f746.name;
  showLimits();
}

function showLimits() {
  const v = $("f-board").value;
  $("custom-hw").hidden = v !== "__custom";
  const b = state.boards.find((x) => x.name === v);
  $("board-limits").innerHTML = b
    ? `<b>${esc(b.vendor)} ${esc(b.name)}</b>: SRAM ${b.sram_kb} KB · Flash ${b.flash_kb} KB · ${b.clock_mhz} MHz ${esc(b.core)}` +
      (b.runtime_flash_kb ? ` · runtime ${b.runtime_flash_kb} KB Flash / ${b.runtime_sram_kb} KB SRAM` : "")
    : v === "__custom" ? "your own limits" : "no hardware limits: accuracy only";
}

async function submitJob(ev) {
  ev.preventDefault();
  $("form-error").textContent = "";
  const body = { dataset: $("f-dataset").value, budget: +$("f-budget").value, proposer: $("f-proposer").value,
    seed: +$("f-seed").value || 0 };
  const task = $("f-task").value.trim();
  if (task) body.task = task;
  if ($("f-latency").value) body.max_latency_ms = +$("f-latency").value;
  const board = $("f-board").value;
  if (board === "__custom") {
    body.hardware = { sram_kb: +$("f-sram").value || null, flash_kb: +$("f-flash").value || null,
      clock_mhz: +$("f-clock").value || null, core: $("f-core").value };
  } else if (board) body.board = board;
  $("submit-job").disabled = true;
  try {
    const { id } = await api("/jobs", { method: "POST", body: JSON.stringify(body) });
    state.jobsOffset = 0;
    await loadJobs();
    await selectJob(id);
  } catch (e) {
    $("form-error").textContent = e.message;
  } finally {
    $("submit-job").disabled = false;
  }
}

// ----- jobs list ---------------------------------------------------------------------------------
const PAGE = 12;
async function loadJobs() {
  const { items, total } = await api(`/jobs?limit=${PAGE}&offset=${state.jobsOffset}`);
  state.jobsTotal = total;
  $("jobs").querySelector("tbody").innerHTML = items.map((j) => `
    <tr data-id="${esc(j.id)}" class="${j.id === state.selected ? "sel" : ""}">
      <td><input type="checkbox" class="cmp" value="${esc(j.id)}" ${state.compare.has(j.id) ? "checked" : ""}
        aria-label="compare ${esc(j.id)}"></td>
      <td class="mono">${esc(j.id)}<div class="muted small">${esc(j.dataset)}${j.owner ? " · " + esc(j.owner) : ""}</div></td>
      <td>${esc(j.board || "—")}</td>
      <td><span class="badge ${esc(j.status)}">${esc(j.status)}</span></td>
      <td>${j.n_evaluated}/${j.budget}</td></tr>`).join("") || `<tr><td colspan="5" class="muted">no jobs yet</td></tr>`;
  $("jobs-page").textContent = total ? `${state.jobsOffset + 1}–${Math.min(total, state.jobsOffset + PAGE)} of ${total}` : "";
  $("jobs-prev").disabled = state.jobsOffset === 0;
  $("jobs-next").disabled = state.jobsOffset + PAGE >= total;
}

function onJobsClick(ev) {
  const box = ev.target.closest("input.cmp");
  if (box) {
    box.checked ? state.compare.add(box.value) : state.compare.delete(box.value);
    $("compare-btn").disabled = state.compare.size < 2;
    return;
  }
  const row = ev.target.closest("tr[data-id]");
  if (row) selectJob(row.dataset.id);
}

// ----- one job -----------------------------------------------------------------------------------
async function selectJob(id) {
  stopStream();
  state.selected = id;
  state.cOffset = 0;
  state.lastEventId = 0;
  $("events").innerHTML = "";
  $("empty").hidden = true;
  $("compare").hidden = true;
  $("job").hidden = false;
  document.querySelectorAll("#jobs tr[data-id]").forEach((r) => r.classList.toggle("sel", r.dataset.id === id));
  await refreshJob();
  openStream(id);
}

async function refreshJob() {
  const id = state.selected;
  if (!id) return;
  const [job, cands] = await Promise.all([api(`/jobs/${id}`), allCandidates(id)]);
  if (id !== state.selected) return;
  state.job = job;
  state.cands = cands;
  renderJob(job);
  renderWinner(job);
  drawPareto();
  drawCurve();
  await loadCandTable();
}

function scheduleRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    refreshJob().catch(() => {});
    loadJobs().catch(() => {});
  }, 600);
}

function hwText(job) {
  const h = job.hardware;
  if (!h) return "unconstrained";
  return `${esc(h.name)}: SRAM ${h.sram_kb} KB · Flash ${h.flash_kb} KB · ${h.clock_mhz} MHz ${esc(h.core)}`;
}

function taskSpecText(ts) {  // what the planner's first step derived from the task text (explicit fields won)
  if (!ts) return "";
  const keys = ["dataset", "board", "sram_kb", "flash_kb", "clock_mhz", "core", "max_latency_ms"];
  const got = keys.filter((k) => ts[k] !== null && ts[k] !== undefined).map((k) => `${k} ${esc(ts[k])}`);
  const notes = (ts.notes || []).map(esc).join("; ");
  return `<div class="task">derived from the task: ${got.length ? got.join(" · ") : "nothing"}` +
    (notes ? ` <span class="small">(${notes})</span>` : "") + "</div>";
}

function renderJob(j) {
  $("j-id").textContent = j.id;
  const st = $("j-status");
  st.textContent = j.status;
  st.className = `badge ${j.status}`;
  $("j-spec").innerHTML = `<span>${esc(j.dataset)}</span><span>${hwText(j)}</span>` +
    (j.max_latency_ms ? `<span>latency ≤ ${j.max_latency_ms} ms</span>` : "") +
    `<span>budget ${j.budget}</span><span>proposer ${esc(j.proposer_used || j.proposer)}</span><span>seed ${j.seed}</span>` +
    (j.task ? `<div class="task">“${esc(j.task)}”</div>` : "") + taskSpecText(j.task_spec);
  $("j-bar").style.width = `${Math.min(100, (100 * j.n_evaluated) / j.budget)}%`;
  $("j-counts").innerHTML = `<b>${j.n_evaluated}</b> of ${j.budget} evaluated · <b>${j.n_infeasible}</b> rejected as infeasible ` +
    `(never trained) · ${j.n_proposed} proposed · simulated training ${(j.simulated_train_seconds / 3600).toFixed(1)} GPU-h · ` +
    `wall ${j.wall_seconds.toFixed(1)} s`;
  $("j-reason").textContent = j.error ? `error: ${j.error}` : j.stop_reason ? `stopped: ${j.stop_reason}` :
    j.cancel_requested ? "cancel requested…" : "";
  $("cancel-btn").hidden = TERMINAL.has(j.status) || j.cancel_requested;
}

function usage(value, limit, fmt) {
  if (value == null) return "–";
  if (!limit) return fmt(value);
  const left = limit - value;
  return `${fmt(value)} <span class="muted">of ${fmt(limit)} · ${left >= 0 ? fmt(left) + " left" : "over by " + fmt(-left)}</span>`;
}

// Flash and SRAM the way the CLI reports them: model/arena + runtime = total, against the limit
function memory(b, part, what) {
  const model = b[`${what}_${part}_bytes`], runtime = b[`${what}_runtime_bytes`];
  const total = b[`${what}_total_bytes`], limit = b[`${what}_limit_bytes`];
  if (total == null) return "–";
  const split = runtime ? `${kb(model)} ${part} + ${kb(runtime)} runtime = ` : "";
  return split + usage(total, limit, kb);
}

function renderWinner(j) {
  const w = $("winner");
  const b = j.best;
  if (!b) { w.hidden = true; return; }
  w.hidden = false;
  const arts = j.artifacts.map((a) => `<button class="secondary art" data-url="${esc(a.url)}" data-name="${esc(a.name)}">⬇ ${esc(a.name)}</button>`).join(" ");
  w.innerHTML = `<h2>${TERMINAL.has(j.status) ? "Winner" : "Best so far"} <span class="muted small">best feasible candidate</span></h2>
    <div class="mono arch">${shortArch(b.arch)}</div>
    <div class="muted small">NAS-Bench-201 index ${b.index}</div>
    <div class="kpis">
      <div><span>validation</span><b>${pct(b.val_acc)} %</b></div>
      <div><span>test</span><b>${pct(b.test_acc)} %</b></div>
      <div><span>Flash</span><b class="mem-flash">${memory(b, "model", "flash")}</b></div>
      <div><span>peak SRAM</span><b class="mem-sram">${memory(b, "arena", "sram")}</b></div>
      <div><span>latency</span><b>${usage(b.latency_ms, j.max_latency_ms, ms)}</b></div>
    </div>
    <div class="artifacts">${arts || '<span class="muted small">no artifacts yet (compress the winner with <code>automcu compress --job ' + esc(j.id) + "</code>)</span>"}</div>`;
}

async function downloadArtifact(btn) {
  const r = await fetch(btn.dataset.url, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!r.ok) { alert(`download failed: HTTP ${r.status}`); return; }
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = (r.headers.get("content-disposition")?.match(/filename="?([^";]+)"?/) || [])[1] || btn.dataset.name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function candTip(c) {
  const lines = [`<b class="mono">${shortArch(c.arch)}</b>`, `#${c.index} · ${c.status}` +
    (c.val_acc != null ? ` · val ${pct(c.val_acc)} % · test ${pct(c.test_acc)} %` : ""),
    `Flash ${kb(c.flash_bytes)} · SRAM ${kb(c.peak_sram_bytes)} · ${ms(c.latency_ms)}`];
  if (c.violation_text.length) lines.push(...c.violation_text.map((v) => `<span class="bad">✗ ${esc(v)}</span>`));
  if (c.reason) lines.push(`<i>${esc(c.reason.slice(0, 160))}</i>`);
  return lines.join("<br>");
}

function paretoFront(points) {  // maximize y, minimize x
  const sorted = [...points].sort((a, b) => a.x - b.x || b.y - a.y);
  const front = [];
  let best = -Infinity;
  for (const p of sorted) if (p.y > best) { front.push(p); best = p.y; }
  return front;
}

function drawPareto() {
  const key = $("pareto-x").value, ax = AXES[key], j = state.job;
  const ok = state.cands.filter((c) => c.status === "evaluated" && c.val_acc != null && c[key] != null);
  const bad = state.cands.filter((c) => c.status === "infeasible" && c[key] != null);
  const best = j.best ? ok.find((c) => c.arch === j.best.arch) : null;
  const pts = ok.map((c) => ({ x: c[key] * ax.scale, y: c.val_acc, tip: candTip(c) }));
  const limit = ax.limit(j);
  Charts.draw($("pareto"), {
    xLabel: ax.label, yLabel: "validation accuracy (%)", xFmt: num, yFmt: (v) => v.toFixed(0),
    empty: "waiting for the first evaluation…",
    series: [
      { name: "feasible", color: "#1f77b4", points: pts, cls: "feasible" },
      { name: "Pareto front", color: "#333", points: paretoFront(pts), line: "step", markers: false, width: 1.2 },
      ...(best ? [{ name: "best", color: "#f1c40f", cls: "best",
        points: [{ x: best[key] * ax.scale, y: best.val_acc, marker: "star", r: 11, tip: `<b>best feasible</b><br>${candTip(best)}` }] }] : []),
    ],
    rug: bad.map((c) => ({ x: c[key] * ax.scale, tip: candTip(c) })),
    vlines: limit ? [{ x: limit * ax.scale, label: `limit ${ax.unit(limit)}` }] : [],
  });
}

function bestSoFar(cands) {
  const ev = cands.filter((c) => c.eval_order != null && c.val_acc != null).sort((a, b) => a.eval_order - b.eval_order);
  let best = -Infinity;
  return { ev, line: ev.map((c) => ({ x: c.eval_order, y: (best = Math.max(best, c.val_acc)) })) };
}

function drawCurve() {
  const { ev, line } = bestSoFar(state.cands);
  Charts.draw($("curve"), {
    xLabel: "evaluations (accuracy queries)", yLabel: "validation accuracy (%)", xFmt: (v) => v.toFixed(0),
    yFmt: (v) => v.toFixed(0), empty: "waiting for the first evaluation…",
    series: [
      { name: "each evaluation", color: "#9bbbd9", legend: true, points: ev.map((c) => ({ x: c.eval_order, y: c.val_acc, r: 3.5, tip: candTip(c) })) },
      { name: "best so far", color: "#1f77b4", legend: true, line: "step", markers: false, points: line },
    ],
  });
}

async function loadCandTable() {
  const st = $("c-status").value;
  const page = await api(`/jobs/${state.selected}/candidates?limit=15&offset=${state.cOffset}&sort=${state.cSort}` + (st ? `&status=${st}` : ""));
  $("cands").querySelector("tbody").innerHTML = page.items.map((c) => `
    <tr class="${c.status}"><td>${c.eval_order ?? ""}</td><td class="mono small">${shortArch(c.arch)}</td>
    <td><span class="badge ${c.status}">${c.status}</span></td><td>${pct(c.val_acc)}</td><td>${pct(c.test_acc)}</td>
    <td>${kb(c.flash_bytes)}</td><td>${kb(c.peak_sram_bytes)}</td><td>${ms(c.latency_ms)}</td>
    <td class="small">${c.violation_text.length ? `<span class="bad">${esc(c.violation_text.join("; "))}</span>` : esc((c.reason || "").slice(0, 90))}</td></tr>`).join("")
    || `<tr><td colspan="9" class="muted">no candidates yet</td></tr>`;
  document.querySelectorAll("#cands th[data-sort]").forEach((th) => {
    const k = th.dataset.sort;
    th.classList.toggle("sorted", state.cSort.replace("-", "") === k);
    th.dataset.dir = state.cSort === k ? "▲" : state.cSort === `-${k}` ? "▼" : "";
  });
  $("c-page").textContent = page.total ? `${state.cOffset + 1}–${Math.min(page.total, state.cOffset + 15)} of ${page.total}` : "";
  $("c-prev").disabled = state.cOffset === 0;
  $("c-next").disabled = state.cOffset + 15 >= page.total;
}

// ----- live events (fetch streaming: EventSource can't send the Authorization header) --------------
function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

function describe(kind, d) {
  switch (kind) {
    case "evaluated": return `evaluated ${d.n_evaluated}/${d.budget}: val ${pct(d.val_acc)} %${d.improved ? " ★ new best" : ""}`;
    case "infeasible": return `rejected ${d.arch.slice(0, 40)}…: ${(d.violations || []).join("; ")}`;
    case "finished": return `finished: ${d.status}${d.reason ? " (" + d.reason + ")" : ""}`;
    case "proposer_fallback": return `proposer fallback: ${d.reason}`;
    case "started": return `started on ${d.worker}`;
    case "end": return `stream ended: ${d.status}`;
    default: return kind;
  }
}

function onEvent(id, kind, data) {
  if (id) state.lastEventId = id;
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = describe(kind, data);
  const list = $("events");
  list.prepend(li);
  while (list.children.length > 150) list.lastChild.remove();
  if (kind !== "created") scheduleRefresh();
}

async function openStream(id) {
  const ctrl = new AbortController();
  state.stream = ctrl;
  let ended = false;
  try {
    const headers = { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" };
    if (state.lastEventId) headers["Last-Event-ID"] = String(state.lastEventId);
    const r = await fetch(`${API}/jobs/${id}/events`, { headers, signal: ctrl.signal });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const f = {};
        for (const line of block.split("\n")) {
          const i = line.indexOf(": ");
          if (i > 0 && !line.startsWith(":")) f[line.slice(0, i)] = line.slice(i + 2);
        }
        if (!f.data) continue;
        onEvent(f.id ? +f.id : 0, f.event || "message", JSON.parse(f.data));
        if (f.event === "end") ended = true;
      }
    }
  } catch (e) {
    if (ctrl.signal.aborted) return;
  }
  if (!ended && state.stream === ctrl && state.selected === id) setTimeout(() => state.stream === ctrl && openStream(id), 2000);
}

// ----- compare -----------------------------------------------------------------------------------
async function showCompare() {
  const ids = [...state.compare];
  stopStream();
  $("job").hidden = true;
  $("empty").hidden = true;
  $("compare").hidden = false;
  $("cmp-ids").textContent = ids.join(", ");
  const data = await Promise.all(ids.map(async (id) => ({ job: await api(`/jobs/${id}`), cands: await allCandidates(id) })));
  state.cmp = data;
  drawCompare();
}

function drawCompare() {
  const data = state.cmp || [];
  const key = $("cmp-x").value, ax = AXES[key];
  const name = (d) => `${d.job.id} (${d.job.board || "unconstrained"}, ${d.job.proposer_used || d.job.proposer})`;
  Charts.draw($("cmp-curve"), {
    xLabel: "evaluations", yLabel: "best validation accuracy (%)", xFmt: (v) => v.toFixed(0), yFmt: (v) => v.toFixed(0),
    series: data.map((d, i) => ({ name: name(d), color: COLORS[i % COLORS.length], legend: true, line: "step", markers: false,
      points: bestSoFar(d.cands).line })),
  });
  Charts.draw($("cmp-pareto"), {
    xLabel: ax.label, yLabel: "validation accuracy (%)", xFmt: num, yFmt: (v) => v.toFixed(0),
    series: data.map((d, i) => ({ name: name(d), color: COLORS[i % COLORS.length], legend: true,
      points: d.cands.filter((c) => c.status === "evaluated").map((c) => ({ x: c[key] * ax.scale, y: c.val_acc, tip: `<b>${esc(d.job.id)}</b><br>${candTip(c)}` })) })),
    rug: data.flatMap((d, i) => d.cands.filter((c) => c.status === "infeasible").map((c) => ({ x: c[key] * ax.scale, color: COLORS[i % COLORS.length], tip: `<b>${esc(d.job.id)}</b><br>${candTip(c)}` }))),
  });
  $("cmp-table").querySelector("tbody").innerHTML = data.map(({ job: j }, i) => `<tr>
    <td><i class="swatch" style="background:${COLORS[i % COLORS.length]}"></i><span class="mono">${esc(j.id)}</span></td>
    <td>${esc(j.board || "—")}</td><td>${esc(j.proposer_used || j.proposer)}</td><td>${j.n_evaluated}/${j.budget}</td>
    <td>${j.n_infeasible}</td><td>${pct(j.best?.val_acc)}</td><td>${pct(j.best?.test_acc)}</td><td>${kb(j.best?.flash_bytes)}</td>
    <td>${kb(j.best?.peak_sram_bytes)}</td><td>${ms(j.best?.latency_ms)}</td></tr>`).join("");
}

// ----- wiring ------------------------------------------------------------------------------------
window.addEventListener("DOMContentLoaded", () => {
  $("signin-form").onsubmit = (ev) => {
    ev.preventDefault();
    $("signin-error").textContent = "";
    signIn($("token").value.trim()).catch((e) => { $("signin-error").textContent = e.message; });
  };
  $("f-board").onchange = showLimits;
  $("job-form").onsubmit = submitJob;
  $("jobs").onclick = onJobsClick;
  $("jobs-prev").onclick = () => { state.jobsOffset = Math.max(0, state.jobsOffset - PAGE); loadJobs(); };
  $("jobs-next").onclick = () => { state.jobsOffset += PAGE; loadJobs(); };
  $("compare-btn").onclick = () => showCompare().catch((e) => alert(e.message));
  $("cmp-close").onclick = () => { $("compare").hidden = true; if (state.selected) selectJob(state.selected); else $("empty").hidden = false; };
  $("cmp-x").onchange = drawCompare;
  $("pareto-x").onchange = drawPareto;
  $("c-status").onchange = () => { state.cOffset = 0; loadCandTable(); };
  $("c-prev").onclick = () => { state.cOffset = Math.max(0, state.cOffset - 15); loadCandTable(); };
  $("c-next").onclick = () => { state.cOffset += 15; loadCandTable(); };
  $("cands").querySelector("thead").onclick = (ev) => {
    const k = ev.target.closest("th[data-sort]")?.dataset.sort;
    if (!k) return;
    state.cSort = state.cSort === `-${k}` ? k : `-${k}`;
    state.cOffset = 0;
    loadCandTable();
  };
  $("winner").onclick = (ev) => { const b = ev.target.closest("button.art"); if (b) downloadArtifact(b); };
  $("cancel-btn").onclick = async () => {
    if (!confirm(`Cancel job ${state.selected}?`)) return;
    try { renderJob(await api(`/jobs/${state.selected}/cancel`, { method: "POST" })); } catch (e) { alert(e.message); }
    scheduleRefresh();
  };
  window.addEventListener("resize", () => { if (state.job && !$("job").hidden) { drawPareto(); drawCurve(); } });
  if (state.token) start().catch(() => signOut()); else signOut();
});
