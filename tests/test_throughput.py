"""One images/s: training images ÷ training wall time, in the summary, metrics.jsonl and the reports."""

from __future__ import annotations

import json

import pytest

from ganbench.cli import main
from gans.base import read_jsonl
from reports.load import load_run


def _summary(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_summary_metrics_and_report_agree_and_resume_names_the_gan(tmp_path, capsys):
    run = tmp_path / "run"
    base = ["--dataset", "fake", "--batch-size", "8", "--log-every", "5", "--no-diagnostics", "--quiet"]
    first = _summary(capsys, ["train", "mnist_mlp", *base, "--steps", "20", "--out", str(run), "--json"])
    assert first["gan"] == "mnist_mlp"
    recs = list(read_jsonl(run / "metrics.jsonl", "scalars"))
    last = recs[-1]
    assert last["images_per_s"] == pytest.approx(last["images"] / last["train_s"])
    assert last["images"] == 20 * 8
    assert "load_1m" in last and "time/cpu_per_wall" in last
    fin = [r for r in read_jsonl(run / "metrics.jsonl", "event") if r.get("event") == "finished"][-1]
    assert fin["images_per_s"] == pytest.approx(20 * 8 / fin["train_s"])
    assert first["images_per_s"] == pytest.approx(20 * 8 / first["train_s"])
    # resume: the summary names the GAN and counts the whole run's images over the whole run's training time
    second = _summary(capsys, ["train", "--resume", str(run), "--steps", "40", "--json", "--quiet"])
    assert second["gan"] == "mnist_mlp" and second["step"] == 40
    last = list(read_jsonl(run / "metrics.jsonl", "scalars"))[-1]
    assert second["images_per_s"] == pytest.approx(40 * 8 / second["train_s"], rel=1e-6)
    assert last["images_per_s"] == pytest.approx(last["images"] / last["train_s"])
    # the reports show what the command printed: the finished event's training images ÷ training time
    assert load_run(run).timing()["images_per_s"] == pytest.approx(second["images_per_s"], rel=1e-6)
    assert load_run(run).timing()["train_s"] == pytest.approx(second["train_s"], rel=1e-6)
    # the start and resume events record what a load average is read against
    import os

    import torch

    host = [(e["event"], e.get("cpus"), e.get("threads")) for e in read_jsonl(run / "metrics.jsonl", "event")]
    host = [h for h in host if h[0] in ("start", "resume")]
    this = (os.cpu_count(), torch.get_num_threads())
    assert host == [("start", *this), ("resume", *this)]
    timing = load_run(run).timing()
    assert (timing["cpus"], timing["threads"]) == this
    assert main(["train", "--resume", str(run), "--steps", "45", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("finished: mnist_mlp 45/45 steps") and "images/s=" in out
