"""``ganbench sweep --world-sizes …``: the scaling benchmark's command-line side."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from gans.base import UserError

__all__ = ["run_scaling_command"]


def run_scaling_command(
    args: argparse.Namespace, gans: list[str], devices: list[str], overrides: dict[str, dict[str, Any]]
) -> int:
    from bench.scaling import check_world_sizes, format_scaling, run_scaling

    sizes = check_world_sizes(args.world_sizes, args.batch_sizes)
    if len(devices) != 1:
        raise UserError("--world-sizes takes one device type: --devices cpu or --devices cuda (one GPU per rank)")
    device = devices[0].split(":")[0]
    if args.dry_run:
        for g in gans:
            for b in args.batch_sizes:
                for n in sizes:
                    print(f"  to do  {g}|bs{b}|{device}|world{n}  ({b // n} per rank)")
        print("dry run: nothing was measured or written")
        return 0
    if not args.out:
        raise UserError("sweep --world-sizes needs --out DIR (scaling.jsonl goes there)")
    rows = run_scaling(
        gans,
        args.batch_sizes,
        sizes,
        args.out,
        steps=args.steps,
        warmup=args.warmup,
        device=device,
        overrides=overrides,
        timeout_s=args.cell_timeout or 600,
        log=(lambda s: print(s, file=sys.stderr)) if not args.quiet else (lambda s: None),
    )
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(format_scaling(rows))
        print(f"\nresults: {os.path.join(args.out, 'scaling.jsonl')}")
    return 0
