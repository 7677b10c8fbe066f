"""Plotly figures of a run's view model (:func:`paretoray.viz.data.build_view`).

Minimization is assumed. Every function takes the JSON view of one run and returns a plotly
``Figure``; :func:`figures_json` returns all of them as plain JSON for the page, which draws
them with ``Plotly.react`` (the dashboard redraws in place as the run grows, keeping the
user's zoom and 3-D camera through ``uirevision``).

- :func:`front_figure`: a 2-D scatter (m = 2), a rotatable 3-D scatter (m = 3) or parallel
  coordinates (m > 3) of the front, coloured by round, with the true front when known and
  the preference rays. Each front point carries its row index as ``customdata`` so a click
  can show it.
- :func:`history_figure`: hypervolume and IGD per round, sessions marked by dashed lines.
- :func:`shards_figure`: per-shard bars of points archived, points accepted into the front
  and NaN resets.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import plotly.graph_objects as go

__all__ = ["figures_json", "front_figure", "history_figure", "shards_figure"]

_TRUTH = "rgba(120,120,120,0.6)"
_RAY = "rgba(31,119,180,0.25)"
_MARGIN = {"l": 50, "r": 20, "t": 40, "b": 45}


def _hover(view: dict[str, Any]) -> list[str]:
    f = view["front"]
    names = view["objective_names"]
    return [
        f"point {pid} (row {i})<br>round {r}, shard {s}<br>"
        + "<br>".join(f"{n} = {v:.5g}" for n, v in zip(names, obj, strict=True) if v is not None)
        for i, (pid, r, s, obj) in enumerate(
            zip(f["point_id"], f["round"], f["shard"], f["objectives"], strict=True))
    ]


def _ray_segments(view: dict[str, Any]) -> np.ndarray | None:
    """Rays from the origin along each preference, to the front's extent: `3r x m` with NaN
    separators (one polyline trace draws them all)."""
    rays = np.asarray(view["rays"], dtype=np.float64)
    obj = np.asarray(view["front"]["objectives"], dtype=np.float64)
    if rays.size == 0 or obj.size == 0:
        return None
    reach = float(np.nanmax(np.linalg.norm(np.clip(obj, 0, None), axis=1)))
    if not np.isfinite(reach) or reach <= 0:
        return None
    ends = rays / np.linalg.norm(rays, axis=1, keepdims=True) * reach
    seg = np.full((3 * len(rays), rays.shape[1]), np.nan)
    seg[0::3] = 0.0
    seg[1::3] = ends
    return seg


def front_figure(view: dict[str, Any]) -> go.Figure:
    """The front of one run: scatter (m = 2), 3-D scatter (m = 3) or parallel coordinates.

    Args:
        view: A run's view model.

    Returns:
        A Figure whose trace named ``front`` has one point per front row, in row order.
    """
    m = view["n_obj"]
    names = view["objective_names"]
    f = view["front"]
    obj = np.asarray(f["objectives"], dtype=np.float64).reshape(-1, m)
    rounds = f["round"]
    truth = None if view["true_front"] is None else np.asarray(view["true_front"], float)
    title = (f"{view.get('problem') or 'run'} · {view.get('algorithm') or ''} · "
             f"{len(obj)} nondominated points")
    fig = go.Figure()
    marker = {"color": rounds, "colorscale": "Viridis", "size": 7,
              "colorbar": {"title": {"text": "round"}, "thickness": 12},
              "line": {"width": 0.5, "color": "white"}}
    if m > 3:
        dims = [{"label": n, "values": obj[:, j].tolist()} for j, n in enumerate(names)]
        fig.add_trace(go.Parcoords(
            name="front", dimensions=dims,
            line={"color": rounds, "colorscale": "Viridis", "showscale": True,
                  "colorbar": {"title": {"text": "round"}}}))
        fig.update_layout(margin={**_MARGIN, "t": 90, "l": 40})
    elif m == 3:
        if truth is not None:
            fig.add_trace(go.Scatter3d(x=truth[:, 0], y=truth[:, 1], z=truth[:, 2],
                                       mode="markers", name="true front", hoverinfo="skip",
                                       marker={"size": 2, "color": _TRUTH}))
        seg = _ray_segments(view)
        if seg is not None:
            fig.add_trace(go.Scatter3d(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines",
                                       name="preference rays", hoverinfo="skip",
                                       line={"color": _RAY, "width": 2}))
        fig.add_trace(go.Scatter3d(
            x=obj[:, 0], y=obj[:, 1], z=obj[:, 2], mode="markers", name="front",
            customdata=list(range(len(obj))), hovertext=_hover(view), hoverinfo="text",
            marker={**marker, "size": 4}))
        fig.update_layout(scene={"xaxis_title": names[0], "yaxis_title": names[1],
                                 "zaxis_title": names[2]})
    else:
        if truth is not None:
            fig.add_trace(go.Scatter(x=truth[:, 0], y=truth[:, 1], mode="lines",
                                     name="true front", hoverinfo="skip",
                                     line={"color": _TRUTH, "width": 2}))
        seg = _ray_segments(view)
        if seg is not None:
            fig.add_trace(go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines",
                                     name="preference rays", hoverinfo="skip",
                                     line={"color": _RAY, "width": 1}))
        fig.add_trace(go.Scatter(
            x=obj[:, 0], y=obj[:, 1], mode="markers", name="front",
            customdata=list(range(len(obj))), hovertext=_hover(view), hoverinfo="text",
            marker=marker))
        fig.update_xaxes(title_text=names[0])
        fig.update_yaxes(title_text=names[1])
    if m <= 3:
        fig.update_layout(margin=_MARGIN)
    fig.update_layout(title={"text": title, "font": {"size": 14}},
                      uirevision=view["run_dir"], legend={"orientation": "h", "y": -0.18},
                      template="plotly_white", clickmode="event")
    return fig


def history_figure(view: dict[str, Any]) -> go.Figure:
    """Hypervolume (left axis) and IGD (right axis, when the true front is known) per round.

    Sessions after the first (resumes, from ``run.json``'s lineage) start at dashed lines.
    """
    h = view["history"]
    ref = ", ".join(f"{r:.3g}" for r in view["ref_point"] if r is not None)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=h["round"], y=h["hypervolume"], mode="lines+markers",
                             name=f"hypervolume (ref {ref})"))
    if any(v is not None for v in h["igd"]):
        fig.add_trace(go.Scatter(x=h["round"], y=h["igd"], mode="lines+markers", name="IGD",
                                 yaxis="y2", line={"dash": "dot"}))
        fig.update_layout(yaxis2={"title": {"text": "IGD"}, "overlaying": "y", "side": "right",
                                  "showgrid": False, "rangemode": "tozero"})
    for s in view["sessions"][1:]:
        x = s["first_round"] - 0.5
        fig.add_vline(x=x, line={"dash": "dash", "color": "gray"},
                      annotation_text=f"session {s['session']}", annotation_position="top")
    fig.update_layout(title={"text": "hypervolume and IGD per round", "font": {"size": 14}},
                      xaxis_title="round", yaxis_title="hypervolume", margin=_MARGIN,
                      uirevision=view["run_dir"], template="plotly_white",
                      legend={"orientation": "h", "y": -0.25})
    return fig


def shards_figure(view: dict[str, Any]) -> go.Figure:
    """Per shard: points archived, points that entered the front, NaN resets (when known)."""
    shards = view["shards"]
    labels = [f"shard {s['shard']}" for s in shards]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[s["points"] for s in shards], name="points archived",
                         hovertext=[f"{s['rounds']} rounds, last {s['last_round']}"
                                    for s in shards]))
    fig.add_trace(go.Bar(x=labels, y=[s["accepted"] for s in shards], name="entered the front"))
    if any(s["nan_resets"] is not None for s in shards):
        fig.add_trace(go.Bar(x=labels, y=[s["nan_resets"] or 0 for s in shards],
                             name="NaN resets"))
    decisions = [", ".join(f"{k}×{v}" for k, v in sorted(s["decisions"].items()))
                 for s in shards]
    if any(decisions):
        fig.add_trace(go.Bar(x=labels, y=[sum(s["decisions"].values()) for s in shards],
                             name="scheduler decisions", hovertext=decisions))
    fig.update_layout(barmode="group", title={"text": "per-shard progress", "font": {"size": 14}},
                      margin=_MARGIN, uirevision=view["run_dir"], template="plotly_white",
                      legend={"orientation": "h", "y": -0.25})
    return fig


def figures_json(view: dict[str, Any]) -> dict[str, Any]:
    """All figures of one run as plain JSON: ``{"front": ..., "history": ..., "shards": ...}``,
    each ``{"data": [...], "layout": {...}}`` as ``Plotly.react`` takes them."""
    return {
        name: json.loads(fn(view).to_json())
        for name, fn in (("front", front_figure), ("history", history_figure),
                         ("shards", shards_figure))
    }
