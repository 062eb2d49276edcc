"""Speech audio for the SEGAN corpus: espeak-ng synthesis, noise, mixing at an SNR, pre-emphasis, windows.

The building blocks of :mod:`gans.data.speech_corpus` (which re-exports them). Nothing here needs torch: the
arrays are plain float32 numpy arrays.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import wave
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from ..base import DataError, atomic_write_bytes

__all__ = [
    "SpeechDataError",
    "SAMPLE_RATE",
    "WINDOW",
    "STRIDE",
    "PREEMPHASIS",
    "BABBLE_TALKERS",
    "find_espeak",
    "espeak_version",
    "synthesize",
    "white_noise",
    "babble_noise",
    "mix_at_snr",
    "preemphasis",
    "deemphasis",
    "make_windows",
]

#: SEGAN's sampling rate, window (2**14 samples, about 1 s) and hop (50 % overlap).
SAMPLE_RATE = 16000
WINDOW = 16384
STRIDE = 8192
#: SEGAN's pre-emphasis coefficient.
PREEMPHASIS = 0.95
#: babble: how many other talkers are summed (part of the corpus's cache key)
BABBLE_TALKERS = (4, 6)

_ESPEAK_HINT = (
    "espeak-ng not found: install it with `apt-get install -y espeak-ng` (Debian/Ubuntu) or `brew install espeak-ng`"
)


class SpeechDataError(DataError):
    """A problem with the synthetic speech data (missing espeak-ng, too-short audio, ...)."""


# --------------------------------------------------------------------------- espeak


def find_espeak() -> str:
    """Path of the ``espeak-ng`` executable (or legacy ``espeak``).

    Raises :class:`SpeechDataError` with an install hint when neither is on ``PATH``.
    """
    for name in ("espeak-ng", "espeak"):
        path = shutil.which(name)
        if path:
            return path
    raise SpeechDataError(_ESPEAK_HINT)


_VERSION_MEMO: dict[str, str] = {}
_VERSION_MEMO_FILE = "espeak_version.json"


def _exe_fingerprint(exe: str) -> str:
    real = os.path.realpath(exe)
    st = os.stat(real)
    return f"{real}|{st.st_size}|{st.st_mtime_ns}"


def espeak_version(exe: str | None = None, *, memo_dir: str | os.PathLike | None = None) -> str:
    """The ``espeak-ng --version`` line, e.g. ``"eSpeak NG text-to-speech: 1.51 ..."``.

    The answer is memoised per executable (path, size and modification time), in
    memory and, when ``memo_dir`` is given, in ``memo_dir/espeak_version.json``, so
    that loading a cached corpus does not have to run espeak-ng at all.
    """
    exe = exe or find_espeak()
    fp = _exe_fingerprint(exe)
    memo_path = Path(memo_dir) / _VERSION_MEMO_FILE if memo_dir is not None else None
    memo: dict[str, str] = {}
    if memo_path is not None and memo_path.is_file():
        try:
            loaded = json.loads(memo_path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                memo = {str(k): str(v) for k, v in loaded.items()}
        except (OSError, ValueError):
            memo = {}
    version = _VERSION_MEMO.get(fp) or memo.get(fp)
    if version is None:
        try:
            proc = subprocess.run([exe, "--version"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SpeechDataError(f"could not run {exe} --version: {exc}") from exc
        version = proc.stdout.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or not version:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise SpeechDataError(f"{exe} --version failed (exit {proc.returncode}): {err}")
    _VERSION_MEMO[fp] = version
    if memo_path is not None and memo.get(fp) != version:  # also when known only in memory
        memo[fp] = version
        try:
            atomic_write_bytes(memo_path, json.dumps(memo, indent=1, sort_keys=True).encode())
        except OSError:
            pass  # the memo is only an optimisation
    return version


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the sampling rate of a 16-bit PCM WAV byte string.

    espeak-ng writes a streaming header with a placeholder data size, so the frame
    count in the header is ignored and the data chunk is read to the end.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            rate = w.getframerate()
            channels = w.getnchannels()
            width = w.getsampwidth()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SpeechDataError(f"espeak-ng produced unreadable WAV output ({len(data)} bytes): {exc}") from exc
    if width != 2:
        raise SpeechDataError(f"expected 16-bit WAV from espeak-ng, got {8 * width}-bit")
    usable = len(frames) - len(frames) % (2 * channels)
    pcm = np.frombuffer(frames[:usable], dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    return pcm, rate


def synthesize(
    text: str,
    voice: str = "en-us",
    *,
    sample_rate: int = SAMPLE_RATE,
    speed: int = 175,
    pitch: int = 50,
) -> np.ndarray:
    """Speak ``text`` with espeak-ng and return mono float32 audio in [-1, 1].

    Runs ``espeak-ng -v VOICE -s SPEED -p PITCH --stdout -- TEXT`` (no shell),
    parses the WAV it writes (22,050 Hz, mono, 16-bit) and resamples it to
    ``sample_rate`` with :func:`scipy.signal.resample_poly` (22050 -> 16000 is
    up 320, down 441).
    """
    if not isinstance(text, str) or not text.strip():
        raise SpeechDataError("synthesize() needs a non-empty text")
    if not 80 <= int(speed) <= 450:
        raise SpeechDataError(f"speed must be 80-450 words per minute, got {speed}")
    if not 0 <= int(pitch) <= 99:
        raise SpeechDataError(f"pitch must be 0-99, got {pitch}")
    if int(sample_rate) <= 0:
        raise SpeechDataError(f"sample_rate must be positive, got {sample_rate}")
    exe = find_espeak()
    cmd = [exe, "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "--stdout", "--", text]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SpeechDataError(f"could not run espeak-ng: {exc}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise SpeechDataError(f"espeak-ng failed for voice {voice!r} (exit {proc.returncode}): {err}")
    audio, rate = _parse_wav(proc.stdout)
    if audio.size == 0:
        raise SpeechDataError(f"espeak-ng produced no audio for voice {voice!r} and text {text!r}")
    if rate != sample_rate:
        ratio = Fraction(int(sample_rate), int(rate))
        from scipy.signal import resample_poly  # lazy: scipy.signal costs ~1.5 s at import

        audio = resample_poly(audio.astype(np.float64), ratio.numerator, ratio.denominator)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- noise


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return np.random.default_rng(rng)


def white_noise(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``n`` samples of zero-mean, unit-variance white Gaussian noise (float32)."""
    n = int(n)
    if n <= 0:
        raise SpeechDataError(f"noise length must be positive, got {n}")
    return _as_rng(rng).standard_normal(n).astype(np.float32)


def babble_noise(
    n: int,
    rng: np.random.Generator | int | None,
    utterances: Sequence[np.ndarray],
) -> np.ndarray:
    """Babble: the sum of 4-6 talkers from ``utterances`` at random offsets.

    Each chosen utterance is scaled to unit RMS and looped (a talker who keeps
    talking), a random ``n``-sample stretch of the loop is taken, the talkers
    are summed and the sum is normalised to unit RMS (float32). Talkers are
    picked without replacement, so ``utterances`` needs at least 4 entries.
    """
    n = int(n)
    if n <= 0:
        raise SpeechDataError(f"noise length must be positive, got {n}")
    lo, hi = BABBLE_TALKERS
    if len(utterances) < lo:
        raise SpeechDataError(f"babble needs at least {lo} other utterances, got {len(utterances)}")
    rng = _as_rng(rng)
    k = int(rng.integers(lo, hi + 1))
    k = min(k, len(utterances))
    chosen = rng.choice(len(utterances), size=k, replace=False)
    out = np.zeros(n, dtype=np.float64)
    for idx in chosen:
        clip = np.asarray(utterances[int(idx)], dtype=np.float64).ravel()
        rms = math.sqrt(float(np.mean(clip**2))) if clip.size else 0.0
        if rms == 0.0:
            raise SpeechDataError("babble utterances must not be silent")
        clip = clip / rms
        offset = int(rng.integers(0, clip.size))
        reps = (offset + n) // clip.size + 1
        out += np.tile(clip, reps)[offset : offset + n]
    rms = math.sqrt(float(np.mean(out**2)))
    if rms == 0.0:  # pragma: no cover - only for pathological inputs
        raise SpeechDataError("babble noise came out silent")
    return (out / rms).astype(np.float32)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``clean + g * noise`` with ``g`` chosen so that 10 log10(P_clean / P_noise) = snr_db.

    Power is the mean square over the whole signal (pauses included; this is not
    the ITU-T P.56 active speech level used by Valentini et al.). The result has
    the dtype of ``clean``/``noise`` promoted to at least float32; it is not clipped.
    """
    clean = np.asarray(clean)
    noise = np.asarray(noise)
    if clean.shape != noise.shape:
        raise SpeechDataError(f"clean {clean.shape} and noise {noise.shape} must have the same shape")
    snr_db = float(snr_db)
    if not math.isfinite(snr_db):
        raise SpeechDataError(f"snr_db must be finite, got {snr_db}")
    c = clean.astype(np.float64)
    z = noise.astype(np.float64)
    p_clean = float(np.mean(c**2))
    p_noise = float(np.mean(z**2))
    if p_clean == 0.0 or p_noise == 0.0:
        raise SpeechDataError("clean and noise must both have non-zero power to mix at an SNR")
    gain = math.sqrt(p_clean / (p_noise * 10.0 ** (snr_db / 10.0)))
    dtype = np.result_type(clean.dtype, noise.dtype, np.float32)
    return (c + gain * z).astype(dtype)


# --------------------------------------------------------------------------- framing


def preemphasis(x: np.ndarray, coef: float = PREEMPHASIS) -> np.ndarray:
    """SEGAN's pre-emphasis ``y[n] = x[n] - coef * x[n-1]`` (``y[0] = x[0]``), along the last axis."""
    x = np.asarray(x)
    y = x.astype(np.result_type(x.dtype, np.float32), copy=True)
    y[..., 1:] -= coef * x[..., :-1]
    return y


def deemphasis(y: np.ndarray, coef: float = PREEMPHASIS) -> np.ndarray:
    """Exact inverse of :func:`preemphasis`: ``x[n] = y[n] + coef * x[n-1]``, along the last axis."""
    y = np.asarray(y)
    from scipy.signal import lfilter  # lazy: scipy.signal costs ~1.5 s at import

    out = lfilter([1.0], [1.0, -float(coef)], y.astype(np.float64), axis=-1)
    return out.astype(np.result_type(y.dtype, np.float32))


def make_windows(signal: np.ndarray, window: int = WINDOW, stride: int = STRIDE) -> np.ndarray:
    """Cut a 1-D signal into ``(n, window)`` frames ``stride`` samples apart (a copy).

    As in SEGAN, only whole windows are kept; the tail after the last whole
    window is dropped. Raises :class:`SpeechDataError` if the signal is shorter
    than one window.
    """
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise SpeechDataError(f"make_windows() expects a 1-D signal, got shape {signal.shape}")
    window, stride = int(window), int(stride)
    if window <= 0 or stride <= 0:
        raise SpeechDataError(f"window and stride must be positive, got {window} and {stride}")
    if signal.shape[0] < window:
        raise SpeechDataError(f"audio of {signal.shape[0]} samples is shorter than one window of {window} samples")
    frames = np.lib.stride_tricks.sliding_window_view(signal, window)[::stride]
    return np.ascontiguousarray(frames)
