"""The progress bar of a finished run ends with the final verdicts: the last evaluation runs after the last scalar
flush, and the bar used to keep the verdict of the evaluation before it (quality=poor when the final one was good)."""

from __future__ import annotations

import functools

from gans.training.loop import TrainConfig, train


class _Verdicts:
    """A diagnostic that reads poor while the run trains and good at the final evaluation (after the last flush)."""

    def __init__(self):
        self.seen: list[int] = []

    def on_scalars(self, run, step, means):
        run.postfix.setdefault("quality", "poor")

    def on_eval(self, run, step):
        self.seen.append(step)
        run.postfix["quality"] = "good"


def test_the_bar_ends_with_the_final_verdicts(tmp_path, capsys, monkeypatch):
    # draw the bar at every update: at tqdm's default 0.1 s a fast run may finish before the bar is drawn during
    # training at all (tqdm's TQDM_* environment overrides are read when tqdm is first imported, so not those)
    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", functools.partial(tqdm.auto.tqdm, mininterval=0, miniters=1))
    cb = _Verdicts()
    cfg = TrainConfig(gan="mnist_mlp", dataset="fake", batch_size=8, steps=20, log_every=5)  # evaluated at the end
    result = train(cfg, tmp_path / "run", callbacks=[cb], progress=True)
    assert result.status == "finished" and cb.seen == [20]
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()
    shown = [line for line in bar if "quality=" in line]
    assert "quality=poor" in shown[0]  # during training
    assert "quality=good" in shown[-1] and "20/20" in shown[-1], shown[-1]
