"""``ganbench zoo``: run the collapse zoo (known-answer fake sets) and print confusion tables per feature path."""

from __future__ import annotations

import argparse
from typing import Any

from gans.base import UserError

__all__ = ["add_commands", "cmd_zoo"]

PATHS = ("labelled", "unlabelled", "2d-mixture", "2d-found")


class _OneSeed(argparse.Action):
    """``--seed N``: the same as ``--seeds N``."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        setattr(namespace, self.dest, [values])


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "zoo",
        help="score known-answer fake sets (the collapse zoo) and print expected-vs-given verdict tables",
        description="Build fake sets whose collapse and quality verdicts are known (held-out real, k of 10 classes, "
        "repeated images, blur, noise, mixtures with missing/wide/dominant modes) and score them on every feature "
        "path. The expected verdicts are documented in diagnostics/zoo.py. Exit codes: 0 ok (every path ≥ 95 % "
        "agreement and every unambiguous case right), 1 below those floors, 2 bad input.",
    )
    p.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated subset of {', '.join(PATHS)}")
    p.add_argument(
        "--data", default="digits",
        help="labelled image data set for the image paths: digits (default), glyphs, fashion-mnist, mnist; the "
        "unlabelled path never reads its labels except to build the class cases",
    )
    p.add_argument("--data-root", metavar="PATH", help="where --data lives (mnist, fashion-mnist)")
    p.add_argument(
        "--n", type=int, default=120,
        help="fake samples per case (default 120); image paths compare at most the test split and a sixth of the "
        "pool the fakes are built from (digits: 119)",
    )
    p.add_argument(
        "--n-ref", type=int, default=700,
        help="real reference samples (default 700); at most half the train split, the rest builds the fakes",
    )
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[0], metavar="SEED",
        help="seeds of the case draws, each scored in turn (default 0); the tables count every seed's cases",
    )
    p.add_argument("--seed", type=int, dest="seeds", action=_OneSeed, metavar="SEED", help="the same as --seeds SEED")
    p.set_defaults(func=cmd_zoo)


def cmd_zoo(args: argparse.Namespace) -> int:
    paths = [s.strip() for s in args.paths.split(",") if s.strip()]
    bad = [s for s in paths if s not in PATHS]
    if bad or not paths:
        raise UserError(f"unknown zoo path(s) {', '.join(bad) or '(none)'}; valid: {', '.join(PATHS)}")
    if args.n < 20 or args.n_ref < 40:
        raise UserError(f"--n must be ≥ 20 and --n-ref ≥ 40, got {args.n} and {args.n_ref}")
    from diagnostics.zoo import agreement, confusion, run_path

    data = None
    if any(p in ("labelled", "unlabelled") for p in paths):
        from gans.data import DataOptions, load_data

        data = load_data(args.data, (1, 28, 28), options=DataOptions(root=args.data_root, seed=0))
        if not data.num_classes:
            raise UserError(f"{args.data} has no labels; the image paths need a labelled data set")
    ok = True
    for path in paths:
        rows = []
        for seed in args.seeds:
            if path in ("labelled", "unlabelled"):
                rows += run_path(path, data=data, n=args.n, n_ref=args.n_ref, seed=seed, progress=print)
            else:
                for mixture in ("ring8", "grid25"):
                    rows += run_path(path, mixture=mixture, n=args.n, n_ref=args.n_ref, seed=seed, progress=print)
        overall, unamb = agreement(rows)
        print(f"\n== {path}: {overall:.0%} agreement, {unamb:.0%} on the unambiguous cases ==")
        print("collapse:\n" + confusion(rows, "collapse"))
        print("quality:\n" + confusion(rows, "quality") + "\n")
        ok &= overall >= 0.95 and unamb == 1.0
    return 0 if ok else 1
