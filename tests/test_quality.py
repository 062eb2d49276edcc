"""The seed's MNIST GAN learns digits: a classifier trained on real digits recognises its samples
far more confidently than it recognises pure noise, across most of the ten classes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from gans.data import load_data
from gans.training.loop import TrainConfig, train
from gans.training.rundir import load_run_gan


def _digit_classifier():
    """An RBF SVM with Platt-scaled probabilities: confident near real digits, unsure far from
    them (on uniform noise it gives ~0.3), which is what makes "confidence above noise" a test."""
    from sklearn.svm import SVC

    data = load_data("digits", (1, 28, 28))
    xtr, ytr = data.real(data.n_train, "train")
    xte, yte = data.real(360, "test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # `probability=` is deprecated, still exact
        clf = SVC(probability=True, random_state=0).fit(xtr.reshape(len(xtr), -1).numpy(), ytr.numpy())
    assert clf.score(xte.reshape(len(xte), -1).numpy(), yte.numpy()) > 0.95
    return clf


@pytest.mark.slow
def test_mnist_mlp_on_digits_makes_recognisable_digits(tmp_path):
    clf = _digit_classifier()
    # 4,000 steps at the seed's batch 96 (~6 MNIST epochs of updates; digits is 42× smaller)
    train(
        TrainConfig(
            "mnist_mlp",
            dataset="digits",
            batch_size=96,
            steps=4000,
            device="cpu",
            seed=0,
            checkpoint_every=0,
            log_every=500,
        ),
        tmp_path / "run",
        progress=False,
    )
    gan, _ = load_run_gan(tmp_path / "run")
    fake = gan.sample(500, generator=torch.Generator().manual_seed(1)).reshape(500, -1).numpy()
    noise = np.random.default_rng(0).random((500, 784))
    p_fake, p_noise = clf.predict_proba(fake), clf.predict_proba(noise)
    noise_conf = p_noise.max(1).mean()
    conf, pred = p_fake.max(1), p_fake.argmax(1)
    assert conf.mean() >= noise_conf + 0.15, (conf.mean(), noise_conf)
    # per class: at least 1 % of the samples, recognised clearly above noise
    counts = np.bincount(pred, minlength=10)
    good = [k for k in range(10) if counts[k] >= 5 and conf[pred == k].mean() >= noise_conf + 0.1]
    assert len(good) >= 7, (
        counts,
        [round(float(conf[pred == k].mean()), 2) if counts[k] else None for k in range(10)],
        noise_conf,
    )
