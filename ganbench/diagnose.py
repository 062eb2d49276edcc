"""``ganbench diagnose``: score any two sample sets (a thin shell over diagnostics.evaluate).

The sample sets (image folders, ``.npy``/``.npz``/``.pt`` files, run folders, data-set names), their random
seeded draws and the checks that stop bad input early are :mod:`ganbench.samples`; real-data statistics in
pytorch-fid's ``.npz`` layout (``--save-stats``, ``--real FILE.npz``) are :mod:`ganbench.fid_stats`. This module
parses the flags, loads both sets, calls :func:`diagnostics.evaluate.evaluate_samples` and prints the table (each
metric by the metric registry, :mod:`diagnostics.metric_registry`) or JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diagnostics import metric_registry as registry
from gans.base import UserError

from .fid_stats import against_stats, is_stats_file, print_stats_only, save_real_stats, write_stats
from .samples import DEFAULT_N, _peek_shape, dataset_names, load_samples
from .samples import _load_array_file as _load_array_file  # noqa: F401  (tests and callers import these here)
from .samples import _load_image_folder as _load_image_folder  # noqa: F401
from .samples import _to_float_samples as _to_float_samples  # noqa: F401

if TYPE_CHECKING:  # torch and numpy are imported when a command runs, so that --help stays fast
    import torch

__all__ = ["add_commands", "load_samples", "cmd_diagnose", "diagnose_output"]


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "diagnose",
        help="score two sample sets: FID, coverage, PRDC, NDB, modes, collapse verdict",
        description="Compare fake samples with real ones (every applicable metric, next to the real ceiling: held-out "
        "real data "
        "scored the same way) and give the collapse verdict. Exit codes: 0 ok, 2 bad input.",
        epilog="examples: ganbench diagnose --real digits --fake runs/mnist_mlp-…   |   ganbench diagnose --real "
        "real.npy --fake fake.npy --json",
    )
    p.add_argument(
        "--real",
        metavar="PATH|DATASET",
        help="real samples: image folder, .npy/.npz/.pt, or a data-set name (e.g. digits, fashion-mnist, ring8)",
    )
    p.add_argument(
        "--fake",
        metavar="PATH|RUN_DIR",
        help="fake samples: image folder, .npy/.npz/.pt, or a run directory (samples its last checkpoint)",
    )
    p.add_argument(
        "--features",
        default="auto",
        help="feature extractor: auto (classifier for a labelled data set; else inception when its weights are on "
        "disk; else contrastive for images, raw for vectors), classifier, contrastive, inception, random-conv, raw "
        "(default auto)",
    )
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help=f"samples per set, drawn at random (seeded) from larger files and folders (default {DEFAULT_N}, fewer "
        "when a set is smaller; a --n you give above what the fake set holds is an error)",
    )
    p.add_argument(
        "--mixture", choices=["ring8", "grid25"], help="score 2-D points as this Gaussian mixture (modes, high quality)"
    )
    p.add_argument(
        "--gan",
        metavar="PATH.py:CLASS",
        help="the family of a --fake run directory trained from your own GAN (PATH.py:CLASS or MODULE:CLASS): "
        "ganbench never imports code named in a run folder, so name it here (installed families need nothing)",
    )
    p.add_argument("--data-root", metavar="PATH", help="where --real's data set lives (mnist, fashion-mnist)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed for sampling a run's generator and splitting --real files (default 0)"
    )
    p.add_argument(
        "--value-range",
        choices=["auto", "0,1", "0,255", "-1,1"],
        default="auto",
        help="value range of image files (default auto: only when unambiguous, else exit 2 naming the range seen)",
    )
    p.add_argument(
        "--save-stats",
        metavar="FILE.npz",
        help="write the real reference features' mu and sigma (pytorch-fid's .npz layout, plus keys extractor, "
        "extractor_identity, weights_hash, n) to FILE.npz; without --fake, of the --n real samples read. "
        "--real FILE.npz with mu and sigma reads such a file (FID only, the extractor checked where recorded)",
    )
    p.add_argument("--device", default="cpu", help="device for sampling and features (default cpu)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the inputs (or, without them, run on small built-in arrays) and print the plan",
    )
    p.set_defaults(func=cmd_diagnose)


# --------------------------------------------------------------------------------------------
# The command


def _print_table(out: dict[str, Any]) -> None:
    print(f"real: {out['real']}   fake: {out['fake']}")
    print(
        f"features: {out['extractor']} (weights "
        f"{str(out['weights_hash'])[:12] if out['weights_hash'] else '–'})   n_real={out['n_real']}  "
        f"n_test={out['n_test']}  n_fake={out['n_fake']}"
    )
    for role, sm in (out.get("sampling") or {}).items():
        if sm and sm.get("how") == "random":
            print(f"{role}: {sm['drawn']} of {sm['total']} drawn at random (seed {sm['seed']})")
    print()
    iv = out.get("intervals") or {}

    def with_iv(v: Any, which: str, k: str) -> str:  # each value as the metric registry renders it
        i = (iv.get(which) or {}).get(k)
        return f"{registry.render(k, v)} [{registry.render(k, i[0])}, {registry.render(k, i[1])}]" if i else (
            registry.render(k, v)
        )

    print(f"  {'metric':<16}{'fake':>32}{'real ceiling':>32}")
    print(f"  {'-' * 16}{'-' * 30:>32}{'-' * 30:>32}")
    for k, v in out["metrics"].items():
        print(f"  {k:<16}{with_iv(v, 'fake', k):>32}{with_iv(out['ceiling'].get(k), 'ceiling', k):>32}")
    print("  (intervals: 90 % bootstrap; the ceiling is held-out real data at the fake set's size)")
    for note in out.get("notes") or []:
        print(f"note: {note}")
    print()
    print(f"collapse verdict: {out['verdict']['collapse']} — {out['verdict']['sentence']}")
    if out.get("quality"):
        print(f"quality verdict: {out['quality']['verdict']} — {out['quality']['sentence']}")
    if out.get("memorisation"):
        print(f"memorisation verdict: {out['memorisation']['verdict']} — {out['memorisation']['sentence']}")
    if out.get("equilibrium"):
        eq = out["equilibrium"]
        print(f"equilibrium verdict (training run): {eq['verdict']} — {eq['sentence']}")


def _dry_arrays(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    from gans.data import mixture_centers

    centers, std = mixture_centers("ring8")
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(8, (600,), generator=g)
    real = centers[k] + std * torch.randn(600, 2, generator=g)
    kf = torch.randint(2, (300,), generator=g)  # a generator that found 2 of the 8 modes
    fake = centers[kf] + std * torch.randn(300, 2, generator=g)
    return real[:300], real[300:], fake


def cmd_diagnose(args: argparse.Namespace) -> int:
    out = diagnose_output(args)
    if out is not None:
        _emit(out, args)
    return 0


def diagnose_output(args: argparse.Namespace) -> dict[str, Any] | None:
    """What ``ganbench diagnose`` prints, as a dict (None for a dry run's plan, which it prints itself): the
    one path from the parsed arguments to metrics and verdicts, shared by the command and ``ganbench.evaluate``."""
    import torch

    from diagnostics.evaluate import evaluate_samples
    from diagnostics.features import get_extractor, resolve_extractor_name

    if args.n is not None and args.n <= 0:
        raise UserError(f"--n must be a positive integer, got {args.n}")
    n_given = args.n is not None
    args.n = args.n if n_given else DEFAULT_N
    if args.dry_run and args.real is None and args.fake is None:
        tr, te, fk = _dry_arrays(args.seed)
        res = evaluate_samples(
            tr, te, fk, extractor="raw", data_kind="vector", mixture="ring8", cache=False, seed=args.seed
        )
        out = {
            "real": "built-in ring8 (dry run)",
            "fake": "built-in 2-mode ring8 (dry run)",
            "dry_run": True,
            **_result_dict(res),
        }
        return out
    save = getattr(args, "save_stats", None)
    if save is not None and not str(save).endswith(".npz"):
        raise UserError(f"--save-stats {save}: the file name must end in .npz (pytorch-fid's layout)")
    if args.real is not None and is_stats_file(Path(args.real)):
        if args.fake is None:
            raise UserError(f"--real {args.real} holds statistics: give --fake samples to score against them")
        return against_stats(args, n_given)
    if args.real is not None and args.fake is None and save is not None:
        return save_real_stats(args)
    if args.real is None or args.fake is None:
        raise UserError("diagnose needs --real and --fake (or --dry-run alone to check the install)")

    vr = getattr(args, "value_range", "auto")
    fake, fake_info = load_samples(
        args.fake, n=args.n, role="fake", seed=args.seed, device=args.device, value_range=vr,
        require=args.n if n_given else None,
    )
    data = None
    sampling: dict[str, Any] = {"fake": fake_info.get("sampling"), "real": None}
    real_is_dataset = not Path(args.real).exists() and args.real in dataset_names()
    peek = None if real_is_dataset or not Path(args.real).exists() else _peek_shape(Path(args.real))
    if peek is not None and peek != tuple(fake.shape[1:]):
        raise UserError(_mismatch(torch.empty((0, *peek)), fake))
    if real_is_dataset:
        from gans.data import DataOptions, load_data

        data = load_data(args.real, tuple(fake.shape[1:]), options=DataOptions(root=args.data_root, seed=0))
        n_tr = min(args.n, data.n_train) if data.finite else args.n
        n_te = min(args.n, int(data.info.get("n_test", 0))) if data.finite else args.n
        if n_te == 0:
            raise UserError(f"{data.name} has no held-out test split; pass real samples as a file instead")
        real_train = data.real(n_tr, "train", seed=0)[0]
        real_test = data.real(n_te, "test", seed=0)[0]
        real_desc = f"{data.name} (train {n_tr}, test {n_te})"
    else:
        if not Path(args.real).exists():
            raise UserError(
                f"--real {args.real}: no such file or folder, and not a data-set name (valid: "
                f"{', '.join(dataset_names())})"
            )
        real, real_info = load_samples(
            args.real, n=2 * args.n, role="real", seed=args.seed, value_range=vr, require=args.n if n_given else None
        )
        sampling["real"] = real_info.get("sampling")
        if tuple(real.shape[1:]) != tuple(fake.shape[1:]):
            raise UserError(_mismatch(real, fake))
        perm = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(args.seed))
        half = real.shape[0] // 2
        real_train, real_test = real[perm[:half]], real[perm[half:]]
        real_desc = f"{args.real} ({real.shape[0]} samples split {half}/{real.shape[0] - half})"
        if fake_info.get("dataset"):  # a run's data set gives the classifier its labels
            try:
                from gans.data import DataOptions, load_data

                data = load_data(
                    fake_info["dataset"], tuple(fake.shape[1:]), options=DataOptions(root=fake_info.get("data_root"))
                )
            except UserError:
                data = None
    if tuple(real_train.shape[1:]) != tuple(fake.shape[1:]):
        raise UserError(_mismatch(real_train, fake))
    mixture = args.mixture or (data.name if data is not None and data.name in ("ring8", "grid25") else None)
    kind = "vector" if fake.ndim == 2 else "image"
    ex_name = resolve_extractor_name(args.features, data, shape=tuple(fake.shape[1:]))
    if args.dry_run:
        from diagnostics.evaluate import _check_counts

        _check_counts(real_train.shape[0], real_test.shape[0], fake.shape[0])
        plan = {
            "dry_run": True,
            "real": real_desc,
            "fake": args.fake,
            "shape": list(fake.shape[1:]),
            "n_real": real_train.shape[0],
            "n_test": real_test.shape[0],
            "n_fake": fake.shape[0],
            "extractor": ex_name,
            "mixture": mixture,
            "sampling": sampling,
        }
        print(
            json.dumps(plan, indent=2)
            if args.json
            else f"dry run: would score {plan['n_fake']} fake vs {plan['n_real']} real (+{plan['n_test']} "
            f"held-out) samples of shape {tuple(plan['shape'])} with {ex_name} features"
            + (f" and {mixture} modes" if mixture else "")
        )
        return None
    ex = get_extractor(ex_name, data, shape=tuple(fake.shape[1:]), device=args.device, real=real_train)
    res = evaluate_samples(
        real_train, real_test, fake, extractor=ex, data_kind=kind, mixture=mixture, data=data, seed=args.seed
    )
    out = {"real": real_desc, "fake": args.fake, "sampling": sampling, **_result_dict(res)}
    if save is not None:
        st = res.details["reference_stats"]
        write_stats(Path(save), st["mu"], st["sigma"], ex, st["n"])
        out["saved_stats"] = str(save)
    if fake_info.get("source") == "run":
        from diagnostics.verdicts import read_verdicts

        eq = read_verdicts(fake_info["run"]).get("equilibrium")
        if eq:
            out["equilibrium"] = eq
    return out


def _mismatch(real: torch.Tensor, fake: torch.Tensor) -> str:
    rs, fs = tuple(real.shape[1:]), tuple(fake.shape[1:])
    if len(rs) == 3 and len(fs) == 3 and rs[0] != fs[0]:
        return (
            f"real images have {rs[0]} channel(s) but fake images have {fs[0]} (shapes {rs} vs {fs}); convert one set"
        )
    return f"real samples have shape {rs} but fake samples have {fs}; both sets must have the same per-sample shape"


def _result_dict(res: Any) -> dict[str, Any]:
    return {
        "extractor": res.extractor,
        "weights_hash": res.weights_hash,
        "n_real": res.n_real,
        "n_test": res.n_test,
        "n_fake": res.n_fake,
        "metrics": res.metrics,
        "ceiling": res.ceiling,
        "n_compared": res.n_compared,
        "verdict": {"collapse": res.verdict.verdict, "sentence": res.verdict.sentence, "scores": res.verdict.scores},
        "quality": {"verdict": res.quality.verdict, "sentence": res.quality.sentence, "scores": res.quality.scores}
        if res.quality
        else None,
        "memorisation": res.memorisation.to_dict() if res.memorisation else None,
        "intervals": res.intervals,
        "notes": list(res.notes),
        "eval_s": round(res.eval_s, 3),
    }


def _emit(out: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    elif out.get("stats_only"):
        print_stats_only(out)
    else:
        _print_table(out)
