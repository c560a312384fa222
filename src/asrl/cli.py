"""The ``asrl`` command line; each subcommand is a thin layer over a library function."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from .demo import format_table, run_demo

    results = run_demo(n=args.n, contamination=args.contamination, seed=args.seed)
    print(
        f"Linear regression, n={args.n} training rows, {args.contamination:.0%} of "
        f"training labels replaced by gross outliers, clean test set (seed {args.seed})."
    )
    print(format_table(results))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``asrl``."""
    parser = argparse.ArgumentParser(
        prog="asrl", description="ASRL, the Adaptive Segmented Robust Loss."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="fit a linear model with every loss on contaminated data (numpy only)"
    )
    demo.add_argument("--n", type=int, default=400, help="training rows (default: 400)")
    demo.add_argument(
        "--contamination",
        type=float,
        default=0.2,
        help="share of training labels made gross outliers (default: 0.2)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``)."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
