"""Hardening, round 3 (issue 28): one writer per folder, caches that prove what they hold, signals, bounds.

Every test here failed on the code before the fix it names (checked where cheap) and passes after. The
concurrency tests run real processes: a second writer beside a live ``train`` must be refused with the
holder's PID, and the live run's records must stay whole and in order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gans.base import UserError, safe_torch_load
from gans.lock import LOCK_NAME, FolderLock, still_written_note, writer_pid

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["GANBENCH_CACHE"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _ganbench(args: list[str], tmp_path: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ganbench", *args],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _run(args: list[str], tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    p = _ganbench(args, tmp_path)
    out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _wait_for(pred, timeout: float = 90.0, proc: subprocess.Popen | None = None, every: float = 0.2) -> None:
    t0 = time.monotonic()
    while not pred():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended early (exit {proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out waiting")
        time.sleep(every)


def _reap(p: subprocess.Popen) -> None:
    """A process a failed test left running is killed (never left behind)."""
    if p.poll() is None:
        p.kill()
        p.communicate()


def _holder(folder: Path, tmp_path: Path) -> subprocess.Popen:
    """A process that holds ``folder``'s lock until killed (prints 'held' once it does)."""
    code = (
        "import sys, time\nfrom gans.lock import FolderLock\n"
        f"FolderLock({str(folder)!r}, 'test').acquire()\nprint('held', flush=True)\ntime.sleep(600)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(tmp_path), stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "held"
    return p


def _scalar_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
            if json.loads(line).get("type") == "scalars"]


# --------------------------------------------------------------------------------------------
# 1. one writer per run folder


def test_second_train_and_resume_beside_a_live_run_are_refused_with_its_pid(tmp_path):
    run = tmp_path / "run"
    a = _ganbench(
        ["train", "mnist_mlp", "--dataset", "fake", "--steps", "100000", "--batch-size", "16", "--seed", "1",
         "--log-every", "10", "--checkpoint-every", "20", "--no-diagnostics", "--quiet", "--out", str(run)],
        tmp_path,
    )
    try:
        _wait_for(lambda: (run / "checkpoint.pt").is_file() and len(_scalar_steps(run)) >= 2, proc=a)
        b = _run(["train", "mnist_mlp", "--dataset", "fake", "--steps", "50", "--batch-size", "32", "--seed", "2",
                  "--no-diagnostics", "--quiet", "--out", str(run)], tmp_path)
        assert b.returncode == 2, b.stderr
        assert b.stderr.count("\n") == 1 and f"process {a.pid}" in b.stderr, b.stderr
        r = _run(["train", "--resume", str(run), "--quiet", "--no-diagnostics"], tmp_path)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and f"process {a.pid}" in r.stderr, r.stderr
        assert writer_pid(run) == a.pid
        assert f"process {a.pid}" in (still_written_note(run) or "")
    finally:
        a.send_signal(signal.SIGTERM)
        a.communicate(timeout=120)
    assert a.returncode == 143
    assert writer_pid(run) is None  # the lock died with its process
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = _scalar_steps(run)
    assert steps == sorted(set(steps)) and all(s % 10 == 0 for s in steps[:-1])  # whole, in order, one run
    # (the last flush is at the step the signal stopped)
    assert [r["event"] for r in recs if r.get("type") == "event"] == ["start", "interrupted"]
    config = json.loads((run / "config.json").read_text())
    ckpt = safe_torch_load(run / "checkpoint.pt")
    assert config["train"]["seed"] == 1 and config["train"]["batch_size"] == 16
    assert ckpt["train_config"]["seed"] == 1 and ckpt["train_config"]["batch_size"] == 16
    assert ckpt["step"] == steps[-1]


def test_a_killed_writer_never_blocks_and_a_failed_train_leaves_no_folder(tmp_path):
    folder = tmp_path / "run"
    p = _holder(folder, tmp_path)
    with pytest.raises(UserError, match=f"process {p.pid}"):
        FolderLock(folder, "train").acquire()
    p.kill()
    p.wait()
    assert (folder / LOCK_NAME).exists() and writer_pid(folder) is None and still_written_note(folder) is None
    with FolderLock(folder, "train") as lock:
        assert lock.held and writer_pid(folder) == os.getpid()
    fresh = tmp_path / "new"
    r = _run(["train", "mnist_mlp", "--dataset", "no-such-set", "--out", str(fresh)], tmp_path)
    assert r.returncode == 2 and not fresh.exists(), r.stderr


def test_compare_batch_and_sweep_refuse_a_folder_another_process_writes(tmp_path):
    out = tmp_path / "cmp"
    p = _holder(out, tmp_path)
    try:
        r = _run(["compare-batch", "mnist_mlp", "--batch-sizes", "2", "4", "--dry-run", "--out", str(out)], tmp_path)
        assert r.returncode == 2 and f"process {p.pid}" in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert not (out / "runs").exists()
    finally:
        p.kill()
        p.wait()
    sw = tmp_path / "sweep"
    p = _holder(sw, tmp_path)
    try:
        r = _run(["sweep", "--gans", "mnist_mlp", "--batch-sizes", "2", "--steps", "1", "--warmup", "0",
                  "--out", str(sw)], tmp_path)
        assert r.returncode == 2 and f"process {p.pid}" in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert not (sw / "results.jsonl").exists()
    finally:
        p.kill()
        p.wait()


def test_report_reads_a_run_being_written_without_its_lock_and_says_so(tmp_path, capsys):
    from ganbench.cli import main
    from tests.helpers.reports import write_synthetic_run

    run = tmp_path / "run"
    write_synthetic_run(run, batch_size=96)
    p = _holder(run, tmp_path)  # a live writer
    try:
        assert main(["report", str(run), "-o", str(tmp_path / "r.html")]) == 0  # never waits for the lock
        assert f"still being written by process {p.pid}" in capsys.readouterr().err
        assert writer_pid(run) == p.pid  # and never took it
    finally:
        p.kill()
        p.wait()
    assert main(["report", str(run), "-o", str(tmp_path / "r2.html")]) == 0
    assert "still being written" not in capsys.readouterr().err


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
# 4. signals end every command with its promised code


def _events(run: Path) -> list[str]:
    return [r["event"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if r.get("type") == "event"]


def test_sigterm_during_the_final_evaluation_is_honoured_and_resume_finishes(tmp_path):
    run = tmp_path / "run"
    a = _ganbench(["train", "mnist_mlp", "--dataset", "digits", "--steps", "6", "--batch-size", "8", "--log-every", "2",
                   "--eval-samples", "200", "--quiet", "--out", str(run)], tmp_path)
    # the final checkpoint is written just before the final evaluation (features, real statistics, ceilings:
    # about a second here); the signal lands within 20 ms of it
    try:
        _wait_for(lambda: (run / "checkpoint.pt").is_file(), proc=a, timeout=180, every=0.02)
        a.send_signal(signal.SIGTERM)
        _, err = a.communicate(timeout=120)
    finally:
        _reap(a)
    assert a.returncode == 143, err  # was 0: the evaluation ran on and the run said "finished"
    assert _events(run) == ["start", "interrupted"]
    r = _run(["train", "--resume", str(run), "--quiet", "--no-diagnostics"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert _events(run)[-1] == "finished"


def test_compare_batch_sigterm_stops_with_143_and_compares_nothing(tmp_path):
    out = tmp_path / "cmp"
    a = _ganbench(["compare-batch", "mnist_mlp", "--batch-sizes", "4", "8", "--dataset", "fake", "--time-budget",
                   "600", "--no-diagnostics", "--quiet", "--out", str(out)], tmp_path)
    first = out / "runs" / "mnist_mlp-bs4-seed0"
    try:
        _wait_for(lambda: (first / "metrics.jsonl").is_file() and len(_scalar_steps(first)) >= 1, proc=a)
        a.send_signal(signal.SIGTERM)
        _, err = a.communicate(timeout=120)
    finally:
        _reap(a)
    assert a.returncode == 143, err  # was 0 after training the second run and comparing a half run
    assert "no comparison was written" in err.strip().splitlines()[-1]
    assert not (out / "comparison.json").exists() and not (out / "runs" / "mnist_mlp-bs8-seed0").exists()
    assert _events(first)[-1] == "interrupted" and (first / "checkpoint.pt").is_file()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def _cell_pids(tmpdir: Path) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"bench.sweep" in cmd and any(str(tmpdir).encode() in c for c in cmd):
                pids.append(int(p.name))
    return pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_a_stopped_sweep_takes_its_cell_subprocess_and_temp_file_with_it(tmp_path, sig):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = _env(tmp_path)
    env["TMPDIR"] = str(tmpdir)
    a = subprocess.Popen(
        [sys.executable, "-m", "ganbench", "sweep", "--gans", "mnist_mlp", "--batch-sizes", "2", "--steps",
         "10000000", "--warmup", "0", "--no-references", "--quiet", "--out", str(tmp_path / "sw")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: bool(_cell_pids(tmpdir)) and bool(list(tmpdir.glob("ganbench-cell-*.json"))), proc=a)
        cells = _cell_pids(tmpdir)
        a.send_signal(sig)
        a.communicate(timeout=60)
    finally:
        _reap(a)
    assert a.returncode == (143 if sig == signal.SIGTERM else -9)
    _wait_for(lambda: not any(_alive(p) for p in cells), timeout=20)  # the cell is gone (was: left running)
    if sig == signal.SIGTERM:
        assert not list(tmpdir.glob("ganbench-cell-*.json"))  # and its result file removed


# --------------------------------------------------------------------------------------------
# 7. distributed: fail fast and together


RANK_ARGS = """import os, sys
from ganbench.cli import main
extra = os.environ.get("RANK_ARGS_" + os.environ["RANK"], "").split()
sys.exit(main(sys.argv[1:] + extra))
"""


def _torchrun(tmp_path: Path, args: list[str], rank_args: dict[int, str], **env_extra: str) -> subprocess.Popen:
    script = tmp_path / "rank_args.py"
    script.write_text(RANK_ARGS)
    env = _env(tmp_path)
    env.pop("WORLD_SIZE", None)
    env.update({f"RANK_ARGS_{r}": a for r, a in rank_args.items()}, OMP_NUM_THREADS="1", **env_extra)
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--log-dir",
         str(tmp_path / "logs"), str(script), *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


@pytest.mark.distributed
def test_ranks_with_different_settings_stop_together_with_one_line(tmp_path):
    run = tmp_path / "run"
    p = _torchrun(tmp_path, ["train", "mnist_mlp", "--dataset", "fake", "--steps", "4", "--batch-size", "4",
                             "--no-diagnostics", "--quiet", "--out", str(run)], {0: "--seed 1", 1: "--seed 2"})
    try:
        out, _ = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode != 0  # was 0 on both ranks, config.json saying rank 0's seed
    line = "ganbench: error: the ranks were launched with different seed (rank 0: 1, rank 1: 2)"
    assert out.count(line) == 2, out[-3000:]
    assert "terminate called" not in out and "SIGABRT" not in out
    assert not (run / "metrics.jsonl").exists()


def test_nproc_is_bounded_by_the_cores(tmp_path):
    n = len(os.sched_getaffinity(0))
    r = _run(["train", "mnist_mlp", "--nproc", str(n + 1), "--device", "cpu", "--dry-run"], tmp_path)
    assert r.returncode == 2 and f"--nproc may be at most {n}" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def _rank_pid(tmp_path: Path, rank: int) -> int | None:
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
            env = (p / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rank_args.py" in cmd and f"RANK={rank}".encode() in env and b"torch.distributed.run" not in cmd:
            return int(p.name)
    return None


@pytest.mark.slow  # a torchrun job that waits out a 10 s collective timeout
@pytest.mark.distributed
def test_a_stopped_peer_is_named_within_the_timeout(tmp_path):
    run = tmp_path / "run"
    p = _torchrun(tmp_path, ["train", "mnist_mlp", "--dataset", "fake", "--steps", "1000000", "--batch-size", "4",
                             "--log-every", "5", "--no-diagnostics", "--quiet", "--out", str(run)], {},
                  GANBENCH_DIST_TIMEOUT="10")
    try:
        _wait_for(lambda: (run / "metrics.jsonl").is_file() and len(_scalar_steps(run)) >= 2, proc=p, timeout=120)
        pid = _rank_pid(tmp_path, 1)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        _wait_for(lambda: p.poll() is not None, timeout=120)  # was: blocked for good, no message
        assert time.monotonic() - t0 < 90
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert "ganbench: error: rank 0: rank 1 " in out and "did not arrive" in out and "within 10 s" in out, out[-3000:]


@pytest.mark.slow  # a torchrun job
@pytest.mark.distributed
def test_nproc_sigterm_exits_143_and_sigkill_of_the_launcher_ends_its_ranks(tmp_path):
    run = tmp_path / "run"
    args = ["train", "mnist_mlp", "--nproc", "2", "--device", "cpu", "--dataset", "fake", "--steps", "1000000",
            "--batch-size", "4", "--log-every", "5", "--no-diagnostics", "--quiet"]
    a = _ganbench([*args, "--out", str(run)], tmp_path)
    _wait_for(lambda: (run / "metrics.jsonl").is_file() and len(_scalar_steps(run)) >= 2, proc=a, timeout=120)
    a.send_signal(signal.SIGTERM)
    _, err = a.communicate(timeout=120)
    assert a.returncode == 143 and "internal error" not in err, err[-2000:]
    run2 = tmp_path / "run2"
    b = _ganbench([*args, "--out", str(run2)], tmp_path)
    _wait_for(lambda: (run2 / "metrics.jsonl").is_file() and len(_scalar_steps(run2)) >= 2, proc=b, timeout=120)
    ranks = [p for p in (int(x.name) for x in Path("/proc").iterdir() if x.name.isdigit())
             if _ppid(p) == b.pid]
    assert len(ranks) == 2
    b.kill()
    b.communicate(timeout=60)
    _wait_for(lambda: not any(_alive(r) for r in ranks), timeout=60)  # was: both ranks kept training


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


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


def test_a_stopped_multi_device_sweep_kills_every_devices_cell(tmp_path):
    """Several devices run their cells in threads; a signal in the main thread must stop all of them (before, the
    pool waited for every device's remaining cells)."""
    import threading

    from bench import sweep
    from bench.cells import Cell
    from bench.shard import run_sweep_by_device
    from gans.signals import Interrupted, signals_raise

    started: list[subprocess.Popen] = []

    def runner(cell, **kw):
        proc = subprocess.Popen(["sleep", "600"])
        started.append(proc)
        with sweep.tracked_cell(proc):
            proc.wait()
        if sweep.STOP_CELLS.is_set():
            raise Interrupted(signal.SIGTERM)
        return {"key": cell.key, "status": "ok"}

    cells = [Cell(gan="mnist_mlp", batch_size=b, device=d, precision="fp32", compile=False)
             for d in ("cuda:0", "cuda:1") for b in (2, 4)]
    threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    t0 = time.monotonic()
    with pytest.raises(Interrupted) as e, signals_raise():
        run_sweep_by_device(cells, tmp_path / "sw", steps=1, warmup=0, runner=runner, log=lambda s: None)
    assert e.value.exit_code == 143 and time.monotonic() - t0 < 30
    assert len(started) == 2 and all(p.poll() is not None for p in started)  # one per device, both killed
    assert not (tmp_path / "sw" / "results.jsonl").exists()
