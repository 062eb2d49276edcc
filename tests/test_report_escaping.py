"""Escaping is the default: markup planted in any field a report reads never reaches the page raw.

Every string in config.json, metrics.jsonl, verdicts.json, sweep results and pytest-benchmark
JSON (and the names of keys, metrics, runs and sample files) carries a ``<script>`` and an
``onerror=`` payload; each page must show them as text.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from reports.bench_report import build_bench_report
from reports.compare import write_comparison_report
from reports.html import write_index
from reports.run_report import build_run_report, write_run_report
from tests.helpers.reports import sample_png, write_benchmark_json, write_synthetic_run

SCRIPT = "<script>window.__pwned=1</script>"
IMG = "<img src=x onerror=alert(1)>"
PAYLOAD = SCRIPT + IMG
FILE_SAFE = "<img src=x onerror=alert(1)>"  # no '/' so it can be a file or folder name
STRUCTURAL = {"type", "event", "kind", "gan_kind", "loss_kind"}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.handlers: list[tuple[str, str]] = []
        self.bad_images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.handlers += [(tag, k) for k, _ in attrs if k.startswith("on")]
        if tag == "img" and not (dict(attrs).get("src") or "").startswith("data:image/png;base64,"):
            self.bad_images.append(str(attrs))


def assert_clean(html: str) -> None:
    """No planted element or handler in the parsed page; the payload appears only as text."""
    assert SCRIPT not in html and IMG not in html
    el = _Elements()
    el.feed(html)
    assert el.scripts == 1, "only the page's own load-check script"
    assert el.handlers == [] and el.bad_images == []
    assert "&lt;script&gt;" in html or "&lt;img" in html, "the payload is shown as text"


def poison(x: Any, key: str = "") -> Any:
    if isinstance(x, dict):
        out = {k: (v if k in STRUCTURAL else poison(v, k)) for k, v in x.items()}
        if key not in ("metrics", "ceiling", ""):
            out[PAYLOAD] = PAYLOAD
        return out
    if isinstance(x, list):
        return [poison(v) for v in x]
    if isinstance(x, str):
        return x + PAYLOAD
    return x


def poisoned_run(path: Path, batch_size: int) -> Path:
    run = write_synthetic_run(
        path,
        batch_size=batch_size,
        epochs=2,
        evals=[{"fid": 50.0, PAYLOAD: 0.3}, {"fid": 40.0, PAYLOAD: 0.4}],
        ceiling={"fid": 3.0, PAYLOAD: 0.9},
        verdicts=[(1, "balanced", "balanced"), (3, "d_dominates" + PAYLOAD, "sentence" + PAYLOAD)],
        collapse=("partial" + PAYLOAD, "collapse" + PAYLOAD),
        write_verdicts_json=True,
    )
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(poison(cfg, "config")))
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    out = []
    for r in recs:
        if r.get("event") == "verdict":
            r["since_step"] = PAYLOAD
            r["message"] = str(r.get("message")) + PAYLOAD
        if r.get("type") == "eval":
            r["extractor"] = PAYLOAD
            r["weights_hash"] = PAYLOAD
        out.append(r)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in out))
    v = json.loads((run / "verdicts.json").read_text())
    (run / "verdicts.json").write_text(json.dumps(poison(v, "verdicts")))
    (run / "samples" / f"step_00000002{FILE_SAFE}.png").write_bytes(sample_png(3))
    return run


def test_run_report_escapes_every_field(tmp_path):
    run = poisoned_run(tmp_path / FILE_SAFE, 32)
    html = build_run_report(run)
    assert_clean(html)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html  # shown, as text


def test_comparison_and_index_escape_every_field(tmp_path):
    runs = [poisoned_run(tmp_path / f"{FILE_SAFE}{b}", b) for b in (32, 64)]
    out = tmp_path / "cmp"
    write_comparison_report(runs, out)
    pages = sorted(out.glob("*.html"))
    assert {p.name for p in pages} >= {"comparison.html", "index.html"} and len(pages) == 4
    for p in pages:
        assert_clean(p.read_text())


def test_index_escapes_titles_and_file_names(tmp_path):
    run = poisoned_run(tmp_path / "r", 32)
    out = tmp_path / "reports"
    write_run_report(run, out / f"{FILE_SAFE}.html")
    write_run_report(run, out / "javascript:alert(1).html")
    index = write_index(out).read_text()
    assert_clean(index)
    assert 'href="javascript:' not in index


@pytest.mark.parametrize("with_sweep", [False, True])
def test_bench_report_escapes_benchmark_and_sweep_fields(tmp_path, with_sweep):
    bench = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    for n, med in ((1, 0.010), (2, 0.020)):
        f = write_benchmark_json(
            bench / f"000{n}_x.json",
            number=n,
            datetime=f"2025-01-0{n}T00:00:00" + PAYLOAD,
            commit="abc" + PAYLOAD,
            node="node" + PAYLOAD,
            cpu="cpu" + PAYLOAD,
            benchmarks=[
                {
                    "name": "test_step" + PAYLOAD,
                    "median": med,
                    "iqr": 0.0001,
                    "group": PAYLOAD,
                    "extra_info": {"gan": PAYLOAD, "batch_size": 64, "device": PAYLOAD, "precision": PAYLOAD},
                }
            ],
        )
        d = json.loads(f.read_text())
        d["commit_info"]["branch"] = PAYLOAD
        f.write_text(json.dumps(d))
    sweeps = []
    if with_sweep:
        sw = tmp_path / "sweep"
        sw.mkdir()
        rows = [
            {
                "gan": PAYLOAD,
                "batch_size": 64,
                "device": PAYLOAD,
                "precision": PAYLOAD,
                "compile": PAYLOAD,
                "status": "ok",
                "ms_median": 3.0,
                "ms_iqr": 0.1,
                "images_per_s": 2000.0,
            },
            {
                k: PAYLOAD
                for k in (
                    "gan",
                    "batch_size",
                    "device",
                    "precision",
                    "compile",
                    "status",
                    "ms_median",
                    "ms_iqr",
                    "images_per_s",
                    "peak_mem_bytes",
                    "flops",
                )
            },
        ]
        (sw / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        sweeps = [sw]
    html = build_bench_report(tmp_path / ".benchmarks", sweeps)
    assert_clean(html)


def test_report_embeds_only_regular_files_inside_the_run(tmp_path):
    """A sample that is a link (to a file outside, or inside) is not embedded nor listed."""
    run = write_synthetic_run(tmp_path / "r", batch_size=32, epochs=1)
    secret = tmp_path / "secret.png"
    secret.write_bytes(sample_png(77))
    (run / "samples" / "step_99999999.png").symlink_to(secret)
    (run / "samples" / "step_99999998.png").symlink_to(run / "config.json")
    html = build_run_report(run)
    assert "step_99999999" not in html and "step_99999998" not in html and str(secret) not in html
    import base64

    assert base64.b64encode(sample_png(77)).decode() not in html
    assert "step_" in html  # the run's own grids are still there
