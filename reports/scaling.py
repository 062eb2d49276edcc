"""The scaling section of ``bench-report``: ``scaling.jsonl`` rows from ``ganbench sweep --world-sizes``.

Per GAN (and global batch, device) the curve of images/s against world size, with the ideal
line N × images/s at 1, and a table of images/s, efficiency and the all-reduce share.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

from gans.base import read_jsonl

from .html import H, Markup, img_png, table
from .plots import _png, plt

__all__ = ["SCALING_JSONL", "load_scaling", "scaling_body", "scaling_plot"]

SCALING_JSONL = "scaling.jsonl"


def load_scaling(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The ok rows of ``FOLDER/scaling.jsonl`` (the last row per cell key), with efficiency."""
    path = Path(folder)
    path = path / SCALING_JSONL if path.is_dir() else path
    if not path.is_file() or path.name != SCALING_JSONL:
        return []
    rows: dict[str, dict[str, Any]] = {}
    for r in read_jsonl(path):
        if r.get("status") == "ok" and isinstance(r.get("images_per_s"), (int, float)):
            rows[str(r.get("key"))] = r
    out = list(rows.values())
    clean = [r for r in out if r.get("contention") != "disturbed"]  # a disturbed cell keeps no clean figure
    base = {(r["gan"], r["batch_size"], r.get("device")): r["images_per_s"] for r in clean if r["world_size"] == 1}
    for r in out:
        b = base.get((r["gan"], r["batch_size"], r.get("device")))
        r["efficiency"] = r["images_per_s"] / (r["world_size"] * b) if b and r in clean else None
    return sorted(out, key=lambda r: (r["gan"], r["batch_size"], str(r.get("device")), r["world_size"]))


def scaling_plot(rows: Sequence[dict[str, Any]]) -> bytes | None:
    """images/s against world size per (GAN, batch, device); dashed: ideal linear scaling from N = 1."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("contention") != "disturbed":  # no clean figure to plot
            groups.setdefault(f"{r['gan']} · batch {r['batch_size']} · {r.get('device')}", []).append(r)
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for label, rs in groups.items():
        xs = [r["world_size"] for r in rs]
        ys = [r["images_per_s"] for r in rs]
        line = ax.plot(xs, ys, marker="o", lw=1.6, label=label)[0]
        one = next((r["images_per_s"] for r in rs if r["world_size"] == 1), None)
        if one:
            ax.plot(xs, [one * x for x in xs], ls="--", lw=1, color=line.get_color(), alpha=0.6)
    ax.set_xlabel("world size (processes)")
    ax.set_ylabel("throughput (images/s, global)")
    ax.set_xticks(sorted({r["world_size"] for r in rows}))
    ax.set_title("Scaling per GAN (dashed: N × throughput at world size 1)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def scaling_body(rows: Sequence[dict[str, Any]]) -> Markup:
    def pct(v: Any) -> str:
        return "–" if not isinstance(v, (int, float)) or math.isnan(v) else f"{100 * v:.1f}%"

    trs = [
        (
            r["gan"],
            r["batch_size"],
            r.get("device"),
            r["world_size"],
            r.get("per_rank_batch_size"),
            f"{r['images_per_s']:.1f}"
            if r.get("contention") != "disturbed"
            else "DISTURBED: " + "; ".join((r.get("load") or {}).get("reasons") or []),
            "–" if r.get("efficiency") is None else f"{r['efficiency']:.2f}",
            pct(r.get("comm_share")),
            r.get("backend") or "–",
        )
        for r in rows
    ]
    png = scaling_plot(rows)
    head = H(
        "<p>The same training step under DDP at each world size; the batch is global (each rank trains on "
        "B/N). Efficiency = images/s at N ÷ (N × images/s at 1); all-reduce share = time DDP's gradient "
        "all-reduce was in flight (comm hook) ÷ timed wall time.</p>"
    )
    return (
        head
        + (img_png(png, "scaling curve") if png else Markup())
        + table(
            ["GAN", "batch", "device", "world", "per rank", "images/s", "efficiency", "all-reduce", "backend"], trs
        )
    )
