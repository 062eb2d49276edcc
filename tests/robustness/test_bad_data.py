"""Robustness, bad data: corrupt images found by decoding, empty folders, bad h5 files and bad arrays are
one line each.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.robust import (
    assert_kept,
    cli,
    one_error_line,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


# ---- 4. bad data --------------------------------------------------------------------------------


def _png(path: Path, seed: int = 0, size: int = 32) -> None:
    from PIL import Image

    a = (np.random.default_rng(seed).random((size, size, 3)) * 255).astype("uint8")
    Image.fromarray(a).save(path)


def _jpeg_bytes(seed: int = 0) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    a = (np.random.default_rng(seed).random((64, 64, 3)) * 255).astype("uint8")
    Image.fromarray(a).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _folder(tmp: Path, bad: dict[str, bytes]) -> Path:
    d = tmp / "imgs"
    d.mkdir()
    for i in range(3):
        _png(d / f"ok{i}.png", i)
    for name, data in bad.items():
        (d / name).write_bytes(data)
    return d


BAD_FOLDERS = {
    "truncated jpeg": {"bad.jpg": _jpeg_bytes()[:-600]},
    "empty jpeg": {"bad.jpg": b""},
    "text as png": {"bad.png": b"hello, not an image"},
    "html as jpg": {"bad.jpg": b"<script>alert(1)</script>"},
    "png header only": {"bad.png": b"\x89PNG\r\n\x1a\n"},
}


@pytest.mark.parametrize("name", list(BAD_FOLDERS))
def test_corrupt_image_found_by_decoding(name, tmp_path, capsys):
    d = _folder(tmp_path, BAD_FOLDERS[name])
    before = snapshot(d)
    argv = [
        "train",
        "mnist_mlp",
        "--dataset",
        "image-folder",
        "--data-root",
        str(d),
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--no-diagnostics",
        "--quiet",
        "--out",
        str(tmp_path / "o"),
    ]
    rc, _, err = cli(argv, capsys)
    assert rc == 2
    one_error_line(err, contains="bad.")
    assert_kept(before, d)


@pytest.mark.parametrize("name", list(BAD_FOLDERS))
def test_skip_corrupt_skips_what_decoding_rejects(name, tmp_path):
    from gans.data import DataOptions, load_data

    d = _folder(tmp_path, BAD_FOLDERS[name])
    data = load_data("image-folder", (1, 28, 28), options=DataOptions(root=str(d), skip_corrupt=True))
    x, _ = next(iter(data.epoch(3, 0, device=torch.device("cpu"), skip=0)))
    assert x.shape[0] == 3 and torch.isfinite(x).all()


EMPTY_FOLDERS = {"no files": {}, "only text": {"a.txt": b"x"}}


@pytest.mark.parametrize("name", list(EMPTY_FOLDERS))
def test_image_folder_without_images(name, tmp_path, capsys):
    d = tmp_path / "imgs"
    d.mkdir()
    for k, v in EMPTY_FOLDERS[name].items():
        (d / k).write_bytes(v)
    rc, _, err = cli(
        [
            "train",
            "mnist_mlp",
            "--dataset",
            "image-folder",
            "--data-root",
            str(d),
            "--steps",
            "1",
            "--no-diagnostics",
            "--quiet",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert rc == 2
    one_error_line(err)


def _h5(path: Path, images: list[np.ndarray], group: str = "img_align_celeba") -> None:
    import h5py

    with h5py.File(path, "w") as f:
        g = f.create_group(group)
        for i, im in enumerate(images):
            g.create_dataset(f"{i}.jpg", data=im)


def test_h5_float_images_in_unit_range_are_not_divided_again(tmp_path):
    from gans.data.images import CelebAH5

    rng = np.random.default_rng(0)
    f32 = [rng.random((218, 178, 3)).astype("float32") for _ in range(2)]
    _h5(tmp_path / "f.h5", f32)
    _h5(tmp_path / "u.h5", [(im * 255).round().astype("uint8") for im in f32])
    a = CelebAH5(str(tmp_path / "f.h5"), (3, 64, 64))[0]
    b = CelebAH5(str(tmp_path / "u.h5"), (3, 64, 64))[0]
    assert a.max() > 0.5 and torch.allclose(a, b, atol=1 / 255 + 1e-6)


H5_BAD = {
    "not hdf5": lambda p: p.write_bytes(b"plain text"),
    "wrong group": lambda p: _h5(p, [np.zeros((218, 178, 3), "uint8")], group="other"),
    "wrong shape": lambda p: _h5(p, [np.zeros((10, 10, 3), "uint8")]),
    "empty group": lambda p: _h5(p, []),
}


@pytest.mark.parametrize("name", list(H5_BAD))
def test_bad_h5(name, tmp_path, capsys):
    p = tmp_path / "c.h5"
    H5_BAD[name](p)
    before = snapshot(tmp_path)
    rc, _, err = cli(
        [
            "train",
            "celeba_mlp",
            "--dataset",
            "celeba-h5",
            "--data-root",
            str(p),
            "--steps",
            "1",
            "--no-diagnostics",
            "--quiet",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert rc == 2
    one_error_line(err, contains="c.h5")
    assert_kept(before, tmp_path)


ARRAYS = {
    "npy wrong rank": ("x.npy", lambda p: np.save(p, np.zeros(5))),
    "npy text": ("x.npy", lambda p: p.write_text("not an array")),
    "npz empty": ("x.npz", lambda p: np.savez(p)),
    "npy strings": ("x.npy", lambda p: np.save(p, np.array([["a", "b"], ["c", "d"]]))),
    "npy dates": ("x.npy", lambda p: np.save(p, np.zeros((40, 4), dtype="datetime64[s]"))),
    "npy complex": ("x.npy", lambda p: np.save(p, np.zeros((40, 4), dtype=np.complex64))),
    "npy objects": ("x.npy", lambda p: np.save(p, np.array([[{"a": 1}]], dtype=object), allow_pickle=True)),
    "pt without tensor": ("x.pt", lambda p: torch.save({"a": 1}, p)),
    "unknown suffix": ("x.csv", lambda p: p.write_text("1,2")),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_diagnose_bad_arrays(name, tmp_path, capsys):
    fname, make = ARRAYS[name]
    p = tmp_path / fname
    make(p)
    rc, _, err = cli(["diagnose", "--real", "digits", "--fake", str(p), "--n", "32"], capsys)
    assert rc == 2
    one_error_line(err)
