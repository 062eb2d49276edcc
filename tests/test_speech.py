"""Tests for the synthetic speech data source (gans.speech) and speech metrics."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from diagnostics.speech import SNRImprovement, segmental_snr, snr, snr_improvement
from gans.data import speech_audio
from gans.data import speech_corpus as speech
from gans.data.speech_corpus import (
    SpeechDataError,
    babble_noise,
    build_speech_corpus,
    deemphasis,
    find_espeak,
    make_windows,
    mix_at_snr,
    preemphasis,
    synthesize,
    white_noise,
)

HAVE_ESPEAK = bool(shutil.which("espeak-ng") or shutil.which("espeak"))
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed (apt-get install -y espeak-ng)")

SR = 16000


def _sine(n: int = 2 * SR, freq: float = 220.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(n) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float64)


def _measured_snr(clean: np.ndarray, noisy: np.ndarray) -> float:
    c = clean.astype(np.float64)
    e = noisy.astype(np.float64) - c
    return 10 * math.log10(np.mean(c**2) / np.mean(e**2))


# --------------------------------------------------------------------------- mixing


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 2.5, 10.0, 17.5, 35.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mix_at_snr_known_answer(snr_db, dtype):
    rng = np.random.default_rng(1)
    clean = _sine().astype(dtype)
    noise = (3.0 * rng.standard_normal(clean.size)).astype(dtype)
    noisy = mix_at_snr(clean, noise, snr_db)
    assert noisy.dtype == dtype and noisy.shape == clean.shape
    assert abs(_measured_snr(clean, noisy) - snr_db) < 1e-4


def test_mix_at_snr_babble_and_errors():
    rng = np.random.default_rng(2)
    talkers = [_sine(SR // 2 + 17 * i, freq=150.0 + 40 * i) for i in range(6)]
    noise = babble_noise(3 * SR, rng, talkers)
    assert noise.shape == (3 * SR,) and noise.dtype == np.float32
    assert np.sqrt(np.mean(noise.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-5)
    clean = _sine(3 * SR)
    assert abs(_measured_snr(clean, mix_at_snr(clean, noise, 5.0)) - 5.0) < 1e-4
    with pytest.raises(SpeechDataError, match="at least 4"):
        babble_noise(SR, rng, talkers[:3])
    with pytest.raises(SpeechDataError, match="same shape"):
        mix_at_snr(clean, noise[:-1], 5.0)
    with pytest.raises(SpeechDataError, match="non-zero power"):
        mix_at_snr(np.zeros(10), np.ones(10), 5.0)
    w = white_noise(1000, 3)
    assert w.shape == (1000,) and w.dtype == np.float32
    np.testing.assert_array_equal(w, white_noise(1000, np.random.default_rng(3)))


# --------------------------------------------------------------------------- framing


def test_preemphasis_deemphasis_are_inverses():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(3, 5000))
    y = preemphasis(x)
    np.testing.assert_allclose(y[:, 0], x[:, 0])
    np.testing.assert_allclose(y[:, 1:], x[:, 1:] - 0.95 * x[:, :-1])
    np.testing.assert_allclose(deemphasis(y), x, atol=1e-12)
    np.testing.assert_allclose(preemphasis(deemphasis(x)), x, atol=1e-12)
    x32 = x[0].astype(np.float32)
    back = deemphasis(preemphasis(x32))
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, x32, atol=1e-5)


def test_make_windows_shapes_and_short_audio():
    sig = np.arange(16384 * 3, dtype=np.float32)
    w = make_windows(sig)
    assert w.shape == (5, 16384) and w.dtype == np.float32
    np.testing.assert_array_equal(w[1], sig[8192 : 8192 + 16384])
    assert w.flags["C_CONTIGUOUS"] and not np.shares_memory(w, sig)
    assert make_windows(sig[:16384]).shape == (1, 16384)
    assert make_windows(sig[: 16384 + 8191]).shape == (1, 16384)  # tail dropped
    assert make_windows(sig, window=100, stride=100).shape == (491, 100)
    with pytest.raises(SpeechDataError, match="audio of 16000 samples is shorter than one window of 16384 samples"):
        make_windows(np.zeros(16000))
    with pytest.raises(ValueError):  # SpeechDataError is a ValueError
        make_windows(np.zeros((2, 20000)))


# --------------------------------------------------------------------------- metrics


def test_segmental_snr_known_answers():
    clean = _sine()
    assert segmental_snr(clean, clean) == 35.0
    # A uniform gain error g gives exactly 10 log10(1 / (1 - g)^2) dB in every frame.
    assert segmental_snr(clean, 0.5 * clean) == pytest.approx(20 * math.log10(2), abs=1e-9)
    assert segmental_snr(clean, np.zeros_like(clean)) == pytest.approx(0.0, abs=1e-9)
    assert segmental_snr(clean, -9.0 * clean) == -10.0  # -20 dB, clamped
    assert snr(clean, 0.5 * clean) == pytest.approx(20 * math.log10(2), abs=1e-9)
    assert snr(clean, clean) == math.inf


@pytest.mark.parametrize("kw", [{}, {"hop": 240, "window": "rect"}])
def test_segmental_snr_white_noise_at_10db(kw):
    rng = np.random.default_rng(0)
    clean = _sine(3 * SR)
    noisy = mix_at_snr(clean, rng.standard_normal(clean.size), 10.0)
    assert snr(clean, noisy) == pytest.approx(10.0, abs=1e-6)
    assert abs(segmental_snr(clean, noisy, **kw) - 10.0) < 1.5


def test_segmental_snr_matches_reference_loop():
    """Same numbers as a literal transcription of Loizou's comp_snr.m loop."""
    rng = np.random.default_rng(5)
    clean = rng.standard_normal(5000) * np.linspace(0, 1, 5000)
    clean[:700] = 0.0  # silent frames hit the -10 dB floor
    est = clean + 0.3 * rng.standard_normal(5000)
    win, skip = 480, 120
    num_frames = math.floor(len(clean) / skip - win / skip)
    w = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, win + 1) / (win + 1)))
    eps = np.finfo(float).eps
    vals = []
    for k in range(num_frames):
        c = clean[k * skip : k * skip + win] * w
        p = est[k * skip : k * skip + win] * w
        v = 10 * np.log10(np.sum(c**2) / (np.sum((c - p) ** 2) + eps) + eps)
        vals.append(min(max(v, -10), 35))
    assert segmental_snr(clean, est) == pytest.approx(float(np.mean(vals)), abs=1e-10)


def test_snr_improvement_and_errors():
    rng = np.random.default_rng(3)
    clean = _sine()
    noisy = mix_at_snr(clean, rng.standard_normal(clean.size), 0.0)
    enhanced = clean + 0.1 * (noisy - clean)  # 20 dB better
    r = snr_improvement(clean, noisy, enhanced)
    assert isinstance(r, SNRImprovement)
    assert r.snr_noisy == pytest.approx(0.0, abs=1e-6)
    assert r.snr_enhanced == pytest.approx(20.0, abs=1e-6)
    assert r.snr_gain == pytest.approx(20.0, abs=1e-6)
    assert r.segsnr_gain == pytest.approx(r.segsnr_enhanced - r.segsnr_noisy)
    assert 15.0 < r.segsnr_gain < 25.0
    with pytest.raises(AttributeError):
        r.snr_noisy = 1.0  # frozen
    with pytest.raises(ValueError, match="same length"):
        segmental_snr(clean, clean[:-1])
    with pytest.raises(ValueError, match="too short"):
        segmental_snr(clean[:500], clean[:500])
    with pytest.raises(ValueError, match="silent"):
        snr(np.zeros(10), np.ones(10))


# --------------------------------------------------------------------------- espeak


def test_find_espeak_missing_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: nothing to find
    with pytest.raises(SpeechDataError, match="apt-get install -y espeak-ng") as info:
        find_espeak()
    assert str(info.value) == (
        "espeak-ng not found: install it with `apt-get install -y espeak-ng` "
        "(Debian/Ubuntu) or `brew install espeak-ng`"
    )
    assert isinstance(info.value, ValueError)
    monkeypatch.setattr(speech_audio.shutil, "which", lambda *a, **k: None)
    with pytest.raises(SpeechDataError, match="brew install espeak-ng"):
        synthesize("hello", "en-us")


@needs_espeak
def test_synthesize_one_sentence():
    audio = synthesize(speech.SENTENCES[0], "en-us")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 * SR <= audio.size <= 5 * SR
    assert np.max(np.abs(audio)) <= 1.0
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 0.01
    # 22050 -> 16000 Hz: same duration as the 22.05 kHz output
    native = synthesize(speech.SENTENCES[0], "en-us", sample_rate=22050)
    assert abs(native.size * 16000 / 22050 - audio.size) <= 2
    with pytest.raises(SpeechDataError, match="espeak-ng failed"):
        synthesize("hello", "xx-no-such-voice")
    with pytest.raises(SpeechDataError, match="non-empty"):
        synthesize("   ", "en-us")


@needs_espeak
def test_builtin_voices_are_distinct():
    """Every built-in voice works and sounds different (a bad variant is silently ignored)."""
    outs = [synthesize("Seven green boats.", v) for v in speech.VOICES]
    for i in range(len(outs)):
        for j in range(i):
            same = outs[i].shape == outs[j].shape and np.array_equal(outs[i], outs[j])
            assert not same, (speech.VOICES[i], speech.VOICES[j])


@needs_espeak
def test_tiny_corpus_builds_and_caches(tmp_path, monkeypatch):
    kw = dict(n_utterances=6, snrs=(0, 10), seed=3, voices=("en-us", "en+f2"), progress=False)
    speech.espeak_version()  # as after earlier tests in the session: the version known in memory only
    corpus = build_speech_corpus(tmp_path, **kw)
    files = sorted(p.name for p in tmp_path.glob("speech_*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))

    # Shapes and labels.
    assert corpus.sample_rate == 16000 and corpus.window == 16384
    assert corpus.train_clean.dtype == np.float32 and corpus.train_clean.shape[1] == 16384
    assert corpus.train_noisy.shape == corpus.train_clean.shape
    n = corpus.n_train
    assert n >= 5 and corpus.train_snrs.shape == (n,) and corpus.train_utterance.shape == (n,)
    assert set(corpus.train_snrs.tolist()) <= {0.0, 10.0}
    assert set(corpus.train_noise_types.tolist()) <= {"white", "babble"}
    assert corpus.n_test == 1 and len(corpus.test_noisy) == 1
    assert corpus.test_clean[0].size >= 16384 and corpus.test_clean[0].shape == corpus.test_noisy[0].shape
    assert np.max(np.abs(corpus.train_noisy)) <= 1.0

    # Every utterance is mixed at exactly its labelled SNR.
    assert abs(_measured_snr(corpus.test_clean[0], corpus.test_noisy[0]) - corpus.test_snrs[0]) < 1e-3
    # Held-out sentences are never used in training.
    split = corpus.meta["split_sentences"]
    assert split["test"] and not set(split["test"]) & set(split["train"])
    for u in corpus.meta["utterances"]:
        assert set(u["sentences"]) <= set(split[u["split"]])
        assert 1 <= len(u["sentences"]) <= 3

    # Second call: loaded from disk, espeak-ng never runs.
    speech_audio._VERSION_MEMO.clear()  # as in a fresh process: the on-disk memo must be enough

    def boom(*args, **kwargs):
        raise AssertionError(f"espeak-ng was run: {args}")

    monkeypatch.setattr(speech_audio.subprocess, "run", boom)
    monkeypatch.setattr(subprocess, "run", boom)
    again = build_speech_corpus(tmp_path, **kw)
    for name in ("train_clean", "train_noisy", "train_snrs", "train_noise_types", "train_utterance", "test_snrs"):
        np.testing.assert_array_equal(getattr(again, name), getattr(corpus, name))
    for a, b in zip(again.test_noisy + again.test_clean, corpus.test_noisy + corpus.test_clean):
        np.testing.assert_array_equal(a, b)
    assert again.meta["key"] == corpus.meta["key"]

    # Anything that changes the audio changes the cache file.
    monkeypatch.undo()
    other = build_speech_corpus(tmp_path, **{**kw, "seed": 4})
    assert other.meta["key"] != corpus.meta["key"]
    assert len(list(tmp_path.glob("speech_*.npz"))) == 2
