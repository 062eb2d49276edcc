"""Each kind of report in a real headless Chromium: the page loads, no image is broken, the screenshot is not blank."""

from __future__ import annotations

import pytest

from reports.bench_report import write_bench_report
from reports.compare import write_comparison_report
from reports.html import img_png, page, section
from reports.run_report import write_run_report
from tests.helpers.browser import find_chromium, png_stats, render_in_browser
from tests.helpers.reports import sample_png, write_benchmark_json, write_synthetic_run

pytestmark = pytest.mark.skipif(
    find_chromium() is None, reason="chromium is not installed (apt-get install chromium); .ci/run installs it"
)


def _check(html_path, tmp_path, min_images):
    res = render_in_browser(html_path, tmp_path / (html_path.stem + ".png"), height=3000)
    assert res.loaded, "the page's load handler never ran"
    assert res.n_images >= min_images
    assert res.broken_images == 0
    st = png_stats(res.png)
    assert st["width"] == 1280 and st["variance"] > 200 and st["non_white"] > 0.03, st
    return res


@pytest.fixture(scope="module")
def reports_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    r96 = write_synthetic_run(
        tmp / "r96",
        batch_size=96,
        epochs=4,
        evals=[{"fid": 50.0, "coverage": 0.4}, {"fid": 30.0, "coverage": 0.6}],
        ceiling={"fid": 2.0, "coverage": 0.95},
        verdicts=[(1, "balanced", "balanced since step 1"), (20, "d_dominates", "D dominates since step 20")],
        collapse=("healthy", "all classes covered"),
    )
    r512 = write_synthetic_run(
        tmp / "r512",
        batch_size=512,
        epochs=4,
        images_per_s=3000.0,
        evals=[{"fid": 70.0, "coverage": 0.3}, {"fid": 60.0, "coverage": 0.35}],
        ceiling={"fid": 2.0, "coverage": 0.95},
    )
    out = tmp / "out"
    write_run_report(r96, out / "run.html")
    write_comparison_report([r96, r512], out / "cmp")
    m = tmp / ".benchmarks" / "Linux"
    for i, med in enumerate((0.010, 0.016)):
        write_benchmark_json(
            m / f"000{i + 1}_c{i}.json",
            number=i + 1,
            datetime=f"2025-01-0{i + 1}T00:00:00",
            commit=f"c{i}" * 10,
            benchmarks=[
                {
                    "name": "test_step[mnist_mlp-96]",
                    "median": med,
                    "iqr": 0.0004,
                    "extra_info": {"gan": "mnist_mlp", "batch_size": 96, "device": "cpu", "precision": "fp32"},
                }
            ],
        )
    write_bench_report(tmp / ".benchmarks", out / "bench.html")
    return out


def test_run_report_renders(reports_dir, tmp_path):
    _check(reports_dir / "run.html", tmp_path, min_images=6)


def test_comparison_and_index_render(reports_dir, tmp_path):
    _check(reports_dir / "cmp" / "comparison.html", tmp_path, min_images=6)
    res = render_in_browser(reports_dir / "cmp" / "index.html", tmp_path / "index.png", height=800)
    assert res.loaded and res.n_images == 0 and "comparison.html" in res.dom


def test_bench_report_renders(reports_dir, tmp_path):
    _check(reports_dir / "bench.html", tmp_path, min_images=2)


def test_broken_image_is_detected(tmp_path):
    """The check can fail: a page with one undecodable image reports it."""
    good = img_png(sample_png(1), "good")
    bad = good.replace("base64,", "base64,AAAA", 1).replace('alt="good"', 'alt="bad"')
    p = tmp_path / "broken.html"
    p.write_text(page("broken", section("x", "x", good + bad)))
    res = render_in_browser(p, tmp_path / "broken.png", height=600)
    assert res.loaded and res.n_images == 2 and res.broken_images == 1
