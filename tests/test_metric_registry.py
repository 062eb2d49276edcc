"""The metric registry: every metric whole (direction, label with unit, renderer, source), shown and ranked in
every report, computed by evaluate through the registry alone, and README's table rendered from it."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from markupsafe import escape

from diagnostics import metric_registry as registry
from diagnostics.metric_registry import APPLIES, DIRECTIONS, REGISTRY, MetricSpec
from tests.helpers.reports import write_synthetic_run

ROOT = Path(__file__).resolve().parents[1]


def test_every_metric_is_whole():
    assert len(REGISTRY) >= 20
    for name, s in REGISTRY.items():
        assert s.name == name and re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert s.direction in DIRECTIONS or (s.direction is None and len(s.unranked) > 10), name
        assert s.label and "(" in s.label and s.unit and s.what and s.applies in APPLIES, name  # label with unit
        assert (s.source or s.compute) and not (s.source and s.compute), name  # computed in one place
        assert s.render(0.123456) == format(0.123456, s.fmt) and s.render(None) == "–", name
        if s.direction == "target":  # ranked against the real data's value, or a declared default
            assert s.default_target is None or s.default_target > 0, name
    assert registry.direction("fid") == "lower" and registry.direction("made_up") is None
    assert registry.label("made_up") == "made_up" and registry.render("made_up", 2.5) == "2.5"


def _values(scale: float) -> dict[str, float]:
    return {m: scale * (1 + i / 100) for i, m in enumerate(REGISTRY)}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A run report, a comparison page and its JSON, of runs that carry every registered metric."""
    from reports.compare import write_comparison_report
    from reports.run_report import build_run_report

    tmp = tmp_path_factory.mktemp("registry")
    real = _values(0.6)
    runs = [
        write_synthetic_run(tmp / f"r{bs}", batch_size=bs, epochs=2, evals=[_values(0.2), _values(v)], ceiling=real)
        for bs, v in ((96, 0.5), (512, 0.3))
    ]
    comp = write_comparison_report(runs, tmp / "cmp", run_reports=False)
    return {
        "run": build_run_report(runs[0]),
        "comparison": (tmp / "cmp" / "comparison.html").read_text(),
        "json": json.loads((tmp / "cmp" / "comparison.json").read_text()),
        "comp": comp,
    }


def test_every_registered_metric_shows_in_the_run_report(pages):
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", pages["run"], flags=re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        if cells:
            rows[cells[0]] = cells
    for name, s in REGISTRY.items():
        assert name in rows, name
        assert rows[name][-1] == str(escape(s.label)), name  # the "meaning" column: label with unit


def test_every_registered_metric_is_ranked_in_its_direction_on_the_comparison_page(pages):
    comp, page, js = pages["comp"], pages["comparison"], pages["json"]
    assert set(comp.metrics) == set(REGISTRY)
    for name, s in REGISTRY.items():
        for point in ("at_equal_epochs", "at_equal_wall"):
            meas, key = comp.measures[f"{name} {point}"], f"{name} {point}"
            assert meas.better == s.direction and js["measures"][key]["better"] == s.direction, name
            if s.direction is None:
                assert key not in comp.conclusion.judged, name  # declared unranked: shown, never ranked
                assert f"not ranked: {escape(s.unranked)}" in page, name  # … with the registry's reason
                continue
            j = comp.conclusion.judged[key]
            # lower: 0.3 < 0.5 → batch 512; higher → batch 96; target 0.6 (the real data's): 0.5 is closer → 96
            assert j.winner == {"lower": 512, "higher": 96, "target": 96}[s.direction], name
            if s.direction == "target":
                assert meas.target == pytest.approx(0.6 * (1 + list(REGISTRY).index(name) / 100)), name
        assert f'data-measure="{name}" data-point="at_equal_epochs" data-batch="96"' in page, name
        assert f'title="{escape(s.label)}"' in page, name
    ranked = sum(1 for s in REGISTRY.values() if s.direction)
    lower = sum(1 for s in REGISTRY.values() if s.direction == "lower")
    summary = " ".join(comp.conclusion.summary)
    assert f"batch 96 won {ranked - lower} of {ranked}; batch 512 won {lower} of {ranked} quality measures" in summary


def test_every_registered_metric_shows_in_diagnose_output(capsys):
    from ganbench.diagnose import _print_table

    metrics, real = _values(0.5), _values(0.6)
    out = {
        "real": "r", "fake": "f", "extractor": "raw", "weights_hash": None, "n_real": 10, "n_test": 10, "n_fake": 10,
        "metrics": metrics, "ceiling": real, "intervals": {"fake": {"fid": [0.4, 0.6]}},
        "verdict": {"collapse": "healthy", "sentence": "healthy: …"},
    }  # fmt: skip
    _print_table(out)
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  ") and ln.split()}
    for name, s in REGISTRY.items():
        assert name in lines, name
        assert s.render(metrics[name]) in lines[name] and s.render(real[name]) in lines[name], name
    assert "[0.4, 0.6]" in lines["fid"]


def _images(n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 8, 8, generator=g) * 0.8 + shift).clamp(0, 1)


def test_evaluate_reports_only_registered_metrics_and_their_intervals():
    from diagnostics.evaluate import evaluate_samples

    res = evaluate_samples(_images(160, 1), _images(120, 2), _images(120, 3, 0.1), extractor="raw", cache=False)
    assert set(res.metrics) <= set(REGISTRY) and set(res.ceiling) == set(res.metrics)
    assert set(res.intervals["fake"]) == {s.name for s in REGISTRY.values() if s.interval}
    from gans.data import mixture_centers

    centers, std = mixture_centers("ring8")
    g = torch.Generator().manual_seed(0)
    pts = [centers[torch.randint(8, (n,), generator=g)] + std * torch.randn(n, 2, generator=g) for n in (300, 200, 200)]
    toy = evaluate_samples(*pts, extractor="raw", data_kind="vector", mixture="ring8", cache=False)
    assert set(toy.metrics) <= set(REGISTRY) and {"modes", "high_quality", "mode_kl"} <= set(toy.metrics)


def test_a_metric_added_to_the_registry_alone_is_computed_cached_apart_and_shown(monkeypatch, tmp_path, capsys):
    """The mechanism behind "adding a metric touches one file": a spec with a compute function, nothing else."""
    from diagnostics.evaluate import evaluate_samples

    def mean_pixel(s):
        return float(s.x.float().mean())

    spec = MetricSpec(
        "mean_pixel", "mean pixel (intensity, real = target)", "intensity", "target", "mean pixel value",
        applies="images", compute=mean_pixel,
    )  # fmt: skip
    before = registry.registry_key()
    monkeypatch.setitem(REGISTRY, "mean_pixel", spec)
    assert registry.registry_key() != before  # cached real-data ceilings are recomputed with the new metric
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    real, test, fake = _images(160, 1), _images(120, 2), _images(120, 3, 0.1)
    res = evaluate_samples(real, test, fake, extractor="raw", cache=True)
    assert res.metrics["mean_pixel"] == pytest.approx(float(fake.mean()), rel=1e-6)
    assert res.ceiling["mean_pixel"] == pytest.approx(float(test.mean()), rel=1e-6)  # every held-out draw is all
    assert registry.direction("mean_pixel") == "target" and "`mean_pixel`" in registry.markdown_table()


def test_readme_holds_the_generated_metrics_table():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(re.escape(registry.TABLE_START) + r"\n(.*?)" + re.escape(registry.TABLE_END), text, flags=re.S)
    assert m, f"README.md has no {registry.TABLE_START} … {registry.TABLE_END} block"
    assert m.group(1) == registry.markdown_table(), "README's metrics table is stale: paste registry.markdown_table()"


def test_markdown_table_lists_every_metric_once():
    table = registry.markdown_table().splitlines()
    assert table[0].startswith("| metric | what | unit | better |") and len(table) == 2 + len(REGISTRY)
    for line, s in zip(table[2:], REGISTRY.values()):
        assert line.startswith(f"| `{s.name}` |") and line.count(" | ") == 5, line
    assert "not ranked: a test's p-value" in registry.markdown_table()


def test_the_registry_and_the_comparison_load_no_torch():
    code = (
        "import sys, diagnostics.metric_registry, diagnostics.comparison, reports.compare; "
        "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    # reports.compare draws with matplotlib, which loads numpy; torch is never loaded
    assert "torch" not in r.stdout
    r = subprocess.run(
        [sys.executable, "-c", code.replace(", reports.compare", "")], capture_output=True, text=True, cwd=ROOT
    )
    assert r.stdout.strip() == "[]", r.stdout


def test_class_score_known_answers():
    """The Inception Score's formula on class probabilities: K for confident, evenly drawn classes; 1 for one."""
    score = REGISTRY["class_score"].compute

    def given(probs):
        return registry.MetricInput(x=None, features=None, ref_features=None, probs=probs, num_classes=4)

    even = torch.eye(4).repeat(3, 1)  # 12 samples, each confidently one of 4 classes, 3 per class
    assert score(given(even)) == pytest.approx(4.0, rel=1e-9)
    skewed = math.exp(0.75 * math.log(4 / 3) + 0.25 * math.log(4))  # p(y) = (¾, ¼): KL log 4/3 and log 4
    assert score(given(torch.eye(4)[[0, 0, 0, 1]])) == pytest.approx(skewed)
    assert score(given(torch.eye(4)[[2] * 6])) == pytest.approx(1.0, rel=1e-9)  # one class: no variety
    assert score(given(torch.full((6, 4), 0.25))) == pytest.approx(1.0, rel=1e-9)  # no confident prediction
    assert score(given(None)) is None  # no classifier: the metric does not apply
    assert REGISTRY["class_score"].direction == "higher" and REGISTRY["class_score"].applies == "classifier features"


def test_every_metric_the_verdicts_read_is_registered():
    """A verdict reads scores by their registry keys: a renamed or unregistered key fails here, not silently."""
    src = (ROOT / "diagnostics" / "verdicts.py").read_text(encoding="utf-8")
    keys = set(re.findall(r'_(?:num|rel)\((?:metrics|ceiling)(?:, ceiling)?, "(\w+)"\)', src))
    assert len(keys) >= 15 and keys <= set(REGISTRY), keys - set(REGISTRY)
