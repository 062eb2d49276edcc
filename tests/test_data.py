"""Data sources: shapes, ranges, determinism, the seed's file layouts, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gans.base import DataError, UserError
from gans.data import DataOptions, list_datasets, load_data, mixture_centers

from .conftest import write_celeba_h5

CPU = torch.device("cpu")


def _first(data, bs=4, epoch=0):
    return next(data.epoch(bs, epoch, device=CPU))


def test_registry_lists_the_design_sources():
    assert {
        "pattern1010",
        "digits",
        "mnist",
        "fashion-mnist",
        "celeba-h5",
        "image-folder",
        "photos",
        "ring8",
        "grid25",
        "fake",
        "auto",
    } <= set(list_datasets())


def test_digits_is_28x28_in_unit_range_with_a_fixed_split():
    d = load_data("digits", (1, 28, 28))
    x, y = _first(d, 16)
    assert x.shape == (16, 1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.9
    assert y.shape == (16,) and set(y.tolist()) <= set(range(10))
    assert d.n_train + d.info["n_test"] == 1797 and d.num_classes == 10
    xt1, _ = d.real(50, "test")
    xt2, _ = load_data("digits", (1, 28, 28)).real(50, "test")
    assert torch.equal(xt1, xt2)


def test_epoch_order_depends_only_on_seed_and_epoch():
    a = load_data("digits", (1, 28, 28), options=DataOptions(seed=3))
    b = load_data("digits", (1, 28, 28), options=DataOptions(seed=3))
    assert torch.equal(_first(a, 8, 2)[0], _first(b, 8, 2)[0])
    assert not torch.equal(_first(a, 8, 2)[0], _first(a, 8, 3)[0])
    # skipping k batches resumes mid-epoch exactly
    full = list(a.epoch(100, 1, device=CPU))
    tail = list(a.epoch(100, 1, device=CPU, skip=5))
    assert len(full) == 1437 // 100 and len(tail) == len(full) - 5
    assert torch.equal(full[5][0], tail[0][0])


def test_pattern1010_ranges():
    d = load_data("pattern1010", (4,))
    x, y = _first(d, 256)
    assert y is None
    lo, hi = x.min(0).values, x.max(0).values
    assert (lo[[0, 2]] >= 0.8).all() and (hi[[0, 2]] <= 1.0).all()
    assert (lo[[1, 3]] >= 0.0).all() and (hi[[1, 3]] <= 0.2).all()


@pytest.mark.parametrize("name,k,std", [("ring8", 8, 0.02), ("grid25", 25, 0.05)])
def test_mixtures_have_distinct_modes(name, k, std):
    centers, s = mixture_centers(name)
    assert centers.shape == (k, 2) and s == std
    dist = torch.cdist(centers, centers) + torch.eye(k) * 1e9
    assert dist.min() > 10 * std  # distinct, well separated centres
    if name == "ring8":
        assert torch.allclose(centers.norm(dim=1), torch.full((8,), 2.0), atol=1e-6)
    x, _ = _first(load_data(name, (2,)), 2000)
    nearest = torch.cdist(x, centers).min(1)
    assert (nearest.values < 4 * std).float().mean() > 0.99
    assert len(set(nearest.indices.tolist())) == k


def test_photos_give_requested_colour_shapes():
    for shape in ((3, 64, 64), (3, 128, 128)):
        d = load_data("photos", shape)
        x, _ = _first(d, 4)
        assert x.shape == (4, *shape) and 0 <= x.min() and x.max() <= 1 and x.std() > 0.05


def test_fake_matches_any_shape():
    assert _first(load_data("fake", (3, 64, 64)), 2)[0].shape == (2, 3, 64, 64)
    assert _first(load_data("fake", (4,)), 2)[0].shape == (2, 4)


def _write_idx(folder: Path, n: int = 64, gz: bool = True):
    import gzip

    from gans.data.mnist import idx_bytes

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, m in (("train", n), ("t10k", n // 4)):
        imgs = rng.integers(0, 255, size=(m, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=(m,), dtype=np.uint8)
        for kind, arr, dims in (("images", imgs, 3), ("labels", labels, 1)):
            payload = idx_bytes(arr)
            name = f"{split}-{kind}-idx{dims}-ubyte"
            if gz:
                with gzip.open(folder / (name + ".gz"), "wb") as f:
                    f.write(payload)
            else:
                (folder / name).write_bytes(payload)


def test_mnist_reads_torchvision_layout(tmp_path):
    _write_idx(tmp_path / "MNIST" / "raw", gz=False)
    d = load_data("mnist", (1, 28, 28), options=DataOptions(root=str(tmp_path)))
    assert d.n_train == 64 and d.info["n_test"] == 16
    assert "class_names" not in d.info  # digits: the label is the name
    x, y = _first(d, 8)
    assert x.shape == (8, 1, 28, 28) and y.dtype == torch.int64


def test_fashion_mnist_reads_gz_layout(tmp_path):
    _write_idx(tmp_path / "FashionMNIST" / "raw", gz=True)
    d = load_data("fashion-mnist", (1, 28, 28), options=DataOptions(root=str(tmp_path)))
    assert d.n_train == 64
    # label meanings, as torchvision publishes them (verdicts name missing classes by them)
    from torchvision.datasets import FashionMNIST

    assert d.info["class_names"] == list(FashionMNIST.classes)


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_from_debian_package():
    d = load_data("fashion-mnist", (1, 28, 28))
    assert d.n_train == 60000 and d.info["n_test"] == 10000
    assert "/usr/share/datasets/fashion-mnist" in d.info["source"]


def test_auto_falls_back_and_records_the_choice(tmp_path, monkeypatch):
    from gans.data import glyphs

    monkeypatch.setattr("gans.data.mnist.DEBIAN_FASHION_MNIST", tmp_path / "absent")
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(glyphs.RECIPE, "n_train", 200)  # a small glyphs set (its own cache key)
    monkeypatch.setitem(glyphs.RECIPE, "n_test", 50)
    d = load_data("auto", (1, 28, 28), options=DataOptions(root=str(tmp_path)))
    assert d.name == "glyphs" and d.info["auto"]["chosen"] == "glyphs"
    assert len(d.info["auto"]["skipped"]) == 2
    _write_idx(tmp_path / "MNIST" / "raw")
    assert load_data("auto", (1, 28, 28), options=DataOptions(root=str(tmp_path))).name == "mnist"


def test_missing_mnist_names_where_it_looked(tmp_path):
    with pytest.raises(DataError, match="mnist not found.*--download"):
        load_data("mnist", (1, 28, 28), options=DataOptions(root=str(tmp_path)))


def test_malformed_idx_names_the_file(tmp_path):
    _write_idx(tmp_path / "MNIST" / "raw", gz=False)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"garbage!")
    with pytest.raises(DataError, match="train-images-idx3-ubyte: not a valid IDX"):
        load_data("mnist", (1, 28, 28), options=DataOptions(root=str(tmp_path)))


def test_missing_data_root():
    with pytest.raises(DataError, match="does not exist"):
        load_data("mnist", (1, 28, 28), options=DataOptions(root="/nonexistent/ganbench"))


# ---- the seed's CelebA h5 ----


def test_celeba_h5_seed_layout(celeba_h5):
    d = load_data("celeba-h5", (3, 218, 178), options=DataOptions(root=str(celeba_h5)))
    assert d.n_train + d.info["n_test"] == 24
    x, _ = _first(d, 2)
    assert x.shape == (2, 3, 218, 178) and 0 <= x.min() and x.max() <= 1
    # celeba_conv: the seed's crop_centre to 128×128 keeps the centre pixels unchanged
    import h5py

    with h5py.File(celeba_h5) as f:
        raw = np.asarray(f["img_align_celeba"]["0.jpg"])
    crop = load_data("celeba-h5", (3, 128, 128), options=DataOptions(root=str(celeba_h5)))
    from gans.data.images import CelebAH5

    ds = CelebAH5(str(celeba_h5), (3, 128, 128))
    expected = (
        torch.from_numpy(raw[218 // 2 - 64 : 218 // 2 + 64, 178 // 2 - 64 : 178 // 2 + 64]).permute(2, 0, 1).float()
        / 255
    )
    assert torch.allclose(ds[0], expected)
    assert _first(crop, 2)[0].shape == (2, 3, 128, 128)


def test_celeba_h5_without_group(tmp_path):
    path = write_celeba_h5(tmp_path / "bad.h5", n=2, group="images")
    with pytest.raises(DataError, match="no group 'img_align_celeba'"):
        load_data("celeba-h5", (3, 218, 178), options=DataOptions(root=str(path)))


def test_celeba_h5_wrong_shape(tmp_path):
    path = write_celeba_h5(tmp_path / "bad.h5", n=2, shape=(64, 64, 3))
    with pytest.raises(DataError, match=r"0\.jpg' has shape \(64, 64, 3\); expected 218×178×3"):
        load_data("celeba-h5", (3, 218, 178), options=DataOptions(root=str(path)))


def test_celeba_h5_not_hdf5(tmp_path):
    p = tmp_path / "x.h5"
    p.write_text("not hdf5")
    with pytest.raises(DataError, match="not a readable HDF5"):
        load_data("celeba-h5", (3, 218, 178), options=DataOptions(root=str(p)))


# ---- the seed's anime image folder ----


def test_image_folder_seed_transforms(image_folder):
    d = load_data("image-folder", (3, 64, 64), options=DataOptions(root=str(image_folder)))
    assert d.n_train + d.info["n_test"] == 12 or d.n_train == 12
    x, _ = _first(d, 4)
    assert x.shape == (4, 3, 64, 64) and 0 <= x.min() and x.max() <= 1


def test_image_folder_empty(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    with pytest.raises(DataError, match=r"no images \(\.jpg, \.jpeg, \.png, \.gif\)"):
        load_data("image-folder", (3, 64, 64), options=DataOptions(root=str(tmp_path / "empty")))


def test_image_folder_corrupt_file_is_named_or_skipped(image_folder):
    bad = image_folder / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(DataError, match="broken.png: corrupt or unreadable"):
        load_data("image-folder", (3, 64, 64), options=DataOptions(root=str(image_folder)))
    d = load_data("image-folder", (3, 64, 64), options=DataOptions(root=str(image_folder), skip_corrupt=True))
    assert d.info["skipped_files"] == 1
    batches = list(d.epoch(2, 0, device=CPU))  # a whole epoch runs without the bad file
    assert len(batches) == d.n_train // 2


def test_batch_size_checks():
    d = load_data("digits", (1, 28, 28))
    with pytest.raises(UserError, match="larger than the data"):
        list(d.epoch(5000, 0, device=CPU))
    # that a batch size is a positive integer is checked once, where a config enters (TrainConfig.checked:
    # tests/test_train_config.py), not again by every layer


def test_image_source_refuses_vector_gan():
    with pytest.raises(UserError, match="holds images"):
        load_data("digits", (4,))
    with pytest.raises(UserError, match="2-/4-D points"):
        load_data("ring8", (1, 28, 28))
