"""Hardening: caches that prove what they hold; a damaged entry is refused with one line or rebuilt.

Every test here failed on the code before the fix it names (checked where cheap) and passes after.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# --------------------------------------------------------------------------------------------
# 2. caches that prove what they hold


def _damage(path: Path, how: str) -> None:
    """Flip one byte or zero a region in the middle of ``path`` (where a cache's tensor data lies)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    if how == "flip":
        data[mid] ^= 0xFF
    else:
        n = min(len(data) // 4, 1 << 20)
        data[mid - n // 2 : mid + n // 2] = bytes(n)
    path.write_bytes(bytes(data))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("how", ["flip", "zero"])
def test_a_damaged_cache_entry_is_refused_with_one_line(tmp_path, capsys, how):
    import torch

    from gans.cache import load_checked, save_checked

    path = tmp_path / "entry.pt"
    content = {"x": torch.arange(50_000, dtype=torch.float32), "meta": {"n": 3, "name": "a"}}
    save_checked(content, path)
    back = load_checked(path, "test")
    assert torch.equal(back["x"], content["x"]) and back["meta"] == content["meta"]
    _damage(path, how)
    assert load_checked(path, "test") is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "test cache entry entry.pt" in err and "rebuilding" in err
    torch.save({"x": content["x"]}, path)  # an entry without a content hash (older ganbench) is not trusted
    assert load_checked(path, "test") is None and "without a content hash" in capsys.readouterr().err


def test_glyphs_cache_with_a_damaged_region_or_the_wrong_count_is_rebuilt(cache, monkeypatch, capsys):
    import torch

    from gans.cache import save_checked
    from gans.data import glyphs

    def full(fill: int) -> dict[str, torch.Tensor]:
        return {"train_x": torch.full((60_000, 1, 28, 28), fill, dtype=torch.uint8),
                "train_y": torch.zeros(60_000, dtype=torch.int64),
                "test_x": torch.full((10_000, 1, 28, 28), fill, dtype=torch.uint8),
                "test_y": torch.zeros(10_000, dtype=torch.int64)}

    builds = []
    monkeypatch.setattr(glyphs, "_build", lambda: builds.append(1) or full(7))
    path = glyphs.glyphs_cache_path()
    small = {k: v[:50] for k, v in full(9).items()}
    save_checked(small, path)  # a whole, hash-true entry of 50 images: not the recipe's data set
    blob, _ = glyphs.glyph_arrays()
    assert builds == [1] and blob["train_x"].shape[0] == 60_000 and int(blob["train_x"][0, 0, 0, 0]) == 7
    assert "holds train arrays of shape (50, 1, 28, 28)" in capsys.readouterr().err
    save_checked(full(9), path)
    blob, _ = glyphs.glyph_arrays()  # a good entry is used as it is
    assert builds == [1] and int(blob["train_x"][0, 0, 0, 0]) == 9
    _damage(path, "zero")  # 1 MB zeroed: before, 1,337 blank images trained
    blob, _ = glyphs.glyph_arrays()
    assert builds == [1, 1] and int(blob["train_x"][-1, 0, 0, 0]) == 7
    assert "does not match its hash" in capsys.readouterr().err


def test_classifier_weights_hash_comes_from_the_loaded_tensors_and_damage_retrains(cache, monkeypatch, capsys):
    import torch

    from diagnostics import features as F
    from diagnostics.metrics import module_weights_hash
    from gans.cache import save_checked
    from gans.data import load_data

    data = load_data("digits", (1, 28, 28))
    spec = F.classifier_spec_for(data.n_train)
    path = cache / "extractors" / f"classifier-{data.name}-{F.classifier_cache_key(data, spec)}.pt"
    torch.manual_seed(0)
    model = F.SmallCNN(1, 10, spec.width, spec.feature_dim)
    save_checked({"state_dict": model.state_dict(), "meta": {"weights_hash": "0" * 64}}, path)
    trained = []

    def fake_train(data, spec, device):
        trained.append(1)
        torch.manual_seed(1)
        return F.SmallCNN(1, 10, spec.width, spec.feature_dim), {}

    monkeypatch.setattr(F, "train_classifier", fake_train)
    ex = F.get_extractor("classifier", data)
    assert not trained and ex.weights_hash == module_weights_hash(model) != "0" * 64  # not the cache's word
    _damage(path, "flip")
    ex2 = F.get_extractor("classifier", data)
    assert trained == [1] and ex2.weights_hash != ex.weights_hash
    assert "classifier extractor cache entry" in capsys.readouterr().err


def test_contrastive_encoder_cache_damage_retrains(cache, monkeypatch, capsys):
    import torch

    from diagnostics import ssl

    real = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    spec = ssl.ContrastiveSpec()
    calls = []

    def fake_train(real, spec, progress=True):
        calls.append(1)
        torch.manual_seed(len(calls))
        return ssl.ContrastiveEncoder(real.shape[1], spec.max_side), {"n_images": real.shape[0]}

    monkeypatch.setattr(ssl, "train_contrastive", fake_train)
    m1, _, path = ssl.contrastive_encoder(real, spec)
    m2, _, _ = ssl.contrastive_encoder(real, spec)
    assert calls == [1]
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    _damage(path, "zero")
    ssl.contrastive_encoder(real, spec)
    assert calls == [1, 1] and "contrastive encoder cache entry" in capsys.readouterr().err


def test_real_stats_cache_damage_is_recomputed(cache, capsys):
    from diagnostics.evaluate import evaluate_samples
    from gans.data import load_data

    data = load_data("ring8", (2,))
    tr, te = data.real(300, "train", seed=5)[0], data.real(300, "test", seed=5)[0]
    fake = data.real(300, "test", seed=6)[0]
    first = evaluate_samples(tr, te, fake, extractor="raw", data_kind="vector", mixture="ring8")
    (entry,) = (cache / "real_stats").glob("*.pt")
    _damage(entry, "zero")
    capsys.readouterr()
    again = evaluate_samples(tr, te, fake, extractor="raw", data_kind="vector", mixture="ring8")
    assert "real-data statistics cache entry" in capsys.readouterr().err
    assert again.metrics == first.metrics  # recomputed, not read from the damaged entry
