"""FID/KID against the libraries users trust (torchmetrics, given our feature module), KID over subsets, and real
statistics in pytorch-fid's .npz layout (--save-stats / --real FILE.npz)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import diagnostics.metrics as M
from ganbench.cli import main


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "ganbench-cache"))
        yield


def _images(n, seed, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(n, 1, 4, 4, generator=g)
    x = torch.nn.functional.interpolate(z, size=(16, 16), mode="bilinear")
    return (x * (1 - shift) + shift * torch.rand(n, 1, 16, 16, generator=g)).clamp(0, 1)


class _Ours(nn.Module):
    """Our random-conv feature extractor as torchmetrics' ``feature=`` module (float64 out, so both libraries
    compute in float64)."""

    def __init__(self, ex):
        super().__init__()
        self.ex = ex
        self.num_features = ex.features(torch.rand(2, 1, 16, 16)).shape[1]

    def forward(self, x):
        return self.ex.features(x).double()


def test_fid_and_kid_agree_with_torchmetrics_given_our_features():
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    from diagnostics.features import get_extractor

    ex = get_extractor("random-conv", None, shape=(1, 16, 16))
    real, fake = _images(400, 0), _images(400, 1, shift=0.3)
    fr, ff = ex.features(real).double(), ex.features(fake).double()
    ours_fid = M.fid_from_features(fr, ff).fid
    ours_kid = M.kid_from_features(fr, ff).kid
    fid = FrechetInceptionDistance(feature=_Ours(ex), normalize=True)
    kid = KernelInceptionDistance(feature=_Ours(ex), subsets=1, subset_size=400, normalize=True)
    for metric in (fid, kid):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    theirs_fid = float(fid.compute())
    theirs_kid = float(kid.compute()[0])  # one subset of all 400: a permutation of the full sets, deterministic
    assert ours_fid > 1e-4 and ours_kid > 0  # the sets differ: a relative comparison means something
    assert ours_fid == pytest.approx(theirs_fid, rel=1e-6)
    assert ours_kid == pytest.approx(theirs_kid, rel=1e-6)


def test_kid_over_subsets_equals_the_exact_kid_when_a_subset_holds_every_sample(monkeypatch):
    import diagnostics.evaluate as E

    real, test, fake = _images(300, 2), _images(200, 3), _images(200, 4, shift=0.3)
    exact = E.evaluate_samples(real, test, fake, extractor="random-conv", cache=False)
    monkeypatch.setattr(E, "KID_EXACT_MAX", 50)
    monkeypatch.setattr(E, "KID_SUBSET_SIZE", 10_000)  # each subset is then a permutation of the whole set
    sub = E.evaluate_samples(real, test, fake, extractor="random-conv", cache=False)
    assert sub.metrics["kid"] == pytest.approx(exact.metrics["kid"], rel=1e-9)
    assert sub.ceiling["kid"] == pytest.approx(exact.ceiling["kid"], rel=1e-9)
    lo, hi = sub.intervals["fake"]["kid"]
    assert lo == pytest.approx(hi, abs=1e-12)  # identical subsets: no spread
    monkeypatch.setattr(E, "KID_SUBSET_SIZE", 50)  # real subsets: the mean of 100 estimates, near the exact value
    small = E.evaluate_samples(real, test, fake, extractor="random-conv", cache=False)
    lo, hi = small.intervals["fake"]["kid"]
    assert lo < small.metrics["kid"] < hi and abs(small.metrics["kid"] - exact.metrics["kid"]) < 3 * (hi - lo)


def test_few_samples_for_the_feature_dimension_are_noted():
    import diagnostics.evaluate as E

    real, test, fake = _images(60, 2), _images(40, 3), _images(40, 4)
    res = E.evaluate_samples(real, test, fake, extractor="raw", cache=False)  # 256 dimensions, 40 samples
    assert any("only 40 samples per set for 256-dimensional raw features (N ≤ D)" in n for n in res.notes)


def _run(capsys, *args):
    assert main(["diagnose", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_stats_npz_round_trip(tmp_path, capsys):
    np.save(tmp_path / "real.npy", _images(400, 5).numpy())
    np.save(tmp_path / "fake.npy", _images(200, 6, shift=0.2).numpy())
    stats = tmp_path / "real-stats.npz"
    full = _run(capsys, "--real", tmp_path / "real.npy", "--fake", tmp_path / "fake.npy", "--features", "raw",
                "--save-stats", stats)
    with np.load(stats, allow_pickle=False) as z:  # pytorch-fid's layout, plus the extractor's identity
        assert z["mu"].shape == (256,) and z["sigma"].shape == (256, 256) and z["mu"].dtype == np.float64
        assert str(z["extractor"]) == "raw" and int(z["n"]) == 200 and str(z["extractor_identity"]).startswith("raw:")
    again = _run(capsys, "--real", stats, "--fake", tmp_path / "fake.npy")  # the recorded extractor is used
    assert again["stats_only"] and again["extractor"] == "raw" and again["n_real"] == 200 and not again["notes"]
    assert again["metrics"]["fid"] == pytest.approx(full["metrics"]["fid"], rel=1e-9)
    # a pytorch-fid file (mu and sigma only) is read too, and said to be unchecked
    with np.load(stats) as z:
        np.savez(tmp_path / "pytorch-fid.npz", mu=z["mu"], sigma=z["sigma"])
    bare = _run(capsys, "--real", tmp_path / "pytorch-fid.npz", "--fake", tmp_path / "fake.npy", "--features", "raw")
    assert bare["metrics"]["fid"] == again["metrics"]["fid"] and "does not record its features" in bare["notes"][0]
    # without --fake: the statistics of --n real samples
    _run(capsys, "--real", tmp_path / "real.npy", "--features", "raw", "--save-stats", tmp_path / "all.npz")
    mu, sigma = M.gaussian_stats(_images(400, 5).reshape(400, -1).double())
    with np.load(tmp_path / "all.npz") as z:
        assert np.allclose(z["mu"], mu.numpy(), atol=1e-7) and np.allclose(z["sigma"], sigma.numpy(), atol=1e-7)


@pytest.mark.parametrize(
    "features, message",
    [
        ("random-conv", "holds raw statistics but --features is random-conv"),
        ("contrastive", "holds raw statistics but --features is contrastive"),
    ],
)
def test_stats_of_other_features_are_refused(tmp_path, capsys, features, message):
    np.save(tmp_path / "real.npy", _images(100, 5).numpy())
    np.save(tmp_path / "fake.npy", _images(50, 6).numpy())
    assert main(["diagnose", "--real", str(tmp_path / "real.npy"), "--features", "raw", "--save-stats",
                 str(tmp_path / "s.npz")]) == 0
    capsys.readouterr()
    assert main(["diagnose", "--real", str(tmp_path / "s.npz"), "--fake", str(tmp_path / "fake.npy"),
                 "--features", features]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganbench: error: ") and message in err and err.count("\n") == 1


def test_nearest_neighbour_scores_read_a_subset_beyond_nn_max(monkeypatch):
    import diagnostics.evaluate as E

    real, test = _images(300, 7), _images(200, 8)
    monkeypatch.setattr(E, "NN_MAX", 60)
    copy = E.evaluate_samples(real, test, real[:200], extractor="random-conv", cache=False)
    assert copy.metrics["memorised"] == 1.0 and copy.memorisation.verdict == "memorised"
    one = E.evaluate_samples(real, test, test[:1].repeat(200, 1, 1, 1), extractor="random-conv", cache=False)
    assert one.metrics["duplicates"] == 1.0 and one.verdict.verdict == "collapsed"
    held = E.evaluate_samples(real, test, _images(200, 9), extractor="random-conv", cache=False)
    assert held.memorisation.verdict == "novel" and 0.5 < held.metrics["coverage"] <= 1.0
    assert E._nn_subset(torch.arange(100.0).reshape(50, 2)).shape == (50, 2)  # at most NN_MAX rows: all of them
    assert E._nn_subset(torch.arange(200.0).reshape(100, 2)).shape == (60, 2)
