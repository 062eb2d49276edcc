"""train() as named steps (issue 23, item 5): what falls due between steps, and when, is unchanged."""

from __future__ import annotations

from gans.runfolder import read_metrics
from gans.training import TrainConfig, train


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def on_start(self, run) -> None:
        self.calls.append(("start", run.step))

    def on_scalars(self, run, step, means) -> None:
        self.calls.append(("scalars", step))

    def on_eval(self, run, step) -> None:
        self.calls.append(("eval", step))

    def on_end(self, run) -> None:
        self.calls.append(("end", run.step))


def test_flushes_checkpoints_evaluations_and_samples_fall_on_their_steps(tmp_path):
    rec = _Recorder()
    cfg = TrainConfig(
        gan="mnist_mlp",
        dataset="fake",
        batch_size=8,
        steps=7,
        device="cpu",
        log_every=3,
        checkpoint_every=5,
        eval_every=2,
        sample_every=4,
    )
    r = train(cfg, tmp_path / "run", callbacks=[rec], progress=False)
    assert (r.status, r.step, r.total_steps) == ("finished", 7, 7)
    # flushes at the log interval, at the checkpoint step and at the end; evaluations every 2 steps and at the end
    assert rec.calls == [
        ("start", 0),
        ("eval", 2),
        ("scalars", 3),
        ("eval", 4),
        ("scalars", 5),
        ("scalars", 6),
        ("eval", 6),
        ("scalars", 7),
        ("eval", 7),
        ("end", 7),
    ]
    assert [s["step"] for s in read_metrics(r.out, "scalars")] == [3, 5, 6, 7]
    assert [e["step"] for e in read_metrics(r.out, "eval_time")] == [2, 4, 6, 7]
    assert [e["event"] for e in read_metrics(r.out, "event")] == ["start", "finished"]
    assert sorted(p.name for p in (r.out / "samples").iterdir()) == ["step_00000004.png", "step_00000007.png"]


def test_a_resume_starts_where_the_checkpoint_is_and_says_so(tmp_path):
    cfg = TrainConfig(gan="mnist_mlp", dataset="fake", batch_size=8, steps=4, device="cpu", log_every=2)
    train(cfg, tmp_path / "run", progress=False)
    rec = _Recorder()
    more = TrainConfig(gan="mnist_mlp", steps=6)
    r = train(more, tmp_path / "run", resume=True, callbacks=[rec], progress=False)
    assert (r.status, r.step) == ("finished", 6)
    assert rec.calls == [("start", 4), ("scalars", 6), ("eval", 6), ("end", 6)]
    events = read_metrics(r.out, "event")
    assert [e["event"] for e in events] == ["start", "finished", "resume", "finished"]
    assert events[2]["message"] == "resumed at step 4 of 6"
