"""``ganbench diagnose``: one real subprocess call, and the exit-2 cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from ganbench.cli import main
from gans.data import mixture_centers


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "ganbench-cache"))
        yield


def _ring(n, modes, seed):
    centers, std = mixture_centers("ring8")
    g = torch.Generator().manual_seed(seed)
    k = torch.tensor(modes)[torch.randint(len(modes), (n,), generator=g)]
    return (centers[k] + std * torch.randn(n, 2, generator=g)).numpy()


def test_subprocess_json(tmp_path):
    np.save(tmp_path / "real.npy", _ring(800, list(range(8)), 0))
    np.save(tmp_path / "fake.npy", _ring(400, [2, 5], 1))
    env = {**os.environ, "GANBENCH_CACHE": str(tmp_path / "cache")}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganbench",
            "diagnose",
            "--real",
            str(tmp_path / "real.npy"),
            "--fake",
            str(tmp_path / "fake.npy"),
            "--mixture",
            "ring8",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["verdict"]["collapse"] == "collapsed" and out["metrics"]["modes"] == 2 and out["ceiling"]["modes"] == 8
    assert out["n_real"] == 400 and out["n_test"] == 400 and out["n_fake"] == 400 and out["extractor"] == "raw"


def test_table_dry_run_and_dataset_real(tmp_path, capsys):
    assert main(["diagnose", "--dry-run"]) == 0
    assert "collapse verdict: collapsed" in capsys.readouterr().out
    fake = torch.rand(40, 1, 28, 28)
    torch.save(fake, tmp_path / "fake.pt")
    assert main(["diagnose", "--real", "digits", "--fake", str(tmp_path / "fake.pt"), "--dry-run"]) == 0
    assert "with classifier features" in capsys.readouterr().out
    np.save(tmp_path / "r.npy", _ring(200, list(range(8)), 3))
    assert main(["diagnose", "--real", "ring8", "--fake", str(tmp_path / "r.npy"), "--n", "200"]) == 0
    out = capsys.readouterr().out
    assert "modes" in out and "collapse verdict: healthy" in out


@pytest.mark.parametrize(
    "real, fake, message",
    [
        ("vec2.npy", "vec4.npy", "shape (2,) but fake samples have (4,)"),
        ("grey.npy", "rgb.npy", "1 channel(s) but fake images have 3"),
        ("vec2.npy", "few.npy", "few.npy: holds 3 samples; diagnose needs at least 6 per set"),
        ("vec2.npy", "junk.npy", "junk.npy: unreadable"),
        ("vec2.npy", "nope.npy", "nope.npy: no such file"),
        ("not-a-dataset", "vec2.npy", "not a data-set name"),
    ],
)
def test_exit_2_cases(tmp_path, capsys, real, fake, message):
    np.save(tmp_path / "vec2.npy", np.random.rand(100, 2))
    np.save(tmp_path / "vec4.npy", np.random.rand(100, 4))
    np.save(tmp_path / "few.npy", np.random.rand(3, 2))
    np.save(tmp_path / "grey.npy", (np.random.rand(30, 1, 16, 16) * 255).astype(np.uint8))
    np.save(tmp_path / "rgb.npy", (np.random.rand(30, 3, 16, 16) * 255).astype(np.uint8))
    (tmp_path / "junk.npy").write_bytes(b"this is not numpy")
    arg = lambda name: name if name == "not-a-dataset" else str(tmp_path / name)  # noqa: E731
    assert main(["diagnose", "--real", arg(real), "--fake", arg(fake)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganbench: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "values, extra, message",
    [
        (np.linspace(-0.01, 1, 30 * 64), [], "values in [-0.01, 1] fit neither [0, 1] nor [-1, 1]"),
        (np.linspace(0, 200, 30 * 64), [], "fit neither"),  # floats 0–200: say the range, never guess
        (np.tile([0, 1], 30 * 32).astype(np.int64), [], "integer images with values in [0, 1] are ambiguous"),
        (np.linspace(-0.01, 1, 30 * 64), ["--value-range", "0,1"], "--value-range 0,1 but the values span"),
    ],
)
def test_ambiguous_value_ranges_exit_2(tmp_path, capsys, values, extra, message):
    np.save(tmp_path / "f.npy", values.reshape(30, 1, 8, 8))
    np.save(tmp_path / "r.npy", np.random.rand(60, 1, 8, 8))
    assert main(["diagnose", "--real", str(tmp_path / "r.npy"), "--fake", str(tmp_path / "f.npy"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganbench: error: ") and message in err and err.count("\n") == 1


def test_value_ranges_read_when_unambiguous_or_given(tmp_path):
    from ganbench.diagnose import _to_float_samples

    tanh = np.linspace(-0.95, 0.9, 2 * 64).reshape(2, 1, 8, 8).astype(np.float32)
    assert _to_float_samples(tanh, "x").min() == pytest.approx(0.025)  # [-1, 1] → [0, 1]
    unit = np.linspace(0, 1, 128).reshape(2, 1, 8, 8)
    assert torch.equal(_to_float_samples(unit, "x"), torch.as_tensor(unit).float())
    ints = np.arange(128).reshape(2, 1, 8, 8).astype(np.int32) * 2
    assert _to_float_samples(ints, "x").max() == pytest.approx(254 / 255)
    scaled = np.linspace(0, 200, 128).reshape(2, 1, 8, 8)
    assert _to_float_samples(scaled, "x", "0,255").max() == pytest.approx(200 / 255)
    vectors = np.linspace(-5, 5, 20).reshape(10, 2)  # 2-D points are never rescaled
    assert _to_float_samples(vectors, "x").min() == -5
