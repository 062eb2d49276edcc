"""``ganbench diagnose --save-stats`` and ``--real FILE.npz``: real-data statistics in pytorch-fid's ``.npz`` layout.

Real-data statistics in pytorch-fid's layout: ``--save-stats FILE.npz`` writes ``mu`` (D,) and ``sigma`` (D, D)
(float64) of the real reference features (the reference half of a file or folder, the train split of a data set;
without ``--fake``, of the ``--n`` real samples read), plus the extractor as extra keys (``extractor``,
``extractor_identity``, ``weights_hash``, ``n``). ``--real FILE.npz`` holding ``mu`` and ``sigma`` (ours or
pytorch-fid's) scores FID only (no samples: no ceiling, KID, PRDC or verdicts), with the features the file
records (``--features`` must agree with them; a file without that record, such as pytorch-fid's, needs
``--features`` and is noted as unchecked). Features trained on the real samples (``contrastive``,
``classifier``) cannot be rebuilt from statistics and are refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gans.base import UserError

from .samples import dataset_names, load_samples

__all__ = ["is_stats_file", "write_stats", "read_stats", "save_real_stats", "against_stats", "print_stats_only"]

STATS_KEYS = ("mu", "sigma")
UNREBUILDABLE = ("contrastive", "classifier")  # trained on the real samples: not rebuilt from statistics


def is_stats_file(path: Path) -> bool:
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            return all(k in z.files for k in STATS_KEYS)
    except Exception:
        return False  # read as samples: that path says what is wrong


def write_stats(path: Path, mu: Any, sigma: Any, ex: Any, n: int) -> None:
    """mu and sigma in pytorch-fid's .npz layout (float64), plus the extractor's identity as extra keys."""
    import io

    import numpy as np

    from gans.base import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(
        buf,
        mu=np.asarray(mu, dtype=np.float64),
        sigma=np.asarray(sigma, dtype=np.float64),
        extractor=np.array(ex.name),
        extractor_identity=np.array(ex.identity()),
        weights_hash=np.array(ex.weights_hash or ""),
        n=np.array(int(n)),
    )
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as e:
        raise UserError(f"--save-stats {path}: cannot write ({e.strerror or e})") from None


def read_stats(path: Path) -> dict[str, Any]:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            st = {k: np.asarray(z[k]) for k in z.files}
    except Exception as e:
        raise UserError(f"{path}: unreadable statistics ({type(e).__name__}: {e})") from None
    mu, sigma = st["mu"], st["sigma"]
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]) or mu.dtype.kind != "f" or sigma.dtype.kind != "f":
        raise UserError(f"{path}: mu must be (D,) and sigma (D, D) floats; got {mu.shape} and {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise UserError(f"{path}: mu or sigma holds NaN or Inf")
    return {k: (v.item() if v.ndim == 0 else v) for k, v in st.items()}


def save_real_stats(args: argparse.Namespace) -> dict[str, Any]:
    """``--real X --save-stats F`` without ``--fake``: the statistics of ``--n`` real samples."""
    from diagnostics.features import get_extractor, resolve_extractor_name
    from diagnostics.metrics import gaussian_stats

    if not Path(args.real).exists() and args.real in dataset_names():
        raise UserError(f"--save-stats without --fake reads real samples (a file or folder); for the data set "
                        f"{args.real} add --fake, whose shape sets the images'")
    real, _ = load_samples(args.real, n=args.n, role="real", seed=args.seed, value_range=args.value_range)
    shape = tuple(real.shape[1:])
    ex = get_extractor(resolve_extractor_name(args.features, None, shape=shape), None, shape=shape,
                       device=args.device, real=real)
    feats = ex.features(real, "real").double().cpu()
    mu, sigma = gaussian_stats(feats)
    write_stats(Path(args.save_stats), mu, sigma, ex, real.shape[0])
    return {"real": args.real, "n_real": real.shape[0], "extractor": ex.name, "weights_hash": ex.weights_hash,
            "dimensions": int(feats.shape[1]), "saved_stats": args.save_stats, "stats_only": True}


def against_stats(args: argparse.Namespace, n_given: bool) -> dict[str, Any]:
    """FID of ``--fake`` against real statistics read from ``--real FILE.npz``."""
    from diagnostics.features import get_extractor
    from diagnostics.metrics import frechet_distance, gaussian_stats

    st = read_stats(Path(args.real))
    recorded = str(st.get("extractor") or "") or None
    name = args.features if args.features != "auto" else (recorded or "inception")
    if recorded and name != recorded:
        raise UserError(f"--real {args.real} holds {recorded} statistics but --features is {name}; FIDs of different "
                        f"features are not comparable (pass --features {recorded})")
    if name in UNREBUILDABLE:
        raise UserError(f"{name} features are trained on the real samples and cannot be rebuilt from statistics; use "
                        "raw, random-conv or inception features with --save-stats")
    fake, _ = load_samples(args.fake, n=args.n, role="fake", seed=args.seed, device=args.device,
                           value_range=args.value_range, require=args.n if n_given else None)
    ex = get_extractor(name, None, shape=tuple(fake.shape[1:]), device=args.device)
    notes = []
    ident = str(st.get("extractor_identity") or "") or None
    if ident is not None and ident != ex.identity():
        raise UserError(f"--real {args.real} was computed with features {ident} but these are {ex.identity()} "
                        "(other weights or sample shape); recompute the statistics")
    if ident is None:
        notes.append(f"{args.real} does not record its features: the FID is comparable only if they were {ex.name} "
                     "features of the same weights (pytorch-fid's files hold Inception pool3 features)")
    feats = ex.features(fake, "fake").double().cpu()
    if feats.shape[1] != st["mu"].shape[0]:
        raise UserError(f"--real {args.real} holds {st['mu'].shape[0]}-dimensional statistics but {ex.name} features "
                        f"have {feats.shape[1]} dimensions")
    mu, sigma = gaussian_stats(feats)
    fid = frechet_distance(st["mu"], st["sigma"], mu, sigma)
    return {"real": args.real, "fake": args.fake, "stats_only": True, "extractor": ex.name,
            "weights_hash": ex.weights_hash, "n_real": st.get("n"), "n_fake": fake.shape[0], "metrics": {"fid": fid},
            "notes": notes}


def print_stats_only(out: dict[str, Any]) -> None:
    if "fake" not in out:
        print(f"wrote {out['saved_stats']}: mu and sigma of {out['n_real']} real samples' {out['extractor']} features "
              f"({out['dimensions']} dimensions)")
        return
    print(f"real: {out['real']} (statistics of {out.get('n_real') or '?'} samples)   fake: {out['fake']}")
    print(f"features: {out['extractor']}   n_fake={out['n_fake']}")
    print(f"FID {out['metrics']['fid']:.6g} (statistics only: no ceiling, KID, PRDC or verdicts)")
    for note in out["notes"]:
        print(f"note: {note}")
