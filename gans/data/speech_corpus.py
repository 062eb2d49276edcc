"""The speech corpus behind the ``speech`` data source for SEGAN (Pascual, Bonafonte & Serra, 2017).

SEGAN is trained on pairs of (noisy, clean) 16 kHz speech cut into 16,384-sample
windows (about 1 s) with 50 % overlap, pre-emphasised with coefficient 0.95. The
original work uses the Valentini et al. (2016) VCTK noisy-speech set, which cannot
be downloaded here, so this module builds a small, fully reproducible stand-in:

* **Clean speech** is synthesised offline with ``espeak-ng`` from a fixed list of
  24 plain English sentences (:data:`SENTENCES`, written for this project, in ``speech_tables.json``) spoken
  by several voices (:data:`VOICES`) at several speaking rates and pitches
  (:data:`SPEEDS`, :data:`PITCHES`), so there are many distinct "speakers".
* **Noise** is white Gaussian noise or babble (4-6 other synthesised talkers at
  random offsets), mixed at a signal-to-noise ratio drawn from ``snrs``.
* **Split**: the sentences are divided into a training set and a held-out set
  (``holdout_fraction`` of the sentences); held-out utterances only use held-out
  sentences, so test speech content is never seen in training. Voices are shared
  by both splits (the split is by utterance/content, not by speaker).
* **Utterance length**: every utterance concatenates 2-3 sentences (fewer only
  when a split has fewer sentences; espeak-ng's own leading/trailing silence is
  trimmed) with 0.15-0.35 s of silence between them and 0.1 s at each end,
  which is about 4-9 s of audio - several training windows. If an utterance is
  still shorter than one window (only possible with custom, very short
  sentences) it is padded at the end with silence up to the window length.

The corpus is cached as one ``.npz`` file whose name is a hash of everything
that affects the audio, including the ``espeak-ng --version`` string; the second
call with the same arguments loads the file and never synthesises.

Nothing here needs torch: the arrays are plain float32 numpy arrays.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..base import atomic_write_bytes
from .speech_audio import (
    BABBLE_TALKERS,
    PREEMPHASIS,
    SAMPLE_RATE,
    STRIDE,
    WINDOW,
    SpeechDataError,
    babble_noise,
    deemphasis,
    espeak_version,
    find_espeak,
    make_windows,
    mix_at_snr,
    preemphasis,
    synthesize,
    white_noise,
)

__all__ = [
    "SpeechDataError",
    "SpeechCorpus",
    "SENTENCES",
    "VOICES",
    "SPEEDS",
    "PITCHES",
    "SAMPLE_RATE",
    "WINDOW",
    "STRIDE",
    "PREEMPHASIS",
    "find_espeak",
    "espeak_version",
    "synthesize",
    "white_noise",
    "babble_noise",
    "mix_at_snr",
    "preemphasis",
    "deemphasis",
    "make_windows",
    "build_speech_corpus",
]

_TABLES = json.loads((Path(__file__).with_name("speech_tables.json")).read_text(encoding="utf-8"))
#: Plain English sentences in the style of the Harvard lists, written for this project (speech_tables.json).
SENTENCES: tuple[str, ...] = tuple(_TABLES["sentences"])
#: espeak-ng voices (``language+variant``), checked against espeak-ng 1.51 (British variants spelled ``en+VARIANT``).
VOICES: tuple[str, ...] = tuple(_TABLES["voices"])
#: Speaking rates (words per minute; espeak-ng default 175) and pitches (0-99; default 50).
SPEEDS: tuple[int, ...] = tuple(_TABLES["speeds"])
PITCHES: tuple[int, ...] = tuple(_TABLES["pitches"])

# Everything below that changes the generated audio is part of the cache key.
_CACHE_FORMAT = 1
_GAP_SECONDS = (0.15, 0.35)  # silence between concatenated sentences
_EDGE_SECONDS = 0.1  # silence before the first and after the last sentence
_SILENCE_THRESHOLD = 1e-3  # espeak-ng's leading/trailing silence below this is trimmed
_SENTENCES_PER_UTTERANCE = (2, 3)
_CLEAN_PEAK = 0.5  # clean utterances are scaled to this peak
_MAX_PEAK = 0.99  # noisy mixtures are kept below this peak
_BABBLE_TALKERS = BABBLE_TALKERS
_BABBLE_POOL = 8  # single-sentence clips per split used for babble
_NOISE_TYPES = ("white", "babble")


# --------------------------------------------------------------------------- corpus


@dataclass(eq=False)
class SpeechCorpus:
    """Paired noisy/clean speech for SEGAN-style enhancement.

    ``train_clean``/``train_noisy`` are float32 ``(N, window)`` windows cut with
    50 % overlap from the training utterances; ``train_snrs``,
    ``train_noise_types`` and ``train_utterance`` give each window's mixing SNR
    (dB), noise type (``"white"``/``"babble"``) and source utterance index.
    The held-out utterances are kept whole (``test_clean``/``test_noisy``, lists of
    1-D float32 arrays) so evaluation runs on full utterances. Audio is raw
    (not pre-emphasised); apply :func:`preemphasis` in the model pipeline.
    """

    train_clean: np.ndarray
    train_noisy: np.ndarray
    train_snrs: np.ndarray
    train_noise_types: np.ndarray
    train_utterance: np.ndarray
    test_clean: list[np.ndarray]
    test_noisy: list[np.ndarray]
    test_snrs: np.ndarray
    test_noise_types: np.ndarray
    sample_rate: int
    window: int
    stride: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        """Number of training windows."""
        return int(self.train_clean.shape[0])

    @property
    def n_test(self) -> int:
        """Number of held-out utterances."""
        return len(self.test_clean)


def _pack(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.concatenate(arrays).astype(np.float32) if arrays else np.zeros(0, np.float32)
    return flat, offsets


def _unpack(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [flat[offsets[i] : offsets[i + 1]].copy() for i in range(len(offsets) - 1)]


def _balanced(rng: np.random.Generator, items: list[Any], n: int) -> list[Any]:
    """``n`` items cycling through a fresh shuffle of ``items`` each round (even coverage)."""
    out: list[Any] = []
    while len(out) < n:
        out.extend(items[int(i)] for i in rng.permutation(len(items)))
    return out[:n]


def _check_snrs(name: str, values: Sequence[float]) -> tuple[float, ...]:
    vals = tuple(float(v) for v in values)
    if not vals or not all(math.isfinite(v) for v in vals):
        raise SpeechDataError(f"{name} must be a non-empty list of finite dB values, got {values!r}")
    return vals


def build_speech_corpus(
    cache_dir: str | os.PathLike,
    *,
    n_utterances: int = 60,
    snrs: Sequence[float] = (0, 5, 10, 15),
    seed: int = 0,
    holdout_fraction: float = 0.2,
    test_snrs: Sequence[float] | None = None,
    voices: Sequence[str] = VOICES,
    sentences: Sequence[str] = SENTENCES,
    noise_types: Sequence[str] = _NOISE_TYPES,
    sample_rate: int = SAMPLE_RATE,
    window: int = WINDOW,
    stride: int = STRIDE,
    progress: bool = True,
) -> SpeechCorpus:
    """Synthesise (or load from cache) a noisy/clean speech corpus.

    ``n_utterances`` utterances are made, ``round(n_utterances * holdout_fraction)``
    of them (at least one when the fraction is positive) held out. Each utterance
    is 2-3 sentences from its split's sentence set, spoken by one speaker (a voice
    from ``voices``, cycled evenly, with a random rate from :data:`SPEEDS` and pitch
    from :data:`PITCHES`), scaled to a peak of 0.5, and mixed with white or babble
    noise at an SNR from ``snrs`` (held-out: ``test_snrs``, default ``snrs``;
    SEGAN itself tests at 2.5/7.5/12.5/17.5 dB). (noise type, SNR) pairs are
    cycled evenly within each split. Babble uses a pool of other single-sentence
    clips from the same split. If a mixture would exceed 0.99 in magnitude, the
    clean and noisy signals are scaled down together (the SNR is unchanged).

    The corpus is cached as ``cache_dir/speech_<hash>.npz`` (hash of everything
    that affects the audio, including the espeak-ng version) and written
    atomically; later calls load it without running espeak-ng. ``stride`` only
    affects how training windows are cut at load time and is not part of the hash.
    """
    n_utterances = int(n_utterances)
    holdout_fraction = float(holdout_fraction)
    if not 0.0 <= holdout_fraction < 1.0:
        raise SpeechDataError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    n_test = int(round(n_utterances * holdout_fraction))
    if holdout_fraction > 0:
        n_test = max(1, n_test)
    n_train = n_utterances - n_test
    if n_train < 1:
        raise SpeechDataError(
            f"n_utterances={n_utterances} with holdout_fraction={holdout_fraction} leaves no training utterance"
        )
    snrs = _check_snrs("snrs", snrs)
    test_snrs = _check_snrs("test_snrs", snrs if test_snrs is None else test_snrs)
    voices = tuple(str(v) for v in voices)
    if not voices:
        raise SpeechDataError("voices must not be empty")
    sentences = tuple(str(s) for s in sentences)
    n_test_sent = max(1, int(round(len(sentences) * holdout_fraction))) if n_test else 0
    if len(sentences) - n_test_sent < 1 or any(not s.strip() for s in sentences):
        raise SpeechDataError(
            f"need non-empty sentences for both splits; got {len(sentences)} sentences "
            f"with holdout_fraction={holdout_fraction}"
        )
    noise_types = tuple(str(t) for t in noise_types)
    bad = [t for t in noise_types if t not in _NOISE_TYPES]
    if not noise_types or bad:
        raise SpeechDataError(f"noise_types must be a non-empty subset of {_NOISE_TYPES}, got {noise_types!r}")
    sample_rate, window, stride = int(sample_rate), int(window), int(stride)
    if sample_rate <= 0 or window <= 0 or stride <= 0:
        raise SpeechDataError("sample_rate, window and stride must be positive")

    exe = find_espeak()
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    version = espeak_version(exe, memo_dir=cache)
    spec = {
        "format": _CACHE_FORMAT,
        "espeak_version": version,
        "n_utterances": n_utterances,
        "holdout_fraction": holdout_fraction,
        "snrs": list(snrs),
        "test_snrs": list(test_snrs),
        "seed": int(seed),
        "voices": list(voices),
        "sentences": list(sentences),
        "noise_types": list(noise_types),
        "sample_rate": sample_rate,
        "window": window,
        "speeds": list(SPEEDS),
        "pitches": list(PITCHES),
        "gap_seconds": list(_GAP_SECONDS),
        "edge_seconds": _EDGE_SECONDS,
        "silence_threshold": _SILENCE_THRESHOLD,
        "sentences_per_utterance": list(_SENTENCES_PER_UTTERANCE),
        "clean_peak": _CLEAN_PEAK,
        "max_peak": _MAX_PEAK,
        "babble_talkers": list(_BABBLE_TALKERS),
        "babble_pool": _BABBLE_POOL,
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    path = cache / f"speech_{key}.npz"
    if path.is_file():
        try:
            return _load(path, stride)
        except Exception as exc:  # a truncated or foreign file: rebuild it
            import warnings

            warnings.warn(f"ignoring unreadable speech cache {path}: {exc}; rebuilding", stacklevel=2)
    arrays, meta = _generate(spec, n_train, n_test, n_test_sent, progress)
    meta["key"] = key
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return _load(path, stride)


def _generate(
    spec: dict[str, Any], n_train: int, n_test: int, n_test_sent: int, progress: bool
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    rng = np.random.default_rng(spec["seed"])
    sr = spec["sample_rate"]
    sentences: list[str] = spec["sentences"]
    voices: list[str] = spec["voices"]
    order = [int(i) for i in rng.permutation(len(sentences))]
    split_sentences = {"test": sorted(order[:n_test_sent]), "train": sorted(order[n_test_sent:])}
    counts = {"train": n_train, "test": n_test}
    snr_lists = {"train": spec["snrs"], "test": spec["test_snrs"]}

    memo: dict[tuple[int, str, int, int], np.ndarray] = {}

    def say(sent: int, voice: str, speed: int, pitch: int) -> np.ndarray:
        k = (sent, voice, speed, pitch)
        if k not in memo:
            memo[k] = synthesize(sentences[sent], voice, sample_rate=sr, speed=speed, pitch=pitch)
        return memo[k]

    # Plan everything first (so the random stream does not depend on audio lengths).
    plans: dict[str, list[dict[str, Any]]] = {}
    pools: dict[str, list[dict[str, Any]]] = {}
    for split in ("train", "test"):
        n = counts[split]
        pool_sents = split_sentences[split]
        combos = [(t, s) for t in spec["noise_types"] for s in snr_lists[split]]
        noise_plan = _balanced(rng, combos, n)
        voice_plan = _balanced(rng, voices, n)
        plans[split] = []
        for i in range(n):
            lo, hi = spec["sentences_per_utterance"]
            k = min(int(rng.integers(lo, hi + 1)), len(pool_sents))
            sents = [int(s) for s in rng.choice(pool_sents, size=k, replace=False)]
            gaps = [float(g) for g in rng.uniform(*spec["gap_seconds"], size=k - 1)]
            plans[split].append(
                {
                    "split": split,
                    "sentences": sents,
                    "voice": voice_plan[i],
                    "speed": int(rng.choice(spec["speeds"])),
                    "pitch": int(rng.choice(spec["pitches"])),
                    "gaps": gaps,
                    "noise": noise_plan[i][0],
                    "snr": float(noise_plan[i][1]),
                    "noise_seed": int(rng.integers(2**63 - 1)),
                }
            )
        pools[split] = []
        if n and "babble" in spec["noise_types"]:
            for _ in range(spec["babble_pool"]):
                pools[split].append(
                    {
                        "sentence": int(rng.choice(pool_sents)),
                        "voice": str(voices[int(rng.integers(len(voices)))]),
                        "speed": int(rng.choice(spec["speeds"])),
                        "pitch": int(rng.choice(spec["pitches"])),
                    }
                )

    total = sum(len(p) for p in plans.values()) + sum(len(p) for p in pools.values())
    bar = _progress(total, progress)
    out: dict[str, dict[str, list[Any]]] = {}
    try:
        for split in ("train", "test"):
            pool_audio = []
            for p in pools[split]:
                pool_audio.append(say(p["sentence"], p["voice"], p["speed"], p["pitch"]))
                bar.update(1)
            clean_list, noisy_list = [], []
            for plan in plans[split]:
                edge = np.zeros(int(round(spec["edge_seconds"] * sr)), np.float32)
                pieces = [edge]
                for j, s in enumerate(plan["sentences"]):
                    if j:
                        pieces.append(np.zeros(int(round(plan["gaps"][j - 1] * sr)), np.float32))
                    pieces.append(_trim_silence(say(s, plan["voice"], plan["speed"], plan["pitch"])))
                pieces.append(edge)
                clean = np.concatenate(pieces).astype(np.float64)
                if clean.size < spec["window"]:
                    clean = np.pad(clean, (0, spec["window"] - clean.size))
                clean *= spec["clean_peak"] / max(float(np.max(np.abs(clean))), 1e-12)
                nrng = np.random.default_rng(plan["noise_seed"])
                if plan["noise"] == "white":
                    noise = white_noise(clean.size, nrng)
                else:
                    others = [a for a, p in zip(pool_audio, pools[split]) if p["sentence"] not in plan["sentences"]]
                    if len(others) < spec["babble_talkers"][0]:
                        others = pool_audio
                    noise = babble_noise(clean.size, nrng, others)
                noisy = mix_at_snr(clean, noise.astype(np.float64), plan["snr"])
                peak = float(np.max(np.abs(noisy)))
                if peak > spec["max_peak"]:
                    clean *= spec["max_peak"] / peak
                    noisy *= spec["max_peak"] / peak
                clean_list.append(clean.astype(np.float32))
                noisy_list.append(noisy.astype(np.float32))
                bar.update(1)
            out[split] = {"clean": clean_list, "noisy": noisy_list}
    finally:
        bar.close()

    arrays: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        arrays[f"{split}_clean"], arrays[f"{split}_offsets"] = _pack(out[split]["clean"])
        arrays[f"{split}_noisy"], _ = _pack(out[split]["noisy"])
        arrays[f"{split}_snrs"] = np.array([p["snr"] for p in plans[split]], dtype=np.float32)
        arrays[f"{split}_noise_types"] = np.array([p["noise"] for p in plans[split]], dtype="<U8")
    meta = {
        "spec": spec,
        "split_sentences": split_sentences,
        "utterances": [
            {k: v for k, v in p.items() if k not in ("noise_seed", "gaps")}
            for split in ("train", "test")
            for p in plans[split]
        ],
        "babble_pools": pools,
        "length_policy": (
            "2-3 trimmed sentences joined by 0.15-0.35 s of silence, 0.1 s silence at each end; "
            "padded with silence to one window if shorter"
        ),
        "level_policy": "clean peak 0.5; clean and noisy scaled together if the mixture peak exceeds 0.99",
    }
    return arrays, meta


def _trim_silence(audio: np.ndarray) -> np.ndarray:
    """Drop leading/trailing samples below :data:`_SILENCE_THRESHOLD` (espeak-ng pads ~0.3 s)."""
    loud = np.flatnonzero(np.abs(audio) > _SILENCE_THRESHOLD)
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    if enabled:
        return tqdm(total=total, desc="synthesising speech", unit="utt")

    class _Null:
        def update(self, n: int = 1) -> None:
            pass

        def close(self) -> None:
            pass

    return _Null()


def _load(path: Path, stride: int) -> SpeechCorpus:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        d = {k: z[k] for k in z.files if k != "meta"}
    spec = meta["spec"]
    window = int(spec["window"])
    train_clean = _unpack(d["train_clean"], d["train_offsets"])
    train_noisy = _unpack(d["train_noisy"], d["train_offsets"])
    cw, nw, snr_w, type_w, utt_w = [], [], [], [], []
    for i, (c, n) in enumerate(zip(train_clean, train_noisy)):
        wc = make_windows(c, window, stride)
        cw.append(wc)
        nw.append(make_windows(n, window, stride))
        snr_w.append(np.full(wc.shape[0], d["train_snrs"][i], np.float32))
        type_w.append(np.full(wc.shape[0], d["train_noise_types"][i], dtype="<U8"))
        utt_w.append(np.full(wc.shape[0], i, np.int64))

    def cat(parts: list[np.ndarray], shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(shape, dtype)

    meta["cache_path"] = str(path)
    meta["espeak_version"] = spec["espeak_version"]
    return SpeechCorpus(
        train_clean=cat(cw, (0, window), np.float32),
        train_noisy=cat(nw, (0, window), np.float32),
        train_snrs=cat(snr_w, (0,), np.float32),
        train_noise_types=cat(type_w, (0,), "<U8"),
        train_utterance=cat(utt_w, (0,), np.int64),
        test_clean=_unpack(d["test_clean"], d["test_offsets"]),
        test_noisy=_unpack(d["test_noisy"], d["test_offsets"]),
        test_snrs=d["test_snrs"].astype(np.float32),
        test_noise_types=d["test_noise_types"].astype("<U8"),
        sample_rate=int(spec["sample_rate"]),
        window=window,
        stride=int(stride),
        meta=meta,
    )
