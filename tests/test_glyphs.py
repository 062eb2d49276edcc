"""The embedded glyphs data set: shapes, labels, determinism, the cache, and the registry."""

from __future__ import annotations

import pytest
import torch

from gans.data import glyphs, list_datasets, load_data


@pytest.fixture()
def small(monkeypatch, tmp_path):
    """A small recipe (its own cache key) in a private cache folder."""
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(glyphs.RECIPE, "n_train", 300)
    monkeypatch.setitem(glyphs.RECIPE, "n_test", 100)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def templates():
    return glyphs._templates(glyphs.glyph_fonts())


def test_fonts_are_matplotlibs_and_include_dejavu():
    fonts = glyphs.glyph_fonts()
    assert any(p.name == "DejaVuSans.ttf" for p in fonts)
    assert all(p.is_file() and "mpl-data" in str(p) for p in fonts)


def test_templates_cover_ten_digits_centred(templates):
    t, labels = templates
    n_fonts = len(glyphs.glyph_fonts())
    assert t.shape == (n_fonts * 10 * len(glyphs.RECIPE["strokes"]), 32, 32)
    assert torch.bincount(labels, minlength=10).tolist() == [n_fonts * len(glyphs.RECIPE["strokes"])] * 10
    assert float(t.min()) >= 0 and float(t.max()) <= 1
    # centre of mass within a pixel of the canvas centre, ink inside the 20/28 box plus a margin
    ys = torch.arange(32, dtype=torch.float32)
    m = t.sum((1, 2))
    cy = (t.sum(2) * ys).sum(1) / m
    cx = (t.sum(1) * ys).sum(1) / m
    assert (cy - 15.5).abs().max() < 1.5 and (cx - 15.5).abs().max() < 1.5
    # a thicker stroke draws more ink than the plain one
    assert (m.reshape(-1, 3)[:, 2] > m.reshape(-1, 3)[:, 0]).all()


def test_render_is_deterministic_and_shaped(templates):
    t, tl = templates
    x1, y1 = glyphs.render_glyphs(500, 7, t, tl, chunk=128)
    x2, y2 = glyphs.render_glyphs(500, 7, t, tl, chunk=500)  # chunking never changes a draw
    x3, _ = glyphs.render_glyphs(500, 8, t, tl)
    assert x1.shape == (500, 1, 28, 28) and x1.dtype == torch.uint8
    assert y1.dtype == torch.int64 and int(y1.min()) >= 0 and int(y1.max()) <= 9
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert len(torch.unique(y1)) == 10
    # digits, not noise: dark borders, inked centre, every image has ink
    xf = x1.float() / 255
    assert xf[:, :, :2].mean() < 0.02 and xf[:, :, 10:18, 10:18].mean() > 0.2
    assert (xf.sum((1, 2, 3)) > 20).all()
    # the same label drawn twice differs (distortions), unlike a repeated template
    same = torch.nonzero(y1 == y1[0]).flatten()[:2]
    assert not torch.equal(x1[same[0]], x1[same[1]])


def test_registered_loaded_and_cached(small, monkeypatch):
    assert "glyphs" in list_datasets()
    d = load_data("glyphs", (1, 28, 28))
    assert d.n_train == 300 and d.num_classes == 10 and d.info["n_test"] == 100
    files = list(small.glob("glyphs-*.pt"))
    assert len(files) == 1
    x, y = d.real(100, "test")
    assert x.shape == (100, 1, 28, 28) and float(x.max()) <= 1.0 and y.shape == (100,)
    xb, yb = next(d.epoch(50, 0, device=torch.device("cpu")))
    assert xb.shape == (50, 1, 28, 28) and yb.shape == (50,)

    # a second load reads the cache: building again would fail
    def no_build():
        raise AssertionError("rebuilt although cached")

    mtime = files[0].stat().st_mtime_ns
    with monkeypatch.context() as m:
        m.setattr(glyphs, "_build", no_build)
        d2 = load_data("glyphs", (1, 28, 28))
    assert torch.equal(d2.real(100, "test")[0], x)
    assert files[0].stat().st_mtime_ns == mtime


def test_corrupt_cache_is_rebuilt_and_recipe_changes_the_key(small, monkeypatch):
    blob, path = glyphs.glyph_arrays()
    path.write_bytes(b"not a torch file")
    blob2, path2 = glyphs.glyph_arrays()
    assert path2 == path and torch.equal(blob2["train_x"], blob["train_x"])
    monkeypatch.setitem(glyphs.RECIPE, "rotate_deg", 5.0)
    assert glyphs.glyphs_cache_path() != path


def test_auto_falls_back_to_glyphs_before_digits(small, monkeypatch, tmp_path):
    from gans.data import mnist

    monkeypatch.setattr(mnist, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    monkeypatch.setenv("GANBENCH_DATA", str(tmp_path / "no-data"))
    d = load_data("auto", (1, 28, 28))
    assert d.info["auto"]["chosen"] == "glyphs"
