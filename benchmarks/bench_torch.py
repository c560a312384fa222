"""Forward and backward of ``asrl.torch.ASRLLoss`` as a ratio to ``torch.nn.HuberLoss``.

Both are timed in the same process on the same CPU float32 tensors, interleaved
(A B A B ...), and the figure is the median of the pairwise time ratios, so machine
noise hits both sides alike. One call is a training step's share of the loss: the
forward pass with reduction "mean" and the backward pass into a fresh ``.grad``.

Cases, each against HuberLoss:

- ``ASRLLoss()``: the default module (thresholds from the fixed subsample of 65536
  residuals above that size, the fused CPU kernels: the loss in one pass forward,
  the gradient in one pass backward);
- ``threshold_sample=16384``: the same with a 4 times smaller subsample;
- ``thresholds only``: :func:`asrl.torch.asrl_statistics`, the part Huber lacks;
- ``masked, 1% NaN targets``: both losses with ``reduction="none"`` on targets of
  which 1 % are NaN (missing labels), masked by ``torch.where`` and averaged over
  the rest: the cost of skipping non-finite residuals;
- ``unfused (FUSED=False)``: the same formulas run eagerly, one operation at a time
  (what runs where compiling is impossible);
- ``autograd through rho``: the same thresholds, but autograd differentiating
  ``core.formulas.continuous_rho`` instead of the closed-form gradient (the design
  not taken);
- with ``--compile``, ``torch.compile`` of both losses (ratio of the compiled ones).

Run: ``python benchmarks/bench_torch.py [--sizes 1e6 1e7] [--repeats 15] [--threads N]
[--compile] [--cases NAME ...]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch

import asrl.torch
from asrl.core import formulas
from asrl.torch import ASRLLoss, asrl_statistics
from bench_core import interleaved_ratio  # same timing protocol, one copy


def step(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> Callable[[], object]:
    """One forward and backward of ``loss_fn``, into a fresh gradient."""

    def run() -> None:
        x.grad = None
        torch.autograd.backward(loss_fn(x, y))

    return run


def autograd_rho(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ASRL's mean with autograd through the branchless formula (for comparison)."""
    d1, d2 = asrl_statistics(x.detach(), y).deltas
    rho: torch.Tensor = formulas.continuous_rho((x - y).abs(), d1, d2, xp=torch)
    return rho.mean()


def unfused(run: Callable[[], object]) -> Callable[[], object]:
    """``run`` with :data:`asrl.torch.FUSED` off."""

    def call() -> None:
        asrl.torch.FUSED = False
        try:
            run()
        finally:
            asrl.torch.FUSED = True

    return call


def masked(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], mask: torch.Tensor
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The mean of an elementwise loss over ``mask`` (the targets that are not NaN)."""
    count = int(mask.sum())

    def call(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.where(mask, loss_fn(x, y), 0.0).sum() / count

    return call


def cases(
    x: torch.Tensor, y: torch.Tensor, compile_: bool
) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """Name -> (candidate, baseline)."""
    huber = torch.nn.HuberLoss()
    asrl = ASRLLoss()
    y_nan = y.clone()
    y_nan[::100] = torch.nan
    mask = ~torch.isnan(y_nan)
    huber_none = masked(torch.nn.HuberLoss(reduction="none"), mask)
    asrl_none = masked(ASRLLoss(reduction="none"), mask)
    out: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "ASRLLoss()": (step(asrl, x, y), step(huber, x, y)),
        "threshold_sample=16384": (step(ASRLLoss(threshold_sample=16384), x, y), step(huber, x, y)),
        "thresholds only": (lambda: asrl_statistics(x.detach(), y), step(huber, x, y)),
        "masked, 1% NaN targets": (step(asrl_none, x, y_nan), step(huber_none, x, y_nan)),
        "unfused (FUSED=False)": (unfused(step(asrl, x, y)), step(huber, x, y)),
        "autograd through rho": (step(autograd_rho, x, y), step(huber, x, y)),
    }
    if compile_:
        out["compiled, both"] = (
            step(torch.compile(asrl), x, y),
            step(torch.compile(torch.nn.HuberLoss()), x, y),
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--inner", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--cases", nargs="+", default=None, help="only these cases (names)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); CPU float32; "
        f"median of {args.repeats} interleaved ratios (best of {args.inner} each)"
    )
    print(f"{'n':>10}  {'case':<24} {'ms':>9} {'Huber ms':>9} {'ratio':>7}")
    rng = np.random.default_rng(0)
    for size in args.sizes:
        n = int(size)
        y_np = rng.standard_normal(n).astype(np.float32)
        x = torch.from_numpy(y_np + rng.standard_t(3, n).astype(np.float32)).requires_grad_(True)
        y = torch.from_numpy(y_np)
        for name, (candidate, baseline) in cases(x, y, args.compile).items():
            if args.cases is not None and name not in args.cases:
                continue
            candidate()  # warm up (and compile)
            baseline()
            ratio, t_c, t_b = interleaved_ratio(candidate, baseline, args.repeats, args.inner)
            print(f"{n:>10}  {name:<24} {t_c * 1e3:9.2f} {t_b * 1e3:9.2f} {ratio:7.2f}")


if __name__ == "__main__":
    main()
