"""Collapse verdicts on digits and ring8, the eval record, caching and the live callbacks."""

from __future__ import annotations

import json
import math

import pytest
import torch

import diagnostics.metrics as M
from diagnostics.evaluate import evaluate_gan, evaluate_samples
from diagnostics.metric_registry import REGISTRY
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
    # the fakes *are* the held-out set (to float rounding: two feature passes over a loaded machine's threads
    # have differed in FID's 7th digit, 16.30255694 against 16.30255549)
    assert res.metrics.keys() == res.ceiling.keys()
    for k, v in res.metrics.items():
        assert v == pytest.approx(res.ceiling[k], rel=1e-6, abs=1e-9, nan_ok=True), k
    rec = res.to_record(step=5, epoch=0.5, wall_s=1.0)
    assert RECORD_KEYS <= set(rec) and rec["type"] == "eval" and rec["weights_hash"] == res.weights_hash
    # exactly the registered metrics that apply to labelled images (the registry says where each applies) …
    assert set(rec["metrics"]) == {
        m for m, s in REGISTRY.items() if s.applies in ("always", "images", "classifier features")
    }
    # … and at least these
    assert set(rec["metrics"]) >= {
        "fid",
        "kid",
        "diversity",
        "duplicates",
        "class_coverage",
        "class_kl",
        "class_max_share",
        "sharpness",
        "precision",
        "recall",
        "density",
        "coverage",
        "ndb",
        "ndb_js",
        "largest_bin",
        "memorised",
    }
    assert rec["verdict"]["collapse"] == "healthy" and rec["verdict"]["sentence"] == res.verdict.sentence
    assert rec["verdict"]["memorisation"] == "novel" and res.metrics["memorised"] <= 0.1
    assert rec["verdict"]["quality"] == "good"
    # intervals: the fakes' FID interval overlaps the ceiling's (they are the same set)
    f_iv, c_iv = rec["intervals"]["fake"]["fid"], rec["intervals"]["ceiling"]["fid"]
    assert f_iv[0] <= res.metrics["fid"] <= f_iv[1] and f_iv[0] <= c_iv[1] and c_iv[0] <= f_iv[1]
    json.dumps(rec, allow_nan=False)


def test_digits_two_classes_and_one_sample_are_collapsed(digits):
    data, train, test, test_y = digits
    two = test[(test_y == 0) | (test_y == 1)]
    res = _eval_digits(digits, two)
    assert res.verdict.verdict == "collapsed" and "confident classes 2 of 10" in res.verdict.sentence
    assert "(20%; not drawn: 2, 3, 4, 5, 6, 7, 8, 9)" in res.verdict.sentence
    assert res.details["fake_classes_missing"] == [2, 3, 4, 5, 6, 7, 8, 9]
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

    with pytest.raises(UserError, match=r"array of samples \(N, ...\); got shape \(50,\)"):
        evaluate_samples(x, x, torch.randn(50), extractor="raw", data_kind="vector")


def test_a_bug_inside_evaluate_is_not_called_the_users_mistake(monkeypatch):
    """Inputs are checked where they enter; a ValueError raised later is an internal error, not exit 2."""
    import diagnostics.evaluate as E

    def broken(*a, **k):
        raise ValueError("a bug in a metric")

    monkeypatch.setattr(E, "_scores", broken)
    x = torch.randn(50, 2)
    with pytest.raises(ValueError, match="a bug in a metric") as info:
        evaluate_samples(x, x, x + 0.1, extractor="raw", data_kind="vector", cache=False)
    assert type(info.value) is ValueError  # not relabelled as UserError


def test_training_writes_eval_records_and_verdicts(tmp_path):
    from diagnostics.live import training_callbacks
    from gans.training.loop import TrainConfig, train
    from gans.training.rundir import read_metrics

    cfg = TrainConfig(
        gan="mnist_mlp", dataset="digits", batch_size=64, steps=20, log_every=4, eval_every=10, device="cpu"
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
    assert v["memorisation"]["verdict"] == evals[-1]["verdict"]["memorisation"] and v["memorisation"]["sentence"]
    assert v["equilibrium"]["verdict"] in ("balanced", "d_dominates", "g_dominates", "oscillating", "drifting")
    # the same scores from the library call on the saved generator
    from gans.training.rundir import load_run_gan

    gan, _ = load_run_gan(tmp_path / "run")
    again = evaluate_gan(gan, load_data("digits", (1, 28, 28)), n=300)
    assert again.metrics["fid"] == pytest.approx(evals[-1]["metrics"]["fid"], rel=1e-6)


# --------------------------------------------------------------------------------------------
# The cases of the verdict review, as known answers (labelled path: digits, classifier features)


def _classes(digits, k, n=None):
    data, train, test, test_y = digits
    sel = test[test_y < k]
    return sel if n is None else sel[:n]


@pytest.mark.parametrize("k, want", [(1, "collapsed"), (2, "collapsed"), (6, "partial")])
def test_digits_k_of_10_classes(digits, k, want):
    res = _eval_digits(digits, _classes(digits, k))
    assert res.verdict.verdict == want, res.verdict.sentence
    assert res.quality.verdict == "good", res.quality.sentence


def test_digits_ten_images_repeated_is_collapsed(digits):
    data, train, test, test_y = digits
    ten = torch.cat([test[test_y == c][:1] for c in range(10)]).repeat(30, 1, 1, 1)
    res = _eval_digits(digits, ten)
    assert res.verdict.verdict == "collapsed" and "near-identical twin" in res.verdict.sentence


def test_digits_55_percent_one_class_is_partial(digits):
    data, train, test, test_y = digits
    big = test[test_y == 3][:33]
    rest = torch.cat([test[test_y == c][:3] for c in range(10) if c != 3])  # 33 of 60 = 55 %
    res = _eval_digits(digits, torch.cat([big, rest]))
    assert res.verdict.verdict == "partial" and "class histogram KL" in res.verdict.sentence


def test_noise_is_poor_quality_not_collapsed(digits):
    res = _eval_digits(digits, torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert res.quality.verdict == "poor" and res.verdict.verdict != "collapsed", res.verdict.sentence


def test_different_set_sizes_are_said_and_not_an_alarm(digits):
    data, train, test, _ = digits
    # 100 held-out-real fakes against 260 held-out: the ceiling is 5 draws of 100
    few = evaluate_samples(train, test[100:], test[:100], extractor="auto", data=data)
    assert few.verdict.verdict == "healthy" and few.quality.verdict == "good", few.verdict.sentence
    assert few.n_compared == 100 and any("100 fakes against a ceiling of 5 draws" in n for n in few.notes)
    assert "Note:" in few.verdict.sentence
    # 260 fakes against 100 held-out: the fakes are compared at 100
    many = evaluate_samples(train, test[:100], test[100:], extractor="auto", data=data)
    assert many.verdict.verdict == "healthy", many.verdict.sentence
    assert many.n_compared == 100 and any("fewer than the 260 fakes" in n for n in many.notes)


def test_seed_changes_the_draws():
    data = load_data("ring8", (2,))
    train, test = data.real(400, "train", seed=1)[0], data.real(800, "test", seed=1)[0]
    fake = _ring(300, list(range(8)), 4)
    a = evaluate_samples(train, test, fake, extractor="raw", data_kind="vector", seed=0, cache=False)
    b = evaluate_samples(train, test, fake, extractor="raw", data_kind="vector", seed=1, cache=False)
    assert a.metrics["fid"] == b.metrics["fid"]  # same fakes, same reference
    assert a.ceiling["fid"] != b.ceiling["fid"] and a.intervals["fake"]["fid"] != b.intervals["fake"]["fid"]


@pytest.mark.parametrize(
    "mixture, keep, want",
    [("ring8", 4, "partial"), ("grid25", 20, "partial"), ("ring8", 8, "healthy")],
)
def test_2d_modes_found_without_mixture(mixture, keep, want):
    from diagnostics.zoo import build_mixture_case

    data = load_data(mixture, (2,))
    train, test = data.real(800, "train")[0], data.real(400, "test")[0]
    centers, std = mixture_centers(mixture)
    g = torch.Generator().manual_seed(5)
    k = torch.randperm(centers.shape[0], generator=g)[:keep]
    fake = centers[k[torch.randint(keep, (400,), generator=g)]] + std * torch.randn(400, 2, generator=g)
    res = evaluate_samples(train, test, fake, extractor="raw", data_kind="vector")
    assert res.verdict.verdict == want, res.verdict.sentence
    assert res.ceiling["modes"] == centers.shape[0] and res.metrics["modes"] == keep
    wide = evaluate_samples(train, test, build_mixture_case("wide_modes", mixture, 400, 0), extractor="raw")
    assert wide.quality.verdict == "poor" and wide.verdict.verdict != "collapsed"


# --------------------------------------------------------------------------------------------
# Collapse by definition, and memorisation (known answers)


@pytest.mark.parametrize("noise", [0.0, 0.01, 0.05])
def test_near_identical_grey_squares_are_collapsed_whatever_their_quality(digits, noise):
    g = torch.Generator().manual_seed(0)
    grey = (0.5 + noise * torch.randn(64, 1, 28, 28, generator=g)).clamp(0, 1)
    res = _eval_digits(digits, grey)
    assert res.verdict.verdict == "collapsed", res.verdict.sentence
    assert res.quality.verdict == "poor" and "may be poor quality" not in res.verdict.sentence
    assert "near-identical" in res.verdict.sentence


def test_copy_of_the_training_set_is_flagged_as_memorised(digits):
    data, train, test, _ = digits
    res = _eval_digits(digits, train[:360])
    assert res.metrics["memorised"] == 1.0 and res.ceiling["memorised"] <= 0.1
    assert res.memorisation.verdict == "memorised", res.memorisation.sentence
    assert "100% of the fakes lie closer to a training image" in res.memorisation.sentence
    # half copies, half new samples: still flagged; held-out samples are not
    half = _eval_digits(digits, torch.cat([train[:180], test[:180]]))
    assert half.memorisation.verdict == "memorised" and 0.45 <= half.metrics["memorised"] <= 0.6
    held = _eval_digits(digits, test)
    assert held.memorisation.verdict == "novel" and held.metrics["memorised"] == held.ceiling["memorised"]


def test_memorisation_verdict_thresholds():
    from diagnostics.verdicts import memorisation_verdict

    assert memorisation_verdict({"memorised": 0.26}, {"memorised": 0.05}).verdict == "memorised"
    assert memorisation_verdict({"memorised": 0.24}, {"memorised": 0.05}).verdict == "novel"
    assert memorisation_verdict({"memorised": 0.3}, {"memorised": 0.2}).verdict == "novel"  # within 15 points
    assert memorisation_verdict({"fid": 1.0}, {"fid": 1.0}) is None
