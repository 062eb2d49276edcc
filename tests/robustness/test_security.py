"""Robustness, security: a received checkpoint or cache entry runs no code, reports never overwrite run or
user files, and planted markup renders as text.
"""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch

from tests.helpers.robust import (
    Payload,
    _edit_config,
    assert_kept,
    cli,
    one_error_line,
    plant_checkpoint,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


# ---- 5. security --------------------------------------------------------------------------------


def test_payload_is_live(tmp_path):
    """The planted checkpoint's pickle does run code when unpickled with plain ``pickle`` (so the tests
    below can fail). It holds no tensors, so its ``data.pkl`` needs nothing from torch to unpickle."""
    import zipfile

    plant_checkpoint(tmp_path / "c.pt", tmp_path / "marker")
    with zipfile.ZipFile(tmp_path / "c.pt") as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    pickle.loads(data)
    assert (tmp_path / "marker").exists()


def _payload_resume(run, marker, capsys):
    return cli(["train", "--resume", str(run), "--quiet", "--no-diagnostics", "--steps", "8"], capsys)


def _payload_diagnose(run, marker, capsys):
    return cli(["diagnose", "--real", "digits", "--fake", str(run), "--n", "32"], capsys)


def _payload_compare(run, marker, capsys):
    out = run.parent / "cb"
    rd = out / "runs" / "mnist_mlp-bs4-seed0"
    rd.parent.mkdir(parents=True)
    shutil.copytree(run, rd)
    (rd / "metrics.jsonl").write_text(json.dumps({"type": "event", "step": 0, "event": "start"}) + "\n")
    # the unfinished run is this comparison's own (seed 0, batch 4, 1 epoch), so that its checkpoint is loaded
    _edit_config(lambda c: c["train"].update(seed=0, epochs=1, steps=None, evals=5))(rd)
    plant_checkpoint(rd / "checkpoint.pt", marker)
    return cli(
        [
            "compare-batch",
            "mnist_mlp",
            "--batch-sizes",
            "4",
            "8",
            "--dataset",
            "fake",
            "--out",
            str(out),
            "--no-diagnostics",
            "--quiet",
            "--epochs",
            "1",
        ],
        capsys,
    )


@pytest.mark.parametrize(
    "how", [_payload_resume, _payload_diagnose, _payload_compare], ids=["resume", "diagnose", "compare-batch"]
)
@pytest.mark.parametrize("kind", ["torch.save", "pickle"])
def test_received_checkpoint_runs_no_code(how, kind, run, tmp_path, capsys):
    marker = tmp_path / "marker"
    if kind == "torch.save":
        plant_checkpoint(run / "checkpoint.pt", marker)
    else:
        with open(run / "checkpoint.pt", "wb") as f:
            pickle.dump({"step": 1, "gan": Payload(marker)}, f)
    rc, _, err = how(run, marker, capsys)
    assert rc == 2
    line = one_error_line(err, contains="checkpoint.pt")
    assert not marker.exists(), "the planted pickle ran"
    assert "weights_only" not in line  # torch's advice to load it unsafely is never passed on


def test_diagnose_payload_pt_file(tmp_path, capsys):
    marker = tmp_path / "marker"
    torch.save({"x": Payload(marker)}, tmp_path / "fake.pt")
    rc, _, err = cli(["diagnose", "--real", "digits", "--fake", str(tmp_path / "fake.pt"), "--n", "32"], capsys)
    assert rc == 2
    one_error_line(err)
    assert not marker.exists()


def test_doctored_feature_cache_runs_no_code(tmp_path, monkeypatch):
    import diagnostics.features as F
    from gans.data import load_data

    monkeypatch.setattr(F, "classifier_spec_for", lambda n: F.ClassifierSpec(width=4, feature_dim=8, epochs=1))
    data = load_data("digits", (1, 28, 28))
    F.get_extractor("classifier", data)
    caches = list((tmp_path / "cache").rglob("classifier-*.pt"))
    assert len(caches) == 1
    marker = tmp_path / "marker"
    torch.save({"state_dict": Payload(marker), "meta": {}}, caches[0])
    ex = F.get_extractor("classifier", data)  # refused and rebuilt, never run
    assert not marker.exists() and ex is not None
    torch.load(caches[0], weights_only=True)  # the rebuilt cache is plain data


def test_doctored_real_stats_cache_runs_no_code(tmp_path):
    from diagnostics.evaluate import evaluate_samples
    from gans.data import load_data

    data = load_data("ring8", (2,))
    tr, te = data.real(300, "train", seed=5)[0], data.real(300, "test", seed=5)[0]
    fake = data.real(300, "test", seed=6)[0]
    first = evaluate_samples(tr, te, fake, extractor="raw", data_kind="vector", mixture="ring8")
    caches = list((tmp_path / "cache" / "real_stats").glob("*.pt"))
    assert len(caches) == 1
    torch.load(caches[0], weights_only=True)  # what it writes is plain data
    marker = tmp_path / "marker"
    torch.save({"train": Payload(marker)}, caches[0])
    again = evaluate_samples(tr, te, fake, extractor="raw", data_kind="vector", mixture="ring8")
    assert not marker.exists(), "the planted pickle ran"
    assert again.metrics == first.metrics  # refused and recomputed


REPORT_TARGETS = ["metrics.jsonl", "config.json", "checkpoint.pt", "verdicts.json", "samples/step_00000004.png"]


@pytest.mark.parametrize("target", REPORT_TARGETS)
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_report_never_overwrites_run_files(target, force, run, capsys):
    if target == "verdicts.json":
        (run / target).write_text("{}")
    before = snapshot(run)
    rc, _, err = cli(["report", str(run), "-o", str(run / target), *(["--force"] if force else [])], capsys)
    assert rc == 2
    one_error_line(err)
    assert_kept(before, run)


def test_report_refuses_a_users_file_unless_forced(run, tmp_path, capsys):
    mine = tmp_path / "notes.html"
    mine.write_text("<p>my notes</p>")
    rc, _, err = cli(["report", str(run), "-o", str(mine)], capsys)
    assert rc == 2
    one_error_line(err, contains="notes.html")
    assert mine.read_text() == "<p>my notes</p>"
    rc, _, err = cli(["report", str(run), "-o", str(mine), "--force"], capsys)
    assert rc == 0 and "ganbench" in mine.read_text()
    rc, _, err = cli(["report", str(run), "-o", str(mine)], capsys)  # now ours: replaced without --force
    assert rc == 0


@pytest.mark.parametrize("clash", ["index.html", "run.html"])
def test_report_folder_keeps_unrelated_pages(clash, run, tmp_path, capsys):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / clash).write_text("<p>someone else's</p>")
    before = snapshot(folder)
    rc, _, err = cli(["report", str(run), str(run), "-o", str(folder) + "/"], capsys)
    assert rc == 2
    one_error_line(err, contains=clash)
    assert_kept(before, folder)
    assert snapshot(folder).keys() == before.keys()


def test_index_keeps_unrelated_index(tmp_path, capsys):
    (tmp_path / "index.html").write_text("<p>mine</p>")
    rc, _, err = cli(["index", str(tmp_path)], capsys)
    assert rc == 2
    one_error_line(err)
    assert (tmp_path / "index.html").read_text() == "<p>mine</p>"


def test_bench_report_keeps_users_file(tmp_path, capsys):
    sw = tmp_path / "sw"
    sw.mkdir()
    (sw / "results.jsonl").write_text(
        json.dumps({"gan": "g", "batch_size": 4, "status": "ok", "ms_median": 1.0}) + "\n"
    )
    (tmp_path / "bench.html").write_text("mine")
    rc, _, err = cli(["bench-report", "--sweep", str(sw), "-o", str(tmp_path / "bench.html")], capsys)
    assert rc == 2
    one_error_line(err)
    assert (tmp_path / "bench.html").read_text() == "mine"


@pytest.mark.parametrize("setup", ["unrelated index.html", "unrelated files"])
def test_compare_batch_out_keeps_users_folder(setup, tmp_path, capsys):
    out = tmp_path / "cb"
    out.mkdir()
    (out / ("index.html" if setup == "unrelated index.html" else "thesis.tex")).write_text("mine")
    if setup == "unrelated index.html":
        (out / "runs").mkdir()
    before = snapshot(out)
    rc, _, err = cli(
        [
            "compare-batch",
            "mnist_mlp",
            "--batch-sizes",
            "4",
            "8",
            "--dataset",
            "fake",
            "--out",
            str(out),
            "--no-diagnostics",
            "--quiet",
            "--epochs",
            "1",
        ],
        capsys,
    )
    assert rc == 2
    one_error_line(err)
    assert_kept(before, out)


@pytest.mark.parametrize("setup", ["user files", "a file", "under a file"])
def test_train_out_keeps_users_files(setup, tmp_path, capsys):
    if setup == "user files":
        out = tmp_path / "mine"
        out.mkdir()
        (out / "config.json").write_text('{"mine": 1}')
        (out / "photo.png").write_bytes(b"png")
    elif setup == "a file":
        out = tmp_path / "file"
        out.write_text("x")
    else:
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "sub"
    before = snapshot(tmp_path)
    rc, _, err = cli(
        ["train", "mnist_mlp", "--dataset", "fake", "--steps", "1", "--no-diagnostics", "--quiet", "--out", str(out)],
        capsys,
    )
    assert rc == 2
    one_error_line(err)
    assert_kept(before, tmp_path)


def test_report_embeds_no_linked_file(run, tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE")
    (run / "samples" / "step_00000099.png").symlink_to(secret)
    rc, _, err = cli(["report", str(run)], capsys)
    assert rc == 0
    html = (run / "report.html").read_text()
    assert "step_00000099" not in html and str(secret) not in html
    import base64

    assert base64.b64encode(b"TOP-SECRET-LINE").decode()[:12] not in html


def test_planted_markup_in_run_files_renders_as_text(tmp_path, capsys):
    from tests.test_report_escaping import FILE_SAFE, assert_clean, poisoned_run

    run = poisoned_run(tmp_path / FILE_SAFE, 32)
    rc, _, err = cli(["report", str(run), "-o", str(tmp_path / "r.html")], capsys)
    assert rc == 0, err
    assert_clean((tmp_path / "r.html").read_text())
