"""Hardening: 16-bit images scale by their real range; bounds are checked before work (image headers,
npz headers, sparse tensors, JSON size and depth); input that caused internal errors is a user error or
works.

Every test here failed on the code before the fix it names (checked where cheap) and passes after.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gans.base import UserError
from tests.helpers.robust import (
    ROOT,
    _env,
)

# --------------------------------------------------------------------------------------------
# 3. 16-bit images scale by their real range; 5. bounds before work


def _png16(path: Path) -> None:
    import numpy as np
    from PIL import Image

    a = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (64, 1))  # mean 0.5 of the range
    im = Image.fromarray(a)
    assert im.mode == "I;16"
    im.save(path)


def test_16bit_png_scales_by_its_real_range(tmp_path):
    import numpy as np
    from PIL import Image

    from ganbench.diagnose import _load_image_folder
    from gans.bounds import to_8bit
    from gans.data.images import ImageFolder

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(8):
        _png16(folder / f"{i}.png")
    x, n = _load_image_folder(folder, 8)
    assert n == 8 and x.shape == (8, 1, 64, 64)
    assert abs(float(x.mean()) - 0.5) < 0.01 and float((x >= 1.0).float().mean()) < 0.05  # was 99.6 % white
    img = ImageFolder(str(folder), (1, 64, 64))[0]
    assert abs(float(img.mean()) - 0.5) < 0.01
    wide = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.int32))  # mode I (older Pillow's 16-bit PNGs)
    assert wide.mode == "I" and np.asarray(to_8bit(wide)).tolist() == [[0, 128, 255]]
    with pytest.raises(UserError, match="outside 0…65535"):
        to_8bit(Image.fromarray(np.array([[0, 70000]], dtype=np.int32)))


def test_huge_images_are_refused_from_their_headers_naming_the_limit(tmp_path, monkeypatch):
    from PIL import Image

    import gans.bounds as B
    from ganbench.diagnose import _load_image_folder

    folder = tmp_path / "big"
    folder.mkdir()
    Image.new("L", (9000, 8000)).save(folder / "a.png")  # 72 MP: under Pillow's bomb error, over ours
    for i in range(6):
        Image.new("L", (100, 100)).save(folder / f"s{i}.png")
    with pytest.raises(UserError, match="9000×8000 image .* limit of 67,108,864 pixels"):
        _load_image_folder(folder, 10)
    (folder / "a.png").unlink()
    monkeypatch.setattr(B, "MAX_SAMPLE_VALUES", 50_000)  # six 100×100 images: 60,000 values
    with pytest.raises(UserError, match="limit of 50,000 values"):
        _load_image_folder(folder, 10)


def test_npz_whose_header_asks_for_gigabytes_is_refused_before_loading(tmp_path):
    import io
    import zipfile

    import numpy as np

    from ganbench.diagnose import _load_array_file

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (1_000_000, 1, 64, 64)}  # 16 GB of float32
    )
    buf.write(b"\0" * 64)
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", buf.getvalue())
    with pytest.raises(UserError, match=r"limit of 536,870,912 values"):
        _load_array_file(path)


def test_sparse_tensor_in_a_pt_is_a_user_error(tmp_path):
    import torch

    from ganbench.diagnose import _load_array_file

    torch.save({"x": torch.eye(10).to_sparse()}, tmp_path / "s.pt")
    with pytest.raises(UserError, match="sparse"):
        _load_array_file(tmp_path / "s.pt")


def test_json_files_are_bounded_in_size_and_depth(tmp_path, monkeypatch):
    import gans.bounds as B

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)  # a RecursionError in json.loads before
    with pytest.raises(UserError, match="deeper than the limit of 64 levels"):
        B.load_json_bounded(deep)
    (tmp_path / "d70.json").write_text("[" * 70 + "]" * 70)
    with pytest.raises(UserError, match="deeper than the limit of 64 levels"):
        B.load_json_bounded(tmp_path / "d70.json")
    (tmp_path / "ok.json").write_text(json.dumps({"a": [[1, 2], {"b": None}]}))
    assert B.load_json_bounded(tmp_path / "ok.json") == {"a": [[1, 2], {"b": None}]}
    monkeypatch.setattr(B, "MAX_JSON_BYTES", 10)
    with pytest.raises(UserError, match="over the limit of 0 MiB"):
        B.load_json_bounded(tmp_path / "ok.json")


# --------------------------------------------------------------------------------------------
# 6. input that caused internal errors: a user error, or it works


@pytest.mark.parametrize("case", ["commit-id-int", "cpu-string", "extra-info-list", "deep", "tex-names"])
def test_bench_report_reads_odd_benchmark_files(tmp_path, capsys, case):
    from ganbench.cli import main
    from tests.test_bench_report import _two_runs

    root = _two_runs(tmp_path / ".benchmarks")
    f = sorted(root.rglob("*.json"))[-1]
    d = json.loads(f.read_text())
    if case == "commit-id-int":
        d["commit_info"]["id"] = 12345
    elif case == "cpu-string":
        d["machine_info"]["cpu"] = "Intel"
    elif case == "extra-info-list":
        d["benchmarks"][0]["extra_info"] = [1, 2]
    elif case == "tex-names":  # matplotlib read "$…$" as mathtext: the report stopped with "ganbench: error: \foo"
        d["benchmarks"][0]["name"] = r"test_step[$\foo$]"
        d["benchmarks"][0]["extra_info"]["gan"] = r"$\foo$ \bar"
    f.write_text(json.dumps(d) if case != "deep" else "[" * 100_000 + "]" * 100_000)  # deep: was a RecursionError
    out = tmp_path / "bench.html"
    assert main(["bench-report", str(root), "-o", str(out)]) == 0  # was exit 1 (internal error) or 2
    err = capsys.readouterr().err
    assert "internal error" not in err and out.is_file()
    if case == "deep":
        assert "nested deeper than the limit of 64 levels" in err
    if case == "extra-info-list":
        assert "fields of the wrong kind" in err
    if case == "tex-names":
        assert "\\foo" in out.read_text()


def test_sweep_merge_skips_rows_keyed_by_objects(tmp_path, capsys):
    from ganbench.cli import main

    shard = tmp_path / "s1"
    shard.mkdir()
    rows = [{"key": {"a": 1}, "status": "ok"}, {"key": [1, 2], "status": "ok"},
            {"key": "mnist_mlp|bs2|cpu|fp32|eager|ganbench", "status": "ok", "gan": "mnist_mlp", "batch_size": 2}]
    (shard / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["sweep-merge", "--out", str(tmp_path / "all"), str(shard)]) == 0  # was an internal TypeError
    err = capsys.readouterr().err
    assert "2 row(s) whose key is not a string were left out" in err
    merged = [json.loads(line) for line in (tmp_path / "all" / "results.jsonl").read_text().splitlines()]
    assert [r["key"] for r in merged] == ["mnist_mlp|bs2|cpu|fp32|eager|ganbench"]


def test_output_under_an_ascii_encoding_works(tmp_path):
    env = _env(tmp_path)
    env["PYTHONIOENCODING"] = "ascii"
    r = subprocess.run([sys.executable, "-m", "ganbench", "train", "mnist_mlp", "--dry-run", "--quiet"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr  # was 2 after the run finished: "→" could not be printed
    assert "\\u2192" in r.stdout and "finished" in r.stdout


def test_deeply_nested_run_files_are_user_errors_or_skipped(tmp_path, capsys):
    from ganbench.cli import main
    from gans.base import read_jsonl
    from tests.helpers.reports import write_synthetic_run

    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "m.jsonl").write_text('{"type": "a"}\n' + deep + "\n" + '{"type": "b"}\n')
    assert [r["type"] for r in read_jsonl(tmp_path / "m.jsonl")] == ["a", "b"]  # was a RecursionError
    run = tmp_path / "run"
    write_synthetic_run(run, batch_size=96)
    (run / "verdicts.json").write_text(deep)
    assert main(["report", str(run), "-o", str(tmp_path / "r.html")]) == 0
    (run / "config.json").write_text(deep)
    assert main(["report", str(run), "-o", str(tmp_path / "r2.html")]) == 2
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and err.count("unreadable JSON") == 2
