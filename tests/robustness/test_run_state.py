"""Robustness, corrupted run state: damaged config, checkpoint, metrics and verdict files are one clear
error on resume and diagnose (or still report), and nothing already written is lost or changed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gans.training.rundir import read_metrics
from gans.training.runtime import rng_state
from tests.helpers.robust import (
    _edit_config,
    _write,
    assert_kept,
    cli,
    one_error_line,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


# ---- 2. corrupted run state ---------------------------------------------------------------------


def _delete(rel: str):
    return lambda run: (run / rel).unlink()


def _config_dir(run: Path):
    (run / "config.json").unlink()
    (run / "config.json").mkdir()


def _ckpt(obj):
    def f(run: Path):
        torch.save(obj() if callable(obj) else obj, run / "checkpoint.pt")

    return f


def _truncate(rel: str, n: int):
    def f(run: Path):
        p = run / rel
        p.write_bytes(p.read_bytes()[:n])

    return f


CORRUPT_CONFIG = {
    "config truncated": _truncate("config.json", 40),
    "config is a list": _write("config.json", b"[]"),
    "config is a number": _write("config.json", b"3"),
    "config not utf-8": _write("config.json", b"\xff\xfe{\x00"),
    "config without train": _write("config.json", b'{"gan": "mnist_mlp"}'),
    "config is a folder": _config_dir,
}
CORRUPT_CKPT = {
    "checkpoint truncated": _truncate("checkpoint.pt", 100),
    "checkpoint random bytes": _write("checkpoint.pt", random.Random(0).randbytes(3000)),
    # bytes the unpickler reads as NEWOBJ on an empty stack: an IndexError inside torch.load
    "checkpoint starting 0x81": _write("checkpoint.pt", b"\x81" + random.Random(1).randbytes(300)),
    "checkpoint is JSON": _write("checkpoint.pt", b"{}"),
    "checkpoint empty": _write("checkpoint.pt", b""),
    "checkpoint a list": _ckpt([1, 2, 3]),
    "checkpoint of another GAN": _ckpt(
        lambda: {"step": 2, "gan": {"w": torch.zeros(3)}, "optim": {}, "rng": rng_state()}
    ),
    "checkpoint negative step": _ckpt(lambda: {"step": -1, "gan": {}, "optim": {}, "rng": rng_state()}),
}


#: config.json that parses but whose fields are wrong (a hand-edited or foreign run)
CONFIG_FIELDS = {
    "batch size text": _edit_config(lambda c: c["train"].update(batch_size="big")),
    "seed a list": _edit_config(lambda c: c["train"].update(seed=[1])),
    "log interval fractional": _edit_config(lambda c: c["train"].update(log_every=0.5)),
    "time budget negative": _edit_config(lambda c: c["train"].update(time_budget=-1)),
    "overrides a list": _edit_config(lambda c: c["train"].update(overrides=[1])),
    "gan_config a list": _edit_config(lambda c: c.update(gan_config=[1])),
    "gan a number": _edit_config(lambda c: c.update(gan=5)),
}


@pytest.mark.parametrize("name", list(CONFIG_FIELDS))
def test_config_fields_checked_on_resume(name, run, capsys):
    CONFIG_FIELDS[name](run)
    before = snapshot(run)
    rc, _, err = cli(["train", "--resume", str(run), "--quiet", "--no-diagnostics", "--steps", "8"], capsys)
    assert rc == 2
    one_error_line(err, contains="config.json: not a ganbench run configuration")
    assert_kept(before, run)


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c.update(gan_config=[1]),
        lambda c: c.update(gan=5),
        lambda c: c["gan_config"].update(hidden_g=10**12),  # a G no allocator can hold
    ],
    ids=["gan_config a list", "gan a number", "gan_config huge"],
)
def test_config_fields_checked_by_diagnose(edit, run, capsys):
    _edit_config(edit)(run)
    rc, _, err = cli(["diagnose", "--real", "digits", "--fake", str(run), "--n", "32"], capsys)
    assert rc == 2
    one_error_line(err, contains="config.json")


def _bad_rng(run: Path):
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    ck["rng"] = {"python": 1, "numpy": "x", "torch": torch.zeros(2)}
    torch.save(ck, run / "checkpoint.pt")


CORRUPT_CKPT["checkpoint bad RNG state"] = _bad_rng


@pytest.mark.parametrize("name", [*CORRUPT_CONFIG, *CORRUPT_CKPT, "checkpoint missing"])
def test_corrupt_run_resume(name, run, tmp_path, capsys):
    corrupt = {**CORRUPT_CONFIG, **CORRUPT_CKPT, "checkpoint missing": _delete("checkpoint.pt")}[name]
    corrupt(run)
    before = snapshot(run)
    rc, _, err = cli(["train", "--resume", str(run), "--quiet", "--no-diagnostics", "--steps", "8"], capsys)
    assert rc == 2
    line = one_error_line(err)
    assert ("config.json" in line) if name in CORRUPT_CONFIG else ("checkpoint.pt" in line), line
    assert_kept(before, run)
    assert not any(r.get("step", 0) > 4 for r in _records(run)), "nothing trained"


def _records(run: Path):
    try:
        return read_metrics(run)
    except OSError:
        return []


@pytest.mark.parametrize(
    "name", [*CORRUPT_CONFIG, *(k for k in CORRUPT_CKPT if k != "checkpoint bad RNG state"), "checkpoint missing"]
)
def test_corrupt_run_diagnose(name, run, tmp_path, capsys):
    corrupt = {**CORRUPT_CONFIG, **CORRUPT_CKPT, "checkpoint missing": _delete("checkpoint.pt")}[name]
    corrupt(run)
    before = snapshot(run)
    rc, _, err = cli(["diagnose", "--real", "digits", "--fake", str(run), "--n", "32"], capsys)
    assert rc == 2
    one_error_line(err)
    assert_kept(before, run)


@pytest.mark.parametrize("name", [k for k in CORRUPT_CONFIG if k != "config without train"])
def test_corrupt_run_report_config(name, run, tmp_path, capsys):
    CORRUPT_CONFIG[name](run)
    before = snapshot(run)
    rc, _, err = cli(["report", str(run)], capsys)
    assert rc == 2
    one_error_line(err, contains="config.json")
    assert_kept(before, run)
    assert not (run / "report.html").exists()


def _metrics_binary(run: Path):
    with open(run / "metrics.jsonl", "ab") as f:
        f.write(b"\xff\xfe\x00garbage\n{not json\n")


def _since_step_text(run: Path):
    with open(run / "metrics.jsonl", "a") as f:
        f.write(
            json.dumps(
                {
                    "type": "event",
                    "step": 2,
                    "event": "verdict",
                    "kind": "equilibrium",
                    "verdict": "balanced",
                    "since_step": "soon",
                    "message": "m",
                }
            )
            + "\n"
        )


def _torn_last_line(run: Path):
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"type": "scalars", "step": 5, "loss/d"')


def _verdicts_garbage(run: Path):
    (run / "verdicts.json").write_bytes(b"\x00\xff not json")


def _samples_is_file(run: Path):
    shutil.rmtree(run / "samples")
    (run / "samples").write_text("x")


READABLE = {
    "metrics not utf-8": _metrics_binary,
    "since_step not a number": _since_step_text,
    "torn last line": _torn_last_line,
    "verdicts.json garbage": _verdicts_garbage,
    "gan_config a list": _edit_config(lambda c: c.update(gan_config=[1])),
    "data and versions not objects": _edit_config(lambda c: c.update(data="x", versions=[1, 2])),
    "samples is a file": _samples_is_file,
    "checkpoint missing": _delete("checkpoint.pt"),
}


@pytest.mark.parametrize("name", list(READABLE))
def test_damaged_run_still_reports(name, run, capsys):
    READABLE[name](run)
    before = snapshot(run)
    rc, out, err = cli(["report", str(run)], capsys)
    assert rc == 0, err
    assert "Traceback" not in err
    assert_kept(before, run)
    assert (run / "report.html").stat().st_size > 1000


@pytest.mark.parametrize("where", ["run folder", "sample file"])
def test_non_utf8_file_names_still_report(where, run, tmp_path, capsys):
    bad = os.fsdecode(b"run-\xff\xfe")
    if where == "run folder":
        target = tmp_path / bad
        run.rename(target)
        run = target
    else:
        (run / "samples" / os.fsdecode(b"step_00000003-\xff.png")).write_bytes(
            (run / "samples" / "step_00000004.png").read_bytes()
        )
    before = snapshot(run)
    rc, _, err = cli(["report", str(run), "-o", str(tmp_path / "r.html")], capsys)
    assert rc == 0, err
    assert "Traceback" not in err
    assert_kept(before, run)
    (tmp_path / "r.html").read_text(encoding="utf-8")  # valid UTF-8


def test_resume_truncates_metrics_past_the_checkpoint(run, capsys):
    before = snapshot(run)
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 4
    with open(run / "metrics.jsonl", "a") as f:  # a kill after step 4's checkpoint, steps 5-6 logged
        for s in (5, 6):
            f.write(json.dumps({"type": "scalars", "step": s, "loss/d": 1.0}) + "\n")
    rc, _, err = cli(["train", "--resume", str(run), "--steps", "6", "--quiet", "--no-diagnostics"], capsys)
    assert rc == 0, err
    steps = [r["step"] for r in read_metrics(run, "scalars")]
    assert steps == [1, 2, 3, 4, 5, 6]
    note = [e for e in read_metrics(run, "event") if e["event"] == "resume"][-1]
    assert note["dropped_records"] == 2 and "removed" in note["message"]
    assert before.keys() <= snapshot(run).keys()




@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.binary(max_size=200).map(lambda b: b"\x80\x02" + b),  # a pickle header, then anything
        st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),  # a zip header (torch's format), then anything
        st.binary(max_size=200).map(lambda b: b"\x81" + b),
    )
)
def test_any_bytes_as_a_checkpoint_are_one_clear_error(data):
    """Whatever a received checkpoint.pt holds, loading it is a UserError (or a sound checkpoint), never another
    exception and never a warning on stderr."""
    import tempfile
    import warnings

    from gans.base import UserError
    from gans.training.rundir import load_checkpoint

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "checkpoint.pt"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                ckpt = load_checkpoint(path)
            except UserError as e:
                assert str(path) in str(e)
            else:
                assert {"step", "gan", "optim", "rng"} <= set(ckpt)
