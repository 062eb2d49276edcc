"""The run folder format in one torch-free module (issue 23, item 4): one status, one config reader, one writer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gans.base import UserError
from gans.runfolder import (
    MetricsLog,
    event_record,
    read_config,
    read_metrics,
    read_run_config,
    read_status,
    run_status,
    truncate_metrics,
    write_config,
)

ROOT = Path(__file__).resolve().parents[1]


def test_importing_it_loads_neither_torch_nor_numpy():
    code = (
        "import sys, gans.runfolder; "
        "print(sorted(m for m in ('torch', 'numpy', 'gans.models', 'gans.training') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _events(*names: str) -> list[dict]:
    return [{"type": "event", "event": n} for n in names]


@pytest.mark.parametrize(
    "events, status",
    [
        ((), None),
        (("start",), "incomplete"),
        (("start", "finished"), "finished"),
        (("start", "world_size_changed", "diverged", "note"), "diverged"),
        (("start", "interrupted"), "interrupted"),
        (("start", "interrupted", "resume"), "incomplete"),  # resumed and not ended since: not "interrupted"
        (("start", "interrupted", "resume", "finished"), "finished"),
    ],
)
def test_run_status(events, status):
    assert run_status(_events(*events)) == status


def _write_run(folder: Path, records: list[dict]) -> Path:
    folder.mkdir()
    write_config(folder, {"gan": "mnist_mlp", "train": {"gan": "mnist_mlp", "batch_size": 4}})
    log = MetricsLog(folder)
    for r in records:
        log.write(r)
    log.close()
    return folder


@pytest.mark.parametrize("events", [("start",), ("start", "interrupted"), ("start", "interrupted", "resume")])
def test_reports_and_compare_batch_read_one_status(tmp_path, events):
    """reports.load and compare-batch used to define run status twice, with different event lists."""
    from reports.load import load_run

    run = _write_run(tmp_path / "run", [event_record(i, e) for i, e in enumerate(events)])
    assert load_run(run).status == read_status(run) == run_status(_events(*events))


def test_no_metrics_means_no_status(tmp_path):
    (tmp_path / "run").mkdir()
    assert read_status(tmp_path / "run") is None


class _TensorLike:
    def tolist(self):
        return [1.5, 2.0]


def test_metrics_log_writes_one_line_per_record(tmp_path):
    run = _write_run(tmp_path / "run", [{"type": "scalars", "step": 1, "x": _TensorLike(), "p": Path("a/b")}])
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [{"type": "scalars", "step": 1, "x": [1.5, 2.0], "p": "a/b"}]


def test_truncate_metrics_drops_records_past_the_step_and_a_torn_line(tmp_path):
    run = _write_run(tmp_path / "run", [{"type": "scalars", "step": s} for s in range(1, 6)])
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"type": "scal')  # a kill mid-write
    assert truncate_metrics(run, 3) == 3
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3]
    assert truncate_metrics(run, 3) == 0


def test_config_readers(tmp_path):
    run = _write_run(tmp_path / "run", [])
    assert read_run_config(run)["train"]["batch_size"] == 4
    with pytest.raises(UserError, match="no such run directory"):
        read_config(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"not a run directory \(no config.json\)"):
        read_config(tmp_path / "empty")
    (run / "config.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(UserError, match="expected a JSON object"):
        read_config(run)
    (run / "config.json").write_text('{"gan": "x"}', encoding="utf-8")
    assert read_config(run) == {"gan": "x"}  # reports show what there is
    with pytest.raises(UserError, match="not a ganbench run configuration"):
        read_run_config(run)  # training and loading need the train section
    (run / "config.json").write_text("{", encoding="utf-8")
    with pytest.raises(UserError, match="unreadable JSON"):
        read_config(run)
