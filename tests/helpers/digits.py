"""Which digits a trained run draws, judged by the glyphs data set's own classifier."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def recognised_classes(
    run_dir: str | os.PathLike, *, n: int = 1000, confidence: float = 0.9, min_share: float = 0.02, seed: int = 0
) -> dict[str, Any]:
    """Sample ``n`` images from the run's final checkpoint and classify them with the classifier extractor.

    A sample is *recognised* when the classifier gives one class at least ``confidence``; a class
    counts when at least ``min_share`` of all samples are recognised as it. Returns the counted
    classes, the per-class counts, the recognised share and the classifier's test accuracy.
    """
    from diagnostics.features import get_extractor
    from gans.data import load_data
    from gans.training.rundir import load_run_gan

    gan, config = load_run_gan(Path(run_dir))
    data = load_data(config["dataset"], tuple(gan.data_shape))
    clf = get_extractor("classifier", data)
    x = gan.sample(n, generator=torch.Generator().manual_seed(seed))
    probs = clf.predict(x)
    conf, cls = probs.max(1)
    ok = conf >= confidence
    # the same test on uniform noise: how often the classifier is this sure about nothing
    noise = torch.rand(n, *gan.data_shape, generator=torch.Generator().manual_seed(seed + 1))
    noise_share = float((clf.predict(noise).max(1).values >= confidence).float().mean())
    counts = torch.bincount(cls[ok], minlength=data.num_classes).tolist()
    classes = [c for c, k in enumerate(counts) if k >= min_share * n]
    return {
        "classes": classes,
        "counts": counts,
        "recognised_share": float(ok.float().mean()),
        "noise_share": noise_share,
        "classifier_test_accuracy": clf.info.get("test_accuracy"),
    }
