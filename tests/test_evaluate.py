"""Collapse verdicts on digits and ring8, the eval record, caching and the live callbacks."""

from __future__ import annotations

import json
import math

import pytest
import torch

import diagnostics.metrics as M
from diagnostics.evaluate import evaluate_gan, evaluate_samples
from gans.base import UserError
from gans.data import load_data, mixture_centers

RECORD_KEYS = {
    "type",
    "step",
    "epoch",
    "wall_s",
    "extractor",
    "weights_hash",
    "n_real",
    "n_fake",
    "metrics",
    "ceiling",
    "verdict",
}


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "ganbench-cache"))
        yield


@pytest.fixture(scope="module")
def digits():
    data = load_data("digits", (1, 28, 28))
    train, _ = data.real(data.n_train, "train")
    test, test_y = data.real(360, "test")
    return data, train, test, test_y


def _eval_digits(digits, fake):
    data, train, test, _ = digits
    return evaluate_samples(train, test, fake, extractor="auto", data=data, data_kind="image")


def test_digits_held_out_real_is_healthy(digits):
    data, train, test, _ = digits
    res = _eval_digits(digits, test)
    assert res.verdict.verdict == "healthy", res.verdict.sentence
    assert res.extractor == "classifier" and res.metrics["class_coverage"] == 1.0
    assert res.metrics == res.ceiling  # the fakes *are* the held-out set
    rec = res.to_record(step=5, epoch=0.5, wall_s=1.0)
    assert RECORD_KEYS <= set(rec) and rec["type"] == "eval" and rec["weights_hash"] == res.weights_hash
    assert set(rec["metrics"]) == {
        "fid",
        "diversity",
        "class_coverage",
        "class_kl",
        "precision",
        "recall",
        "density",
        "coverage",
        "ndb",
        "ndb_js",
    }
    assert rec["verdict"] == {"collapse": "healthy", "sentence": res.verdict.sentence}
    json.dumps(rec, allow_nan=False)


def test_digits_two_classes_and_one_sample_are_collapsed(digits):
    data, train, test, test_y = digits
    two = test[(test_y == 0) | (test_y == 1)]
    res = _eval_digits(digits, two)
    assert res.verdict.verdict == "collapsed" and "class coverage 2 of 10" in res.verdict.sentence
    one = test[:1].repeat(300, 1, 1, 1)
    res = _eval_digits(digits, one)
    assert res.verdict.verdict == "collapsed"
    assert res.metrics["diversity"] == pytest.approx(0.0, abs=1e-9) and "diversity" in res.verdict.sentence


def _ring(n, modes, seed):
    centers, std = mixture_centers("ring8")
    g = torch.Generator().manual_seed(seed)
    k = torch.tensor(modes)[torch.randint(len(modes), (n,), generator=g)]
    return centers[k] + std * torch.randn(n, 2, generator=g)


def test_ring8_verdicts():
    data = load_data("ring8", (2,))
    train, _ = data.real(1000, "train")
    test, _ = data.real(1000, "test")
    ok = evaluate_samples(
        train, test, _ring(1000, list(range(8)), 1), extractor="raw", data_kind="vector", mixture="ring8"
    )
    assert ok.verdict.verdict == "healthy" and ok.metrics["modes"] == 8 and ok.ceiling["modes"] == 8
    held = evaluate_samples(train, test, test, extractor="raw", data_kind="vector", mixture="ring8")
    assert held.verdict.verdict == "healthy"
    two = evaluate_samples(train, test, _ring(1000, [0, 3], 2), extractor="raw", data_kind="vector", mixture="ring8")
    assert (
        two.verdict.verdict == "collapsed" and two.metrics["modes"] == 2 and "modes 2 vs real 8" in two.verdict.sentence
    )
    same = evaluate_samples(train, test, test[:1].repeat(1000, 1), extractor="raw", data_kind="vector", mixture="ring8")
    assert same.verdict.verdict == "collapsed" and same.metrics["diversity"] == 0.0
    assert "class_coverage" not in two.metrics and {"modes", "high_quality"} <= set(two.metrics)


def test_real_reference_is_cached(monkeypatch):
    data = load_data("ring8", (2,))
    train, test = data.real(500, "train", seed=5)[0], data.real(500, "test", seed=5)[0]
    fake = _ring(500, [1, 2, 3, 4, 5, 6], 3)
    first = evaluate_samples(train, test, fake, extractor="raw", data_kind="vector", mixture="ring8")

    def boom(*a, **k):
        raise AssertionError("reference recomputed")

    monkeypatch.setattr(M, "ndb_centers", boom)
    second = evaluate_samples(train, test, fake, extractor="raw", data_kind="vector", mixture="ring8")
    assert second.metrics == first.metrics and second.ceiling == first.ceiling
    assert first.verdict.verdict == "partial"  # 6 of 8 modes


def test_bad_inputs():
    x = torch.randn(50, 2)
    with pytest.raises(UserError, match="PRDC .* needs at least 6"):
        evaluate_samples(x, x, x[:3], extractor="raw", data_kind="vector")
    with pytest.raises(UserError, match="per-sample shape"):
        evaluate_samples(x, x, torch.randn(50, 4), extractor="raw", data_kind="vector")
    bad = x.clone()
    bad[3, 0] = math.nan
    with pytest.raises(UserError, match="NaN/Inf in 1 of 50"):
        evaluate_samples(x, x, bad, extractor="raw", data_kind="vector")


def test_training_writes_eval_records_and_verdicts(tmp_path):
    from diagnostics.live import training_callbacks
    from gans.training.loop import TrainConfig, train
    from gans.training.rundir import read_metrics

    cfg = TrainConfig(
        gan="mnist_mlp", dataset="digits", batch_size=64, steps=20, log_every=5, eval_every=10, device="cpu"
    )
    res = train(cfg, tmp_path / "run", callbacks=training_callbacks(eval_samples=300), progress=False)
    assert res.status == "finished"
    evals = read_metrics(tmp_path / "run", "eval")
    assert [e["step"] for e in evals] == [10, 20]
    for e in evals:
        assert RECORD_KEYS <= set(e) and e["n_fake"] == 300 and e["extractor"] == "classifier"
        assert e["epoch"] == pytest.approx(e["step"] / 22)
    v = json.loads((tmp_path / "run" / "verdicts.json").read_text())
    assert v["collapse"]["verdict"] == evals[-1]["verdict"]["collapse"]
    assert v["equilibrium"]["verdict"] in ("balanced", "d_dominates", "g_dominates", "oscillating", "drifting")
    # the same scores from the library call on the saved generator
    from gans.training.rundir import load_run_gan

    gan, _ = load_run_gan(tmp_path / "run")
    again = evaluate_gan(gan, load_data("digits", (1, 28, 28)), n=300)
    assert again.metrics["fid"] == pytest.approx(evals[-1]["metrics"]["fid"], rel=1e-6)
