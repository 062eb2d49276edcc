"""Feature extractors: registry, auto choice, the cached classifier, inception without weights."""

from __future__ import annotations

import pytest
import torch

import diagnostics.features as feats
from diagnostics.features import get_extractor, list_extractors, register_extractor, resolve_extractor_name
from gans.base import UserError
from gans.data import load_data
from gans.data.mnist import DEBIAN_FASHION_MNIST


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "ganbench-cache"))
        yield


def test_registry_lists_refuses_duplicates_and_unknown_names():
    assert {"classifier", "inception", "raw", "random-conv"} <= set(list_extractors())
    with pytest.raises(RuntimeError, match="registered twice"):
        register_extractor("raw")(lambda data, **kw: None)
    with pytest.raises(UserError, match="valid feature extractors: .*classifier.*raw"):
        get_extractor("vgg", shape=(2,))


def test_auto_choice():
    assert resolve_extractor_name("auto", load_data("digits", (1, 28, 28))) == "classifier"
    assert resolve_extractor_name("auto", load_data("ring8", (2,))) == "raw"
    # unlabelled images: the contrastive encoder, or inception when its weights file is on disk
    assert resolve_extractor_name("auto", load_data("photos", (3, 32, 32))) == "contrastive"
    assert resolve_extractor_name("auto", None, shape=(3, 32, 32)) == "contrastive"


def test_auto_prefers_inception_when_its_weights_are_on_disk(monkeypatch):
    monkeypatch.setattr(feats, "inception_available", lambda: True)
    assert resolve_extractor_name("auto", None, shape=(3, 32, 32)) == "inception"
    assert resolve_extractor_name("auto", load_data("digits", (1, 28, 28))) == "classifier"  # labels win


def test_contrastive_encoder_trains_caches_and_loads_as_plain_weights(monkeypatch, tmp_path):
    from diagnostics.ssl import ContrastiveSpec, contrastive_encoder

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    real = torch.rand(64, 1, 16, 16, generator=g)
    spec = ContrastiveSpec(steps=3, batch_size=16)
    m1, meta1, path = contrastive_encoder(real, spec, progress=False)
    assert path.is_file() and meta1["n_images"] == 64
    torch.load(path, weights_only=True)  # plain tensors: loading runs no code
    m2, meta2, _ = contrastive_encoder(real, spec, progress=False)
    assert feats.module_weights_hash(m1) == feats.module_weights_hash(m2) and meta2["key"] == meta1["key"]
    assert m1(real[:5]).shape == (5, 256)  # 64 channels × 4 quadrants
    m3, _, path3 = contrastive_encoder(real.flip(0), spec, progress=False)  # other data: another entry
    assert path3 != path


def test_raw_and_random_conv():
    x = torch.rand(7, 1, 8, 8)
    raw = get_extractor("raw", shape=(1, 8, 8))
    assert torch.equal(raw.features(x), x.reshape(7, 64)) and raw.weights_hash is None
    with pytest.raises(UserError, match="at most 4096"):
        get_extractor("raw", shape=(3, 64, 64))
    a, b = get_extractor("random-conv", shape=(3, 32, 32)), get_extractor("random-conv", shape=(3, 32, 32))
    assert a.weights_hash == b.weights_hash  # fixed seed: the same feature space every time
    imgs = torch.rand(5, 3, 32, 32)
    assert torch.allclose(a.features(imgs), b.features(imgs))
    assert a.features(imgs).shape == (5, 256)
    with pytest.raises(UserError, match="per-sample shape"):
        a.features(torch.rand(5, 1, 32, 32))


def test_inception_without_weights_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv(feats.INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    with pytest.raises(UserError) as e:
        get_extractor("inception", shape=(3, 64, 64))
    msg = str(e.value)
    assert feats.INCEPTION_WEIGHTS_ENV in msg and feats.INCEPTION_WEIGHTS_FILE in msg and "never download" in msg
    monkeypatch.setenv(feats.INCEPTION_WEIGHTS_ENV, str(tmp_path / "missing.pth"))
    with pytest.raises(UserError, match="missing.pth|torch-fidelity"):
        get_extractor("inception", shape=(3, 64, 64))


def _accuracy(ex, data) -> float:
    x, y = data.real(int(data.info["n_test"]), "test")
    return float((ex.predict(x).argmax(1) == y).float().mean())


def test_classifier_on_digits_is_accurate_and_cached(monkeypatch):
    data = load_data("digits", (1, 28, 28))
    ex = get_extractor("classifier", data)
    acc = _accuracy(ex, data)
    assert acc >= 0.97, acc
    assert ex.info["test_accuracy"] == pytest.approx(acc, abs=1e-6)  # recorded in the cache metadata
    f, p = ex.features_and_probs(data.real(10, "test")[0])
    assert f.shape == (10, 128) and p.shape == (10, 10) and torch.allclose(p.sum(1), torch.ones(10))

    def boom(*a, **k):
        raise AssertionError("the classifier was trained again")

    monkeypatch.setattr(feats, "train_classifier", boom)
    again = get_extractor("classifier", data)  # a cache hit trains nothing
    assert again.weights_hash == ex.weights_hash


def _confident(ex, x) -> float:
    return float((ex.predict(x).max(1).values >= 0.9).float().mean())


def test_classifier_names_no_class_for_what_is_not_data():
    data = load_data("digits", (1, 28, 28))
    ex = get_extractor("classifier", data)
    x, _ = data.real(int(data.info["n_test"]), "test")
    g = torch.Generator().manual_seed(7)  # draws the classifier never saw (its outliers use other seeds)
    noise = torch.rand(500, 1, 28, 28, generator=g)
    smooth = torch.nn.functional.interpolate(torch.rand(500, 1, 5, 5, generator=g), size=(28, 28), mode="bilinear")
    shuffled = x.reshape(len(x), -1)[:, torch.randperm(784, generator=g)].reshape(x.shape)
    assert _confident(ex, x) >= 0.9  # held-out digits keep their confident class
    for what, xs in (("uniform noise", noise), ("smooth noise", smooth), ("shuffled digits", shuffled)):
        assert _confident(ex, xs) <= 0.02, what
    assert ex.info["noise_confident_share"] <= 0.02  # measured at training and kept in the cache metadata


@pytest.mark.slow
def test_without_outlier_exposure_noise_gets_a_confident_class():
    # the same classifier trained without the outliers: the failure outlier exposure is there to prevent
    data = load_data("digits", (1, 28, 28))
    spec = feats.classifier_spec_for(data.n_train)
    plain = feats.ClassifierSpec(**{**spec.__dict__, "outlier_weight": 0.0})
    model, meta = feats.train_classifier(data, plain, torch.device("cpu"))
    assert meta["test_accuracy"] >= 0.97 and meta["noise_confident_share"] >= 0.2, meta


def test_outliers_are_shaped_like_the_data_and_shuffled_keeps_ink():
    x = torch.rand(6, 1, 28, 28) ** 4
    out = feats.make_outliers(x, ("uniform", "smooth", "shuffled"), 9, torch.Generator().manual_seed(0))
    assert out.shape == (9, 1, 28, 28) and out.min() >= 0 and out.max() <= 1
    shuffled = out[6:]
    # each shuffled image holds one real image's pixels, rearranged: the same sorted values
    for img in shuffled:
        assert any(torch.equal(img.flatten().sort().values, r.flatten().sort().values) for r in x)
    with pytest.raises(ValueError, match="unknown outlier kind"):
        feats.make_outliers(x, ("stripes",), 3, torch.Generator())


@pytest.mark.slow
@pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists(), reason="fashion-mnist not installed"
)
def test_classifier_on_fashion_mnist_reaches_88_percent():
    data = load_data("fashion-mnist", (1, 28, 28))
    ex = get_extractor("classifier", data)
    assert _accuracy(ex, data) >= 0.88


@pytest.mark.slow
def test_contrastive_features_tell_glyph_digits_apart_without_labels():
    """A held-out glyph's five nearest training glyphs, by contrastive feature, name its digit (no label was used
    to train the features). With one global average and shifts alone this was 60 %: the features grouped the
    fonts' styles, and the unlabelled verdicts misjudged 5 and 7 of 10 classes."""
    data = load_data("glyphs", (1, 28, 28))
    ref, ref_y = data.real(5000, "train", seed=0)
    test, test_y = data.real(1000, "test", seed=0)
    ex = get_extractor("contrastive", None, shape=(1, 28, 28), real=ref)
    fr = torch.nn.functional.normalize(ex.features(ref), dim=1)
    ft = torch.nn.functional.normalize(ex.features(test), dim=1)
    votes = ref_y[torch.cdist(ft, fr).topk(5, largest=False).indices]
    accuracy = float((torch.mode(votes, dim=1).values == test_y).float().mean())
    assert accuracy >= 0.85, accuracy
