"""``ganbench diagnose`` on users' folders and files: random (seeded) sampling, and bad input stopped early."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganbench.cli import main

# the digits' own 8×8 (64 raw features): at 28×28, FID's bootstrap over 784 raw features took most of this file's
# time (the first test alone 87 s of CPU, loaded; at 8×8 the file takes 8 s of CPU)
SIDE = 8


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory):
    """scikit-learn's digits at SIDE×SIDE saved as ``class{k}_{i}.png``: names sort by class, as exported sets do."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = F.interpolate(torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16, size=(SIDE, SIDE), mode="bilinear")
    x = (x.clamp(0, 1) * 255).round().byte().numpy()[:, 0]
    y = d.target
    perm = np.random.default_rng(0).permutation(len(y))
    root = tmp_path_factory.mktemp("folders")
    sets = {"real": perm[:1200], "healthy": perm[1200:], "two": [i for i in perm[1200:] if y[i] in (3, 7)]}
    for name, idx in sets.items():
        (root / name).mkdir()
        for j, i in enumerate(sorted(idx, key=lambda i: (y[i], i))):
            Image.fromarray(x[i]).save(root / name / f"class{y[i]}_{j:04d}.png")
    return root


def _diagnose(capsys, *args):
    assert main(["diagnose", *map(str, args), "--features", "raw", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_folder_sorted_by_class_healthy_reads_healthy(class_folders, capsys):
    # name order would make the real set (the first 200 of 1,200 files) classes 0 and 1 only
    out = _diagnose(capsys, "--real", class_folders / "real", "--fake", class_folders / "healthy", "--n", 100)
    assert out["verdict"]["collapse"] == "healthy", out["verdict"]["sentence"]
    assert out["sampling"]["real"] == {"total": 1200, "drawn": 200, "how": "random", "seed": 17}
    assert out["sampling"]["fake"] == {"total": 597, "drawn": 100, "how": "random", "seed": 17}
    assert out["memorisation"]["verdict"] == "novel", out["memorisation"]["sentence"]


def test_fakes_copied_from_the_real_folder_read_memorised(class_folders, capsys):
    # the same seeded draw: the 100 fakes are real files, about half of them in the reference half
    out = _diagnose(capsys, "--real", class_folders / "real", "--fake", class_folders / "real", "--n", 100)
    assert out["memorisation"]["verdict"] == "memorised" and out["metrics"]["memorised"] >= 0.4


def test_folder_sorted_by_class_two_classes_read_collapsed(class_folders, capsys):
    out = _diagnose(capsys, "--real", class_folders / "real", "--fake", class_folders / "two", "--n", 100)
    assert out["verdict"]["collapse"] == "collapsed", out["verdict"]["sentence"]


def test_folder_draw_is_seeded(class_folders):
    from ganbench.diagnose import load_samples

    a, ia = load_samples(str(class_folders / "healthy"), n=50, role="fake", seed=3)
    b, _ = load_samples(str(class_folders / "healthy"), n=50, role="fake", seed=3)
    c, _ = load_samples(str(class_folders / "healthy"), n=50, role="fake", seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c) and ia["sampling"]["seed"] == 20
    small, info = load_samples(str(class_folders / "two"), n=500, role="fake")
    assert small.shape == (102, 1, SIDE, SIDE) and info["sampling"]["how"] == "all"


def _err(capsys, *args):
    assert main(["diagnose", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganbench: error: ") and err.count("\n") == 1, err
    return err


def test_folder_mixed_modes_and_sizes_one_line(tmp_path, capsys):
    for name, (mode, size) in {"mixmode": ("RGB", 16), "mixsize": ("L", 20)}.items():
        (tmp_path / name).mkdir()
        for i in range(8):
            Image.new("L", (16, 16), 40 * i).save(tmp_path / name / f"a{i}.png")
        Image.new(mode, (size, size)).save(tmp_path / name / "z.png")
    assert "a colour image (RGB) in a folder of grey images" in _err(
        capsys, "--real", tmp_path / "mixmode", "--fake", tmp_path / "mixmode", "--n", 9
    )
    assert "differs from a0.png's (16, 16)" in _err(
        capsys, "--real", tmp_path / "mixsize", "--fake", tmp_path / "mixsize", "--n", 9
    )


def test_bad_input_stops_before_the_real_set_is_read(tmp_path, capsys):
    (tmp_path / "junk.npy").write_bytes(b"not numpy")  # the real set: reading it would fail with 'unreadable'
    nan = np.random.rand(50, 1, 8, 8)
    nan[7, 0, 3, 3] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    inf = np.random.rand(50, 2)
    inf[3, 1] = np.inf
    np.save(tmp_path / "inf.npy", inf)
    np.save(tmp_path / "one.npy", np.random.rand(1, 1, 8, 8))
    np.save(tmp_path / "ok.npy", np.random.rand(50, 1, 8, 8))
    np.save(tmp_path / "big.npy", np.random.rand(400, 1, 16, 16))
    junk = tmp_path / "junk.npy"
    assert "1 of 50 samples contain NaN or Inf" in _err(capsys, "--real", junk, "--fake", tmp_path / "nan.npy")
    assert "1 of 50 samples contain NaN or Inf" in _err(capsys, "--real", junk, "--fake", tmp_path / "inf.npy")
    assert "holds a single sample" in _err(capsys, "--real", junk, "--fake", tmp_path / "one.npy")
    assert "--n 80 but it holds 50 samples" in _err(capsys, "--real", junk, "--fake", tmp_path / "ok.npy", "--n", 80)
    # the real file's header says 16×16: refused before its 400 rows are read
    err = _err(capsys, "--real", tmp_path / "big.npy", "--fake", tmp_path / "ok.npy")
    assert "shape (1, 16, 16) but fake samples have (1, 8, 8)" in err
    np.save(tmp_path / "small16.npy", np.random.rand(50, 1, 16, 16))
    err = _err(capsys, "--real", tmp_path / "small16.npy", "--fake", tmp_path / "big.npy", "--n", 300)
    assert "small16.npy: --n 300 but it holds 50" in err


def test_npy_rows_drawn_without_reading_the_rest(tmp_path):
    from ganbench.diagnose import _load_array_file

    x = np.random.default_rng(1).random((1000, 2))
    np.save(tmp_path / "x.npy", x)
    got, total = _load_array_file(tmp_path / "x.npy", n=10, seed=0)
    idx = torch.randperm(1000, generator=torch.Generator().manual_seed(17))[:10]
    assert total == 1000 and torch.equal(got, torch.as_tensor(x[idx.numpy()]).float())
