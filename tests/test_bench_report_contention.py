"""bench-report says what each number means: a sweep cell disturbed twice shows no figure, the timer-overhead
benchmarks have their own section (not a throughput row or bar), batch sizes print as integers, MFU above 100 % is
never a number."""

from __future__ import annotations

import json
import re

from reports.bench_report import build_bench_report
from tests.helpers.reports import write_benchmark_json


def _sweep(tmp_path):
    base = {"gan": "mnist_mlp", "device": "cpu", "precision": "fp32", "compile": False, "variant": "ganbench"}
    quiet = {"load_1m": 1.1, "cpu_per_wall": 0.99, "reasons": []}
    rows = [
        {**base, "key": "a", "batch_size": 96, "status": "ok", "ms_median": 5.95, "ms_iqr": 0.1,
         "images_per_s": 16134.45, "mfu": 0.5812, "contention": "clean", "remeasured": False, "load": quiet},
        {**base, "key": "b", "batch_size": 512, "status": "ok", "ms_median": 439.123, "ms_iqr": 251.0,
         "images_per_s": 1165.95, "mfu": 0.0123, "contention": "disturbed", "remeasured": True,
         "load": {"load_1m": 5.2, "cpu_per_wall": 0.31, "reasons": ["CPU/wall per thread 0.31 < 0.8"]}},
        {**base, "key": "c", "batch_size": 256, "status": "ok", "ms_median": 12.5, "ms_iqr": 0.2,
         "images_per_s": 20480.0, "mfu": 1.1, "contention": "clean", "remeasured": True, "load": quiet},
    ]
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _rows_of(page: str, section: str) -> list[str]:
    body = page.split(f'data-section="{section}"', 1)[1].split("data-section=", 1)[0]
    return [re.sub(r"<[^>]+>", "|", tr) for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)]


def test_a_disturbed_sweep_cell_shows_no_figure(tmp_path):
    page = build_bench_report(None, [_sweep(tmp_path)])
    rows = _rows_of(page, "sweep")
    (bad,) = [r for r in rows if "|512|" in r]
    assert "disturbed" in bad and "disturbed twice: CPU/wall per thread 0.31 &lt; 0.8" in bad
    assert "439" not in bad and "1,166" not in bad and "1166" not in bad  # no clean-looking number
    (clean,) = [r for r in rows if "|96|" in r]
    assert "|5.95|" in clean and "58.1 %" in clean and "|clean (load 1.1, CPU/wall 0.99)|" in clean
    (again,) = [r for r in rows if "|256|" in r]
    assert "clean after a re-measure" in again
    assert "not shown (over 100 %" in again and "110" not in again and "1.1e+02" not in again
    assert not any("96.0" in r or "512.0" in r for r in rows)  # batch sizes are integers


def test_timer_overhead_has_its_own_section(tmp_path):
    bench = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    bench.mkdir(parents=True)
    step = {"gan": "mnist_mlp", "batch_size": 96, "device": "cpu", "precision": "fp32", "images_per_s": 16000.0}
    write_benchmark_json(
        bench / "0001_abc.json",
        number=1,
        datetime="2026-12-01T10:00:00",
        commit="abc",
        benchmarks=[
            {"name": "test_step[mnist_mlp-cpu-96-fp32]", "median": 0.006, "extra_info": step},
            # older saved runs: no `kind`, told apart by name; the interleaved one carries gan and batch_size
            {"name": "test_timer_overhead_interleaved", "median": 0.3396,
             "extra_info": {"gan": "mnist_mlp", "batch_size": 96, "device": "cpu", "overhead": 0.004,
                            "resolvable": True}},
            {"name": "test_timer_overhead_analytic", "median": 0.0001,
             "extra_info": {"kind": "overhead", "device": "cpu", "overhead_fraction": 0.0002}},
        ],
    )
    page = build_bench_report(tmp_path / ".benchmarks")
    throughput = _rows_of(page, "throughput")
    assert any("test_step[mnist_mlp-cpu-96-fp32]" in r for r in throughput)
    assert not any("overhead" in r for r in throughput)
    assert not any("282" in r or "339.6" in r for r in throughput)  # the old throughput row of the overhead test
    overhead = _rows_of(page, "overhead")
    assert any("test_timer_overhead_interleaved" in r and "339.6" in r and "0.4 %" in r and "yes" in r
               for r in overhead)
    assert any("test_timer_overhead_analytic" in r and "0.02 %" in r for r in overhead)
    assert "Timer overhead (not a throughput)" in page


def test_the_throughput_chart_labels_batch_sizes_as_integers(tmp_path, monkeypatch):
    import reports.bench_report as br

    seen = []
    real = br.plots.bar_chart
    def spy(labels, *a, **k):
        seen.append(list(labels))
        return real(labels, *a, **k)

    monkeypatch.setattr(br.plots, "bar_chart", spy)
    bench = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    bench.mkdir(parents=True)
    info = {"gan": "mnist_mlp", "batch_size": 96, "device": "cpu", "precision": "fp32", "images_per_s": 16000.0}
    write_benchmark_json(bench / "0001_abc.json", number=1, datetime="2026-12-01T10:00:00", commit="abc",
                         benchmarks=[{"name": "test_step", "median": 0.006, "extra_info": info}])
    build_bench_report(tmp_path / ".benchmarks")
    assert seen and seen[0] == ["mnist_mlp · 96 · cpu · fp32"]
