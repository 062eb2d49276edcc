"""`ganbench` through its entry point: every user mistake is one line on stderr and exit code 2."""

from __future__ import annotations

import json

import pytest
import torch

from ganbench.cli import main

from .conftest import run_cli, write_celeba_h5, write_image_folder


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one clear line, no traceback
    assert err[0].startswith("ganbench: error: ")
    return err[0]


def _train(tmp_path, *args):
    return main(["train", *args, "--quiet", "--no-diagnostics", "--steps", "1", "--out", str(tmp_path / "run")])


def test_unknown_gan_lists_valid_names(capsys):
    assert main(["train", "stylegan9"]) == 2
    msg = _err(capsys)
    assert "unknown GAN 'stylegan9'" in msg and "mnist_mlp" in msg and "dcgan" in msg


def test_unknown_dataset_lists_valid_names(tmp_path, capsys):
    assert _train(tmp_path, "mnist_mlp", "--dataset", "imagenet") == 2
    msg = _err(capsys)
    assert "unknown data set 'imagenet'" in msg and "digits" in msg and "fashion-mnist" in msg


def test_missing_data_root(tmp_path, capsys):
    assert _train(tmp_path, "mnist_mlp", "--dataset", "mnist", "--data-root", str(tmp_path / "nowhere")) == 2
    assert "does not exist" in _err(capsys)


def test_h5_without_group(tmp_path, capsys):
    h5 = write_celeba_h5(tmp_path / "x.h5", n=2, group="faces")
    assert _train(tmp_path, "celeba_mlp", "--dataset", "celeba-h5", "--data-root", str(h5)) == 2
    assert "no group 'img_align_celeba'" in _err(capsys)


def test_h5_wrongly_shaped_images(tmp_path, capsys):
    h5 = write_celeba_h5(tmp_path / "x.h5", n=2, shape=(100, 100, 3))
    assert _train(tmp_path, "celeba_conv", "--dataset", "celeba-h5", "--data-root", str(h5)) == 2
    assert "expected 218×178×3" in _err(capsys)


def test_empty_image_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _train(tmp_path, "dcgan", "--dataset", "image-folder", "--data-root", str(tmp_path / "empty")) == 2
    assert "no images" in _err(capsys)


def test_corrupt_image_is_named(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "faces", n=4)
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    assert _train(tmp_path, "dcgan", "--dataset", "image-folder", "--data-root", str(folder), "--batch-size", "2") == 2
    assert "bad.jpg" in _err(capsys)


@pytest.mark.parametrize("bs,text", [("0", "positive"), ("-3", "positive"), ("5000", "larger than the data")])
def test_bad_batch_sizes(tmp_path, capsys, bs, text):
    assert _train(tmp_path, "mnist_mlp", "--dataset", "digits", "--batch-size", bs) == 2
    assert text in _err(capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu(tmp_path, capsys):
    assert _train(tmp_path, "mnist_mlp", "--dataset", "digits", "--device", "cuda") == 2
    assert "no CUDA GPU" in _err(capsys)


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    assert _train(tmp_path, "mnist_mlp", "--dataset", "digits", "--batch-size", "8") == 0
    before = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    capsys.readouterr()
    assert _train(tmp_path, "mnist_mlp", "--dataset", "digits", "--batch-size", "8") == 2
    assert "already holds a run" in _err(capsys)
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == before


def test_bad_override(tmp_path, capsys):
    assert _train(tmp_path, "mnist_mlp", "--dataset", "digits", "--set", "learning_rate=1") == 2
    assert "no field 'learning_rate'" in _err(capsys)


def test_list_json_and_subprocess_exit_code(tmp_path):
    r = run_cli("list", "--json")
    assert r.returncode == 0
    listing = json.loads(r.stdout)
    assert {g["name"] for g in listing["gans"]} >= {"pattern1010", "mnist_mlp", "celeba_mlp", "celeba_conv", "dcgan"}
    assert {d["name"] for d in listing["datasets"]} >= {"digits", "fashion-mnist", "celeba-h5", "image-folder"}
    r = run_cli("train", "nope")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "unknown GAN" in r.stderr
