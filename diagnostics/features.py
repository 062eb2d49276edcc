"""Feature extractors for FID, PRDC, NDB and class coverage, in a registry.

=================  =================================================================================
``classifier``     a small CNN trained on the data set's own train split (any labelled image data:
                   digits, mnist, fashion-mnist, …). Features: its 128-d penultimate layer; it also
                   predicts classes (class coverage / KL) with a second head trained on those
                   frozen features with outlier exposure, so inputs that are not data (noise,
                   pixel-shuffled images) get no confident class. Trained once and cached under
                   ``gans.base.cache_dir()/extractors`` keyed by a hash of everything that affects
                   it (data set name + info, sample shape, architecture, training spec, seed, torch
                   version); its test accuracy is stored in the cache metadata.
``inception``      torchmetrics' 2048-d InceptionV3 (``NoTrainInceptionV3``, torch-fidelity's FID
                   weights) — only when torch-fidelity is installed and the weights are already on
                   disk (``$GANBENCH_INCEPTION_WEIGHTS`` or the torch hub cache). Never downloads.
                   The network and the weights' lookup are in :mod:`diagnostics.inception`.
``contrastive``    a small SimCLR-style encoder trained on the real images themselves (no labels, no
                   download; ≈ 20 s once per real set, cached by the images' hash, with a progress
                   bar): the default for *unlabelled* images (photos, celeba-h5, image-folder,
                   arrays). See :mod:`diagnostics.ssl` for why. FID numbers are comparable only
                   against the same real set, never with published FIDs.
``random-conv``    a fixed, seeded, random-weights conv net (4 stride-2 conv layers, 256-d global
                   average). No training; kept for comparison (it misses partial class collapse).
``raw``            the data itself, flattened: the natural space of the 2-D and 4-D toys.
``auto``           classifier for labelled image data, raw for vectors; for unlabelled images
                   inception when its weights file is on disk, else contrastive.

**Inception weights, for FIDs comparable with papers**: install torch-fidelity
(``pip install 'ganbench[inception]'``) and put its FID weights file
``weights-inception-2015-12-05-6726825d.pth`` (from torch-fidelity's GitHub releases,
``https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth``)
in ``$TORCH_HOME/hub/checkpoints/`` (``~/.cache/torch/hub/checkpoints/`` by default), or point
``$GANBENCH_INCEPTION_WEIGHTS`` at it. ganbench never downloads it.
=================  =================================================================================

Every extractor reports ``name`` and ``weights_hash`` (None for ``raw``), which every FID
result records next to n_real/n_fake.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from gans.base import UserError, atomic_write_json, cache_dir, unknown_name
from gans.cache import load_checked, save_checked

from .inception import INCEPTION_WEIGHTS_ENV, INCEPTION_WEIGHTS_FILE, build_inception, inception_available
from .metrics import module_weights_hash

__all__ = [
    "FeatureExtractor",
    "ClassifierSpec",
    "SmallCNN",
    "RandomConv",
    "register_extractor",
    "list_extractors",
    "get_extractor",
    "resolve_extractor_name",
    "train_classifier",
    "classifier_spec_for",
    "classifier_cache_key",
    "INCEPTION_WEIGHTS_ENV",
    "INCEPTION_WEIGHTS_FILE",
    "RAW_MAX_DIM",
]

RAW_MAX_DIM = 4096  # raw features beyond this make the D×D FID covariance impractical


class FeatureExtractor:
    """Maps samples in data space (images (N, C, H, W) in [0, 1], or vectors (N, D)) to features.

    ``module`` is the ``nn.Module`` that maps samples to features
    (images in, (N, D) features out). ``predict`` returns class probabilities when the
    extractor is a classifier, else None.
    """

    def __init__(
        self,
        name: str,
        module: nn.Module,
        *,
        weights_hash: str | None,
        input_shape: tuple[int, ...] | None,
        num_classes: int | None = None,
        info: dict[str, Any] | None = None,
        batch_size: int = 500,
    ):
        self.name, self.module, self.weights_hash = name, module.eval(), weights_hash
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.num_classes = num_classes
        self.info = dict(info or {})
        self.batch_size = batch_size

    @property
    def device(self) -> torch.device:
        for p in list(self.module.parameters()) + list(self.module.buffers()):
            return p.device
        return torch.device("cpu")

    def identity(self) -> str:
        """A string that pins the feature space (for caching real statistics)."""
        return f"{self.name}:{self.weights_hash or 'none'}:{self.input_shape}"

    def check(self, x: torch.Tensor, role: str = "samples") -> None:
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            raise UserError(
                f"{role} have per-sample shape {tuple(x.shape[1:])} but the {self.name} extractor takes "
                f"{self.input_shape}"
            )

    @torch.no_grad()
    def _run(self, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        dev = self.device
        out = [
            fn(x[i : i + self.batch_size].to(dev).float()).float().cpu() for i in range(0, x.shape[0], self.batch_size)
        ]
        return torch.cat(out) if out else torch.empty(0)

    def features(self, x: torch.Tensor, role: str = "samples") -> torch.Tensor:
        """(N, D) float32 features on the CPU."""
        self.check(x, role)
        return self._run(x, self.module)

    def predict(self, x: torch.Tensor) -> torch.Tensor | None:
        """(N, K) class probabilities, or None for extractors that are not classifiers."""
        if self.num_classes is None or not hasattr(self.module, "classify"):
            return None
        self.check(x)
        return self._run(x, lambda b: F.softmax(self.module.classify(b), dim=1))

    def features_and_probs(self, x: torch.Tensor, role: str = "samples") -> tuple[torch.Tensor, torch.Tensor | None]:
        """Both in one pass when the extractor is a classifier."""
        self.check(x, role)
        if self.num_classes is None or not hasattr(self.module, "both"):
            return self._run(x, self.module), None
        feats, probs = [], []
        dev = self.device
        with torch.no_grad():
            for i in range(0, x.shape[0], self.batch_size):
                f, logits = self.module.both(x[i : i + self.batch_size].to(dev).float())
                feats.append(f.float().cpu())
                probs.append(F.softmax(logits.float(), dim=1).cpu())
        return torch.cat(feats), torch.cat(probs)

    def __repr__(self) -> str:
        return (
            f"FeatureExtractor({self.name!r}, weights_hash={(self.weights_hash or 'None')[:12]}, "
            f"input_shape={self.input_shape})"
        )


# --------------------------------------------------------------------------------------------
# Registry

ExtractorFactory = Callable[..., FeatureExtractor]
_EXTRACTORS: dict[str, tuple[ExtractorFactory, str]] = {}


def register_extractor(name: str, summary: str = "") -> Callable[[ExtractorFactory], ExtractorFactory]:
    """Decorator: register ``factory(data, *, shape, device) -> FeatureExtractor`` (duplicates refused)."""

    def deco(fn: ExtractorFactory) -> ExtractorFactory:
        if name in _EXTRACTORS or name == "auto":
            raise RuntimeError(f"feature extractor {name!r} registered twice")
        _EXTRACTORS[name] = (fn, summary)
        return fn

    return deco


def list_extractors() -> list[str]:
    return sorted(_EXTRACTORS)


def resolve_extractor_name(name: str, data: Any | None = None, *, shape: tuple[int, ...] | None = None) -> str:
    """``auto`` → classifier (labelled images), raw (vectors); for unlabelled images inception when its
    weights file is on disk, else contrastive."""
    if name != "auto":
        if name not in _EXTRACTORS:
            raise unknown_name("feature extractor", name, list(_EXTRACTORS) + ["auto"])
        return name
    shape = tuple(shape if shape is not None else data.shape if data is not None else ())
    kind = getattr(data, "kind", None) or ("vector" if len(shape) == 1 else "image")
    if kind == "vector" or len(shape) == 1:
        return "raw"
    if data is not None and data.num_classes and getattr(data, "finite", True) and data.kind == "image":
        return "classifier"
    if inception_available():
        return "inception"
    return "contrastive"


def get_extractor(
    name: str,
    data: Any | None = None,
    *,
    shape: tuple[int, ...] | None = None,
    device: str | torch.device = "cpu",
    real: torch.Tensor | None = None,
) -> FeatureExtractor:
    """The extractor ``name`` (or ``auto``) for ``data`` (a ``gans.data.Data``; needed by classifier).

    ``real`` (real samples in [0, 1]) is what an extractor trained on unlabelled data learns from
    when there is no ``data`` to draw from.
    """
    resolved = resolve_extractor_name(name, data, shape=shape)
    fn, _ = _EXTRACTORS[resolved]
    shape = tuple(shape if shape is not None else data.shape) if (shape is not None or data is not None) else None
    return fn(data, shape=shape, device=torch.device(device), real=real)


# --------------------------------------------------------------------------------------------
# raw


class _Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1).float()


@register_extractor("raw", "the data flattened (2-D/4-D toys)")
def _raw(data, *, shape, device, real=None) -> FeatureExtractor:
    if shape is not None and math.prod(shape) > RAW_MAX_DIM:
        raise UserError(
            f"raw features of {tuple(shape)} samples have {math.prod(shape)} dimensions (FID needs a D×D "
            f"covariance; at most {RAW_MAX_DIM}); use --features classifier, random-conv or inception"
        )
    return FeatureExtractor("raw", _Flatten(), weights_hash=None, input_shape=shape)


# --------------------------------------------------------------------------------------------
# random-conv: the documented fallback for unlabelled images


class RandomConv(nn.Module):
    """Four 3×3 stride-2 conv + ReLU layers (32, 64, 128, 256 channels), global average pool.

    Weights come from ``torch.manual_seed(seed)`` with PyTorch's default init and are never
    trained; inputs in [0, 1] are centred to [-1, 1]. Any image size ≥ 16 px works.
    """

    def __init__(self, channels: int, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers, c = [], channels
            for w in (32, 64, 128, 256):
                layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.ReLU()]
                c = w
            self.net = nn.Sequential(*layers)
        self.num_features = 256

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float() * 2 - 1).mean(dim=(2, 3))


@register_extractor(
    "random-conv", "fixed seeded random conv net (unlabelled images; FID comparable within ganbench only)"
)
def _random_conv(data, *, shape, device, real=None) -> FeatureExtractor:
    if shape is None or len(shape) != 3:
        raise UserError(f"random-conv features need images (C, H, W); got samples of shape {shape}")
    m = RandomConv(shape[0]).to(device)
    return FeatureExtractor(
        "random-conv",
        m,
        weights_hash=module_weights_hash(m),
        input_shape=shape,
        info={"seed": 0, "note": "random weights: FID comparable within ganbench only"},
    )


# --------------------------------------------------------------------------------------------
# classifier


@dataclass(frozen=True)
class ClassifierSpec:
    """Architecture and training recipe of the classifier extractor (all part of the cache key)."""

    width: int = 32  # channels of the first conv block (the second has 2×)
    feature_dim: int = 128  # penultimate layer: the features
    epochs: int = 3  # passes over the train split
    batch_size: int = 256
    lr: float = 2e-3  # Adam, with a one-cycle schedule
    weight_decay: float = 1e-4
    seed: int = 0
    arch: str = "smallcnn-strided-v3"  # bump when SmallCNN changes
    # The class predictions come from a confidence head (feature_dim → feature_dim → K MLP) trained on the
    # frozen features with outlier exposure (Hendrycks et al., ICLR 2019): each batch also carries this share
    # of made-up non-data images, trained towards the uniform distribution with this weight. Without it,
    # uniform noise got a class at confidence ≥ 0.9 in 54 % of cases on glyphs, so "confident classes"
    # counted noise as digits. The features themselves are trained without outliers: trained with them, every
    # noise image mapped to one feature point (diversity 0, 100 % near-duplicates), which FID and PRDC read.
    outliers: tuple[str, ...] = ("uniform", "smooth", "shuffled")
    outlier_share: float = 0.25
    outlier_weight: float = 0.5


def classifier_spec_for(n_train: int) -> ClassifierSpec:
    """Small data sets (digits: 1,437 images) get smaller batches and more epochs (~900 steps)."""
    if n_train >= 20_000:
        return ClassifierSpec()
    bs = 64
    steps_per_epoch = max(1, n_train // bs)
    return ClassifierSpec(batch_size=bs, epochs=int(min(60, max(3, math.ceil(900 / steps_per_epoch)))))


class SmallCNN(nn.Module):
    """conv3/2(w)-BN-ReLU → conv3/2(2w)-BN-ReLU → adaptive-avg 7×7 → fc(feature_dim)-ReLU → fc(K).

    Strided convolutions instead of pooling: ~0.5 M multiply-adds per 28×28 image, so training
    on 60k images takes one to two minutes on one CPU core.
    """

    def __init__(self, channels: int, num_classes: int, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(7),
            nn.Flatten(),
            nn.Linear(2 * width * 49, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)  # trains the features with them
        # predicts classes from the frozen features; trained second, with outlier exposure
        self.confidence = nn.Sequential(
            nn.Linear(feature_dim, feature_dim), nn.ReLU(), nn.Linear(feature_dim, num_classes)
        )
        self.num_features = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # features (penultimate layer)
        return self.body(x.float() - 0.5)

    def classify(self, x: torch.Tensor) -> torch.Tensor:  # logits
        return self.confidence(self.forward(x))

    def both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.forward(x)
        return f, self.confidence(f)


def _data_identity(data: Any) -> dict[str, Any]:
    info = {k: v for k, v in (data.info or {}).items() if k not in ("auto",)}
    return {"name": data.name, "info": info, "shape": list(data.shape), "num_classes": data.num_classes}


def classifier_cache_key(data: Any, spec: ClassifierSpec) -> str:
    payload = {"data": _data_identity(data), "spec": asdict(spec), "torch": torch.__version__.split("+")[0]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def train_classifier(data: Any, spec: ClassifierSpec, device: torch.device) -> tuple[SmallCNN, dict[str, Any]]:
    """Train the classifier on ``data``'s train split; returns it and metadata (test accuracy …)."""
    t0 = time.perf_counter()
    x, y = data.real(data.n_train, "train", seed=spec.seed)
    if y is None:
        raise UserError(
            f"the classifier extractor needs a labelled data set; {data.name} has no labels (use --features "
            "random-conv)"
        )
    n_test = int(data.info.get("n_test", 0))
    xt, yt = data.real(n_test, "test", seed=0) if n_test else (None, None)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        # small convolutions scale badly across threads and collapse when the CPU is shared
        # (measured 10× slower with 2 threads than 1 on a busy 2-core machine)
        torch.set_num_threads(max(1, min(threads, (os.cpu_count() or 2) // 2)))
    try:
        model, n = _fit(x, y, spec, device, int(data.num_classes))
    finally:
        torch.set_num_threads(threads)
    model.eval()
    meta: dict[str, Any] = {"train_s": time.perf_counter() - t0, "n_train": int(n)}
    if xt is not None:
        with torch.no_grad():
            pred = torch.cat(
                [model.classify(xt[i : i + 1000].to(device)).argmax(1).cpu() for i in range(0, xt.shape[0], 1000)]
            )
        meta["test_accuracy"] = float((pred == yt).float().mean())
        meta["n_test"] = int(xt.shape[0])
    # how often the classifier names a class for what is not data (uniform noise; seeded, not trained on)
    noise = torch.rand(1000, *x.shape[1:], generator=torch.Generator().manual_seed(spec.seed + 12345))
    with torch.no_grad():
        conf = F.softmax(model.classify(noise.to(device)), dim=1).max(1).values
    meta["noise_confident_share"] = float((conf >= 0.9).float().mean())
    return model.cpu(), meta


def make_outliers(x: torch.Tensor, kinds: tuple[str, ...], n: int, generator: torch.Generator) -> torch.Tensor:
    """About ``n`` images in [0, 1] shaped like ``x`` (N, C, H, W) that are not data, split among ``kinds``.

    ``uniform``: pixel noise; ``smooth``: noise at a quarter of the resolution, upsampled (blobs with no
    shape); ``shuffled``: images of ``x`` with their pixels permuted (the data's ink, none of its strokes).
    """
    b, c, h, w = x.shape
    k = max(1, n // max(1, len(kinds)))
    parts = []
    for kind in kinds:
        if kind == "uniform":
            parts.append(torch.rand(k, c, h, w, generator=generator))
        elif kind == "smooth":
            low = torch.rand(k, c, max(2, h // 4), max(2, w // 4), generator=generator)
            parts.append(F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False))
        elif kind == "shuffled":
            src = x[torch.randint(0, b, (k,), generator=generator)].float().reshape(k, c, h * w)
            perm = torch.argsort(torch.rand(k, h * w, generator=generator), dim=1)
            parts.append(torch.gather(src, 2, perm.unsqueeze(1).expand(-1, c, -1)).reshape(k, c, h, w))
        else:
            raise ValueError(f"unknown outlier kind {kind!r}")
    return torch.cat(parts)


def _one_cycle(
    params: Any, n: int, spec: ClassifierSpec, g: torch.Generator, loss_of: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    """``spec.epochs`` shuffled passes over ``n`` items: AdamW with a one-cycle schedule on ``loss_of(indices)``."""
    opt = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    steps_per_epoch = max(1, n // spec.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=spec.lr, total_steps=spec.epochs * steps_per_epoch, pct_start=0.25
    )
    for _ in range(spec.epochs):
        perm = torch.randperm(n, generator=g)
        for b in range(steps_per_epoch):
            loss = loss_of(perm[b * spec.batch_size : (b + 1) * spec.batch_size])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()


def _fit_confidence(
    model: SmallCNN, x: torch.Tensor, y: torch.Tensor, spec: ClassifierSpec, device: torch.device
) -> None:
    """Train ``model.confidence`` on the frozen features: the classes, and the uniform distribution on outliers."""
    head = model.confidence
    with torch.no_grad():
        feats = torch.cat([model(x[i : i + 2000].to(device)) for i in range(0, x.shape[0], 2000)])
    g = torch.Generator().manual_seed(spec.seed + 1)
    n_out = int(spec.batch_size * spec.outlier_share) if spec.outliers and spec.outlier_weight > 0 else 0

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(head(feats[idx]), y[idx].to(device))
        if n_out:
            with torch.no_grad():
                f_out = model(make_outliers(x[idx], spec.outliers, n_out, g).to(device))
            # cross-entropy to the uniform distribution on the outliers: "none of these classes"
            loss = loss - spec.outlier_weight * F.log_softmax(head(f_out), dim=1).mean()
        return loss

    _one_cycle(head.parameters(), x.shape[0], spec, g, loss_of)


def _fit(
    x: torch.Tensor, y: torch.Tensor, spec: ClassifierSpec, device: torch.device, num_classes: int
) -> tuple[SmallCNN, int]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = SmallCNN(x.shape[1], num_classes, spec.width, spec.feature_dim).to(device)
        model.train()
        _one_cycle(
            model.parameters(),
            x.shape[0],
            spec,
            torch.Generator().manual_seed(spec.seed),
            lambda idx: F.cross_entropy(model.head(model(x[idx].to(device))), y[idx].to(device)),
        )
        model.eval()
        _fit_confidence(model, x, y, spec, device)
    return model, x.shape[0]


@register_extractor("classifier", "small CNN trained on the data set's train split (cached)")
def _classifier(data, *, shape, device, real=None) -> FeatureExtractor:
    if data is None:
        raise UserError(
            "the classifier extractor needs a labelled data set to train on (e.g. --real digits); for arrays "
            "use --features random-conv or raw"
        )
    if data.kind != "image" or not data.num_classes or len(data.shape) != 3:
        raise UserError(
            f"the classifier extractor needs labelled images; {data.name} is "
            f"{'unlabelled' if not data.num_classes else data.kind} (use --features auto)"
        )
    spec = classifier_spec_for(data.n_train)
    key = classifier_cache_key(data, spec)
    folder = cache_dir() / "extractors"
    path = folder / f"classifier-{data.name}-{key}.pt"
    model = None
    blob = load_checked(path, "classifier extractor")  # its content hash is checked; a damaged entry is retrained
    if blob is not None:
        try:
            model = SmallCNN(data.shape[0], int(data.num_classes), spec.width, spec.feature_dim)
            model.load_state_dict(blob["state_dict"])
            meta = dict(blob["meta"])
        except Exception:  # an entry that does not fit this architecture is rebuilt, never trusted
            model = None
    if model is None:
        model, meta = train_classifier(data, spec, torch.device(device))
        meta = {
            **meta,
            "key": key,
            "spec": asdict(spec),
            "data": _data_identity(data),
            "torch": torch.__version__,
            "weights_hash": module_weights_hash(model),
            "created": time.time(),
        }
        save_checked({"state_dict": model.state_dict(), "meta": meta}, path)
        atomic_write_json(path.with_suffix(".json"), meta)  # human-readable twin
    model = model.to(device).eval()
    return FeatureExtractor(
        "classifier",
        model,
        weights_hash=module_weights_hash(model),  # from the loaded tensors, never from the cache's word
        input_shape=tuple(data.shape),
        num_classes=int(data.num_classes),
        info={
            "test_accuracy": meta.get("test_accuracy"),
            "noise_confident_share": meta.get("noise_confident_share"),
            "cache": str(path),
            "data": data.name,
        },
    )


# --------------------------------------------------------------------------------------------
# contrastive: the default for unlabelled images


@register_extractor("contrastive", "small self-supervised encoder trained on the real images (cached by data hash)")
def _contrastive(data, *, shape, device, real=None) -> FeatureExtractor:
    from .ssl import ContrastiveSpec, contrastive_encoder

    if shape is None or len(shape) != 3 or min(shape[1:]) < 8:
        raise UserError(f"contrastive features need images (C, H, W) of at least 8 px; got samples of shape {shape}")
    spec = ContrastiveSpec()
    if real is None:
        if data is None:
            raise UserError("the contrastive extractor learns from the real images; none were given")
        real, _ = data.real(min(spec.max_images, int(data.n_train)), "train", seed=0)
    model, meta, path = contrastive_encoder(real.detach().cpu().float(), spec)
    model = model.to(device)
    return FeatureExtractor(
        "contrastive",
        model,
        weights_hash=module_weights_hash(model),
        input_shape=tuple(shape),
        info={"cache": str(path), "train_s": meta.get("train_s"), "n_images": meta.get("n_images"),
              "note": "trained on these real images: FID comparable only against the same real set"},
    )


# --------------------------------------------------------------------------------------------
# inception (never downloads; the network is in diagnostics/inception.py)


@register_extractor("inception", "torchmetrics' 2048-d InceptionV3 (weights must already be on disk)")
def _inception(data, *, shape, device, real=None) -> FeatureExtractor:
    if shape is not None and len(shape) != 3:
        raise UserError(f"inception features need images (C, H, W); got samples of shape {shape}")
    m, digest, path = build_inception(device)
    return FeatureExtractor(
        "inception", m, weights_hash=digest, input_shape=shape, info={"weights": str(path)}, batch_size=64
    )
