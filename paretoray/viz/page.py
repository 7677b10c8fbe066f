"""The one HTML page shared by the live dashboard and the offline report.

The page receives, per run, ``{"index", "view", "figures"}`` (or ``{"index", "run_dir",
"error"}``) and draws the figures with ``Plotly.react``; it writes every string from the run
with ``textContent``, never as HTML. Live (dashboard) pages poll ``api/version`` every second
and fetch ``api/run/<i>`` for the runs whose signature changed; report pages carry their
payload inline and make no request at all.
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["render_page"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { padding: 10px 16px; background: #1f3b57; color: white; display: flex;
         justify-content: space-between; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; }
#status { font-size: 13px; opacity: 0.85; }
.runs { display: grid; gap: 12px; padding: 12px; }
.run { background: white; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px;
       min-width: 0; }
.run h2 { font-size: 15px; margin: 4px 0; word-break: break-all; }
.facts { font-size: 13px; color: #444; margin-bottom: 6px; }
.facts b { color: #111; }
.fig { width: 100%; height: 380px; }
.run.wide .body { display: grid; grid-template-columns: 1.15fr 1fr; gap: 12px; }
.run.wide .fig { height: 460px; }
.run.wide .fig.small { height: 300px; }
h3 { font-size: 14px; margin: 8px 0 2px 0; }
.fig.small { height: 290px; }
.detail { font-size: 13px; background: #f4f6f8; border-radius: 4px; padding: 6px 8px;
          min-height: 40px; }
.detail table { border-collapse: collapse; margin: 4px 0; }
.detail td, .detail th { padding: 1px 8px 1px 0; text-align: left; vertical-align: top; }
.detail pre { background: #263238; color: #e0e0e0; padding: 6px 8px; border-radius: 4px;
              overflow-x: auto; margin: 4px 0; }
.lineage { font-size: 12px; border-collapse: collapse; width: 100%; }
.lineage td, .lineage th { border-bottom: 1px solid #eee; padding: 2px 6px; text-align: left; }
.warn { color: #a33; font-size: 13px; }
"""

_JS = r"""
const LIVE = __LIVE__;
const INITIAL = __PAYLOAD__;
const N_RUNS = __N_RUNS__;
const sig = [];
const views = [];

function mk(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6);
  return String(v);
}
function column(i) {
  let c = document.getElementById("run-" + i);
  if (c) return c;
  c = mk("section", "run"); c.id = "run-" + i;
  c.appendChild(mk("h2", "title", "run " + i));
  const facts = mk("div", "facts");
  facts.innerHTML = 'front <b class="n-front">0</b> points · archived <b class="n-points">0</b>'
    + ' · segments <b class="n-segments">0</b> · last commit <span class="last"></span>';
  c.appendChild(facts);
  c.appendChild(mk("div", "warn problems"));
  const body = mk("div", "body"), left = mk("div", "left"), right = mk("div", "right");
  body.appendChild(left); body.appendChild(right); c.appendChild(body);
  if (N_RUNS === 1) c.classList.add("wide");
  for (const k of ["front", "history", "shards"]) {
    const d = mk("div", k === "front" ? "fig" : "fig small"); d.id = k + "-" + i;
    (k === "front" ? left : right).appendChild(d);
    if (k === "front") {
      const det = mk("div", "detail"); det.id = "detail-" + i;
      det.appendChild(mk("span", null, "Click a point (or pick row "));
      const inp = mk("input"); inp.type = "number"; inp.min = 0; inp.style.width = "5em";
      inp.className = "row-input";
      inp.addEventListener("change", () => showPoint(i, parseInt(inp.value, 10)));
      det.appendChild(inp); det.appendChild(mk("span", null, ") to see it."));
      det.appendChild(mk("div", "point"));
      left.appendChild(det);
    }
  }
  right.appendChild(mk("h3", null, "sessions"));
  right.appendChild(mk("table", "lineage"));
  document.getElementById("runs").appendChild(c);
  return c;
}
function row(table, cells, head) {
  const tr = mk("tr");
  for (const x of cells) tr.appendChild(mk(head ? "th" : "td", null, x));
  table.appendChild(tr);
}
function showPoint(i, r) {
  const v = views[i];
  const box = document.querySelector("#detail-" + i + " .point");
  box.textContent = "";
  if (!v || !(r >= 0 && r < v.front.point_id.length)) return;
  const f = v.front, names = v.objective_names;
  const pid = f.point_id[r];
  box.appendChild(mk("div", null, "point " + pid + " (row " + r + "): round " + f.round[r]
    + ", shard " + f.shard[r] + ", step " + f.step[r] + ", " + f.algorithm[r]));
  const t = mk("table");
  row(t, ["", ...names], true);
  row(t, ["objectives", ...f.objectives[r].map(fmt)]);
  row(t, ["preference", ...f.preference[r].map(fmt)]);
  box.appendChild(t);
  let code = "import paretoray\nfront = paretoray.open(" + JSON.stringify(v.open_path) + ")\n"
    + "i = list(front.point_ids).index(" + pid + ")  # row " + r + " here\n";
  if (f.x) {
    box.appendChild(mk("div", null, "decision vector x (d=" + f.x[r].length + "): ["
      + f.x[r].map(fmt).join(", ") + "]"));
  }
  code += v.getitem ? "point = front[i]  # objectives, preference, x, metrics\n"
    : "front.objectives[i], front.preferences[i]" + (f.x ? ", front.x[i]" : "") + "\n";
  if (f.metrics) {
    const mt = mk("table");
    for (const [k, vals] of Object.entries(f.metrics)) row(mt, [k, fmt(vals[r])]);
    box.appendChild(mt);
  }
  if (f.params_ref && f.params_ref[r]) {
    box.appendChild(mk("div", null, "checkpoint: " + f.params_ref[r]));
    code += v.load_model ? "model = front.load_model(i)"
      : "import os, safetensors.torch\nstate = safetensors.torch.load_file(os.path.join("
        + JSON.stringify(v.open_path) + ", " + JSON.stringify(f.params_ref[r]) + "))";
  }
  box.appendChild(mk("pre", "code", code));
  const inp = document.querySelector("#detail-" + i + " .row-input");
  inp.value = r;
}
function react(id, fig) {
  return Plotly.react(id, fig.data, fig.layout, {responsive: true, displaylogo: false});
}
function render(entry) {
  const i = entry.index;
  const c = column(i);
  if (entry.error) {
    c.querySelector(".title").textContent = entry.run_dir;
    c.querySelector(".problems").textContent = entry.error;
    return;
  }
  const v = entry.view;
  views[i] = v; sig[i] = v.signature;
  c.querySelector(".title").textContent = v.name + " — " + (v.problem || "?") + " · "
    + (v.algorithm || "?") + " · m=" + v.n_obj + (v.n_var ? ", d=" + v.n_var : "");
  c.querySelector(".n-front").textContent = v.front.point_id.length;
  c.querySelector(".n-points").textContent = v.n_points;
  c.querySelector(".n-segments").textContent = v.n_segments;
  c.querySelector(".last").textContent = v.last_commit || "–";
  c.querySelector(".problems").textContent = v.problems.length
    ? "skipped segments: " + v.problems.map(p => p.segment + " (" + p.reason + ")").join("; ")
    : "";
  react("front-" + i, entry.figures.front).then(gd => {
    if (!gd._paretorayClick) {
      gd.on("plotly_click", ev => {
        const p = ev.points.find(q => q.customdata !== undefined);
        if (p) showPoint(i, p.customdata);
      });
      gd._paretorayClick = true;
    }
  });
  react("history-" + i, entry.figures.history);
  react("shards-" + i, entry.figures.shards);
  const t = c.querySelector(".lineage");
  t.textContent = "";
  row(t, ["session", "first round", "rounds", "started (UTC)", "front before"], true);
  for (const s of v.sessions) {
    const started = s.started ? new Date(s.started * 1000).toISOString().slice(0, 19) : "–";
    row(t, [s.session, s.first_round, fmt(s.rounds), started, fmt(s.front_size_before)]);
  }
  const shown = document.querySelector("#detail-" + i + " .row-input").value;
  if (shown !== "") showPoint(i, parseInt(shown, 10));
}
async function poll() {
  const status = document.getElementById("status");
  try {
    const r = await fetch("api/version", {cache: "no-store"});
    const s = await r.json();
    for (let i = 0; i < s.signatures.length; i++) {
      if (s.signatures[i] !== sig[i] || sig[i] === undefined) {
        const e = await (await fetch("api/run/" + i, {cache: "no-store"})).json();
        render(e);
        if (e.error) sig[i] = undefined;
      }
    }
    status.textContent = "live · checked " + new Date().toLocaleTimeString();
  } catch (err) {
    status.textContent = "dashboard server unreachable (" + err + "); retrying";
  }
  setTimeout(poll, 1000);
}
document.getElementById("runs").style.gridTemplateColumns =
  "repeat(" + Math.max(1, N_RUNS) + ", minmax(420px, 1fr))";
INITIAL.forEach(render);
if (LIVE) poll();
"""


def _script_json(obj: Any) -> str:
    """JSON safe to place inside a ``<script>`` element."""
    text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(
    payload: list[dict[str, Any]],
    *,
    live: bool,
    n_runs: int,
    plotly_script: str,
    title: str = "paretoray",
) -> str:
    """The HTML of the dashboard or the report.

    Args:
        payload: Per run, ``{"index", "view", "figures"}`` or ``{"index", "run_dir",
            "error"}``, drawn when the page loads ([] for a live page, which polls).
        live: Poll the dashboard server (True) or show ``payload`` only (False).
        n_runs: How many run columns to lay out side by side.
        plotly_script: The ``<script>`` element that loads plotly.js (inline for a report).
        title: The page title.

    Returns:
        A complete HTML document.
    """
    js = (_JS.replace("__LIVE__", "true" if live else "false")
          .replace("__N_RUNS__", str(int(n_runs)))
          .replace("__PAYLOAD__", _script_json(payload)))
    mode = "live" if live else "report (static)"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<link rel=\"icon\" href=\"data:,\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>{plotly_script}</head><body>"
        f"<header><h1>{html.escape(title)}</h1><span id=\"status\">{mode}</span></header>"
        f"<main id=\"runs\" class=\"runs\"></main><script>{js}</script></body></html>\n"
    )
