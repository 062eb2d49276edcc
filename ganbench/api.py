"""``ganbench.evaluate``: the collapse and quality verdicts of ``ganbench diagnose``, from Python.

:func:`evaluate` runs the very path the command runs (its arguments are parsed by the command's own parser
and scored by ``ganbench.diagnose.diagnose_output``), so on the same inputs it gives the command's verdicts.
Tensors and arrays are handed over exactly as ``.npy`` files of the same values would be.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from gans.base import UserError

__all__ = ["evaluate", "Evaluation", "Judgement"]


@dataclass(frozen=True)
class Judgement:
    """One verdict: ``verdict`` (e.g. "healthy", "partial", "collapsed"; "good", "usable", "poor"), the
    ``sentence`` that gives the numbers behind it, and those ``scores``."""

    verdict: str
    sentence: str
    scores: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` found: the collapse and quality verdicts, every metric with its interval where it
    has one, and the full result as ``ganbench diagnose --json`` prints it (``raw``)."""

    collapse: Judgement
    quality: Judgement | None
    metrics: dict[str, Any]
    intervals: dict[str, Any]
    raw: dict[str, Any]

    def __str__(self) -> str:
        lines = [f"collapse: {self.collapse.verdict}: {self.collapse.sentence}"]
        if self.quality is not None:
            lines.append(f"quality: {self.quality.verdict}: {self.quality.sentence}")
        return "\n".join(lines)


def evaluate(
    fake: Any,
    real: Any,
    *,
    features: str = "auto",
    n: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    data_root: str | os.PathLike | None = None,
    mixture: str | None = None,
    value_range: str = "auto",
) -> Evaluation:
    """Score ``fake`` samples against ``real`` ones and give the collapse and quality verdicts.

    ``fake``: a tensor or array of samples (``(N, C, H, W)`` images or ``(N, D)`` points), a path (image folder,
    ``.npy``/``.npz``/``.pt`` file, run directory), or a callable returning a batch per call (called until ``n``
    samples, default 2,000, are drawn). ``real``: a data-set name (``"digits"``, ``"fashion-mnist"``, …), a
    tensor, an array or a path. ``features``, ``n``, ``seed``, ``mixture`` and ``value_range`` are
    ``ganbench diagnose``'s flags. Mistakes raise :class:`ganbench.UserError` with the command's message.
    """
    from ganbench.cli import build_parser, check_bounds, load_typed_families
    from ganbench.diagnose import DEFAULT_N, diagnose_output

    with tempfile.TemporaryDirectory(prefix="ganbench-evaluate-") as tmp:
        fake_arg = _as_argument(fake, "fake", Path(tmp), n or DEFAULT_N)
        real_arg = _as_argument(real, "real", Path(tmp), None)
        argv = ["diagnose", "--fake", fake_arg, "--real", real_arg, "--features", features, "--seed", str(seed)]
        argv += ["--device", device, "--value-range", value_range]
        if n is not None:
            argv += ["--n", str(n)]
        if data_root is not None:
            argv += ["--data-root", os.fspath(data_root)]
        if mixture is not None:
            argv += ["--mixture", mixture]
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:  # argparse's own complaint is on stderr; say which argument in one line
            raise UserError(f"evaluate: invalid arguments ({' '.join(argv[1:])})") from None
        check_bounds(args)
        load_typed_families(args)
        out = diagnose_output(args)
    assert out is not None  # not a dry run
    quality = out.get("quality")
    return Evaluation(
        collapse=Judgement(out["verdict"]["collapse"], out["verdict"]["sentence"], out["verdict"].get("scores") or {}),
        quality=Judgement(quality["verdict"], quality["sentence"], quality.get("scores") or {}) if quality else None,
        metrics=dict(out.get("metrics") or {}),
        intervals=dict(out.get("intervals") or {}),
        raw=out,
    )


def _as_argument(value: Any, role: str, tmp: Path, n: int | None) -> str:
    """A path or data-set name as the command takes it; tensors, arrays and callables become a ``.npy`` file."""
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if callable(value) and not hasattr(value, "__array__") and not _is_tensor(value):
        value = _draw(value, n or 0, role)
    array = _to_numpy(value, role)
    import numpy as np

    path = tmp / f"{role}.npy"
    np.save(path, array)
    return str(path)


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _to_numpy(value: Any, role: str) -> Any:
    import numpy as np

    if _is_tensor(value):
        value = value.detach().cpu()
        value = value.float().numpy() if value.is_floating_point() else value.numpy()
    elif not hasattr(value, "__array__"):
        raise UserError(
            f"evaluate: {role} must be a tensor, an array, a path, a data-set name or (fake) a callable, "
            f"got {type(value).__name__}"
        )
    return np.ascontiguousarray(np.asarray(value))


def _draw(sample: Callable[[], Any], n: int, role: str) -> Any:
    """Call ``sample()`` until ``n`` samples are drawn; the batches are joined along the first axis."""
    import numpy as np

    batches, total = [], 0
    while total < n:
        batch = _to_numpy(sample(), role)
        if batch.ndim < 2 or batch.shape[0] == 0:
            raise UserError(f"evaluate: {role}() must return a batch of samples (N, …), got shape {batch.shape}")
        batches.append(batch)
        total += batch.shape[0]
    return np.concatenate(batches)[:n]
