"""Hand-written run directories and pytest-benchmark files, in the documented formats.

Tests use them to feed reports known numbers (a conclusion that must flip when the numbers do,
a planted slowdown that must be flagged) without training anything.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

__all__ = ["write_synthetic_run", "write_benchmark_json", "sample_png", "check_self_contained"]


def sample_png(seed: int, size: int = 60) -> bytes:
    """A small deterministic grey PNG (a stand-in sample grid)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    a = (rng.random((size, size)) * 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def write_synthetic_run(
    path: str | os.PathLike,
    *,
    batch_size: int,
    seed: int = 0,
    gan: str = "mnist_mlp",
    dataset: str = "digits",
    n_train: int = 1437,
    epochs: int = 10,
    evals: Sequence[dict[str, float]] = (),
    ceiling: dict[str, float] | None = None,
    images_per_s: float = 1000.0,
    loss_g: float = 2.0,
    loss_d: float = 0.5,
    gan_kind: str = "probability",
    loss_kind: str = "bce",
    verdicts: Sequence[tuple[int, str, str]] = (),
    collapse: tuple[str, str] | None = None,
    write_verdicts_json: bool = False,
    eval_pause_s: float = 0.0,
) -> Path:
    """A run directory: config.json, metrics.jsonl (scalars every step, ``evals`` spread evenly), samples/.

    Step time is ``batch_size / images_per_s``; each eval dict is one evaluation's ``metrics``.
    ``verdicts``: equilibrium verdict events ``(since_step, verdict, sentence)``.
    """
    p = Path(path)
    (p / "samples").mkdir(parents=True, exist_ok=True)
    spe = max(1, n_train // batch_size)
    total = epochs * spe
    cfg = {
        "gan": gan,
        "gan_config": {"z_dim": 100, "lr": 1e-4},
        "gan_kind": gan_kind,
        "loss_kind": loss_kind,
        "seed_section": "MINST (MNIST MLP GAN)",
        "train": {
            "gan": gan,
            "dataset": dataset,
            "batch_size": batch_size,
            "epochs": epochs,
            "steps": total,
            "device": "cpu",
            "seed": seed,
            "precision": "fp32",
            "log_every": 1,
        },
        "dataset": dataset,
        "data": {"name": dataset, "n_train": n_train},
        "device": "cpu",
        "steps_per_epoch": spe,
        "total_steps": total,
        "versions": {"python": "3.11", "torch": "2.14.1"},
        "command": ["ganbench", "train", gan],
    }
    (p / "config.json").write_text(json.dumps(cfg, indent=2))
    step_s = batch_size / images_per_s
    eval_steps = [round(total * (i + 1) / len(evals)) for i in range(len(evals))]
    lines: list[dict[str, Any]] = [{"type": "event", "step": 0, "event": "start", "message": "start", "time": 0.0}]
    vi = 0
    paused = 0.0
    for step in range(1, total + 1):
        frac = step / total
        rec = {
            "type": "scalars",
            "step": step,
            "epoch": step / spe,
            "wall_s": step * step_s + paused,
            "images": step * batch_size,
            "loss/d": loss_d * (0.5 + 0.5 * frac) + 0.01 * math.sin(step),
            "loss/g": loss_g * (0.5 + 0.5 * frac),
            "d/real": 0.5 + 0.4 * frac,
            "d/fake": 0.5 - 0.4 * frac,
            "time/ms_per_step": 1000 * step_s,
            "time/images_per_s": images_per_s,
        }
        if gan_kind == "critic":
            rec["critic/gap"] = 1.0 - frac
        lines.append(rec)
        while vi < len(verdicts) and verdicts[vi][0] <= step:
            s, v, sentence = verdicts[vi]
            lines.append(
                {
                    "type": "event",
                    "step": step,
                    "event": "verdict",
                    "kind": "equilibrium",
                    "verdict": v,
                    "since_step": s,
                    "message": sentence,
                    "time": 0.0,
                }
            )
            vi += 1
        if step in eval_steps:
            i = eval_steps.index(step)
            rec = {
                "type": "eval",
                "step": step,
                "epoch": step / spe,
                "wall_s": step * step_s + paused + eval_pause_s,
                "extractor": "synthetic",
                "weights_hash": None,
                "n_real": 500,
                "n_fake": 500,
                "metrics": dict(evals[i]),
                "ceiling": dict(ceiling or {}),
            }
            if collapse:
                rec["verdict"] = {"collapse": collapse[0], "sentence": collapse[1]}
            lines.append(rec)
            if eval_pause_s:
                lines.append({"type": "eval_time", "step": step, "eval_s": eval_pause_s})
                paused += eval_pause_s
        if step % max(1, total // 4) == 0 or step == total:
            (p / "samples" / f"step_{step:08d}.png").write_bytes(sample_png(step + 1000 * batch_size))
    lines.append(
        {
            "type": "event",
            "step": total,
            "event": "finished",
            "message": f"finished {total} steps",
            "time": 0.0,
            "wall_s": total * step_s + paused,
        }
    )
    with open(p / "metrics.jsonl", "w") as f:
        for rec in lines:
            f.write(json.dumps(rec) + "\n")
    if write_verdicts_json:
        out: dict[str, Any] = {}
        if verdicts:
            s, v, sentence = verdicts[-1]
            out["equilibrium"] = {"verdict": v, "since_step": s, "sentence": sentence, "numbers": {}}
        if collapse:
            out["collapse"] = {"verdict": collapse[0], "sentence": collapse[1], "scores": {}}
        (p / "verdicts.json").write_text(json.dumps(out))
    return p


def write_benchmark_json(
    path: str | os.PathLike,
    *,
    number: int,
    datetime: str,
    commit: str,
    benchmarks: Sequence[dict[str, Any]],
    node: str = "ci-box",
    cpu: str = "Test CPU @ 3.0GHz",
) -> Path:
    """A pytest-benchmark saved run.

    ``benchmarks``: dicts with name, median (s), iqr (s) and optional extra_info/params.
    """
    entries = []
    for b in benchmarks:
        med, iqr = b["median"], b.get("iqr", 0.0)
        entries.append(
            {
                "group": b.get("group"),
                "name": b["name"],
                "fullname": f"bench/test_step.py::{b['name']}",
                "params": b.get("params"),
                "param": None,
                "extra_info": b.get("extra_info", {}),
                "options": {
                    "disable_gc": False,
                    "timer": "perf_counter",
                    "min_rounds": 5,
                    "max_time": 1.0,
                    "min_time": 5e-06,
                    "warmup": False,
                },
                "stats": {
                    "min": med - iqr,
                    "max": med + 2 * iqr,
                    "mean": med,
                    "stddev": iqr / 1.35,
                    "rounds": 20,
                    "median": med,
                    "iqr": iqr,
                    "q1": med - iqr / 2,
                    "q3": med + iqr / 2,
                    "iqr_outliers": 0,
                    "stddev_outliers": 1,
                    "outliers": "1;0",
                    "ld15iqr": med - iqr,
                    "hd15iqr": med + iqr,
                    "ops": 1.0 / med,
                    "total": 20 * med,
                    "iterations": 1,
                },
            }
        )
    doc = {
        "machine_info": {
            "node": node,
            "processor": "x86_64",
            "machine": "x86_64",
            "python_compiler": "GCC 12",
            "python_implementation": "CPython",
            "python_implementation_version": "3.11.7",
            "python_version": "3.11.7",
            "python_build": ["main", "Jan 1 2024"],
            "release": "6.1.0",
            "system": "Linux",
            "cpu": {"brand_raw": cpu, "count": 2},
        },
        "commit_info": {
            "id": commit,
            "time": datetime,
            "author_time": datetime,
            "dirty": False,
            "project": "ganbench",
            "branch": "main",
        },
        "benchmarks": entries,
        "datetime": datetime,
        "version": "4.0.0",
    }
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc, indent=2))
    return p


def check_self_contained(html: str) -> int:
    """Assert every <img> is an inline PNG that decodes and nothing would reach the network; returns the image count."""
    import base64
    import re

    from PIL import Image

    imgs = re.findall(r"<img\b[^>]*>", html)
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(imgs) == len(uris) > 0, "every <img> must carry an inline PNG"
    for b64 in uris:
        im = Image.open(io.BytesIO(base64.b64decode(b64)))
        im.load()
        assert im.size[0] > 10 and im.size[1] > 10
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I), "external src/href"
    assert not re.search(r"https?://", html, re.I), "external URL"
    assert "@import" not in html
    assert not re.search(r"<link\b", html, re.I)
    return len(uris)
