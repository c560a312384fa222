r"""ASRL for PyTorch: the :class:`~asrl.torch.ASRLLoss` module and :func:`~asrl.torch.asrl_loss`.

A thin adapter over :mod:`asrl.core`: the loss is ``core.formulas.continuous_rho`` (or
``stats_rho``) evaluated on tensors, its gradient is the closed form
``continuous_psi`` (or ``stats_psi``), and the residual statistics (thresholds and
"stats" scales) come from the loss's own rule (:meth:`asrl.ASRL.statistics_rule`),
run on the tensors' device without gradient by :func:`asrl.core.rules.run_xp`. This
module answers the rule's requests and nothing more: order statistics, the fixed
subsample, ``max |u|`` over all elements, and the all-gather under DDP. Any rule of
:data:`asrl.core.rules.THRESHOLD_RULES` therefore works here unchanged.

Design choices, measured with ``benchmarks/bench_torch.py`` (``docs/neural.md``):

- A custom :class:`torch.autograd.Function` returns the closed-form gradient;
  autograd through the branchless formula was 3 to 15 times slower at 1e6 to 1e7
  elements (faster only where per-call overhead dominates: 0.41 against 0.58 ms at
  1e3). Its backward is
  differentiable in turn (``create_graph=True`` gives the second derivative, except
  at exactly ``u = 0``, where autograd takes the derivative of ``|u|`` as 0).
- On the CPU, outside ``torch.compile``, the elementwise work runs in blocks of
  :data:`GRAIN` elements per torch thread, so temporaries stay in cache and no
  full-size scratch tensor is allocated; under ``torch.compile`` or on an
  accelerator it runs whole (fused by the compiler, or cheap to allocate).
- Above ``threshold_sample`` elements the statistics come from the numpy core's
  fixed pseudo-random subsample (:func:`asrl.core.quantiles.sample_positions`):
  deterministic, equal to ``asrl.ASRL(threshold_sample=...)``'s, and each quantile
  an exact quantile of all residuals at a level within 0.0105 of the requested one
  with probability at least 1 - 1e-6 for the default 65536. The order statistics
  (:func:`order_statistics`) come from the numpy core's partitions on the CPU (about
  3 times faster than :func:`torch.kthvalue` there) and from
  :func:`kthvalue_order_statistics` on other devices. The rules are generators,
  which dynamo cannot trace: under ``torch.compile`` the statistics run eagerly (one
  graph break) and the elementwise loss is compiled.
  There is no limit on the number of elements (:func:`torch.quantile` refuses more
  than 2**24).

``import asrl`` never imports torch; importing this module without torch raises an
:class:`ImportError` that names the extra to install (``pip install "asrl[torch]"``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from ._optional import missing

try:
    import torch
except ModuleNotFoundError as error:
    raise missing("PyTorch", "torch") from error
from torch import Tensor, nn

from ._validation import check_choice, check_interval
from .core import formulas, quantiles
from .core.rules import ASRLStatistics, Scalars, run_xp
from .losses import ASRL
from .params import NEWTON_ONLY, ASRLParams, autograd_params, with_autograd_params

__all__ = [
    "GRAIN",
    "NEWTON_ONLY",
    "REDUCTIONS",
    "ASRLLoss",
    "asrl_loss",
    "asrl_statistics",
    "block_size",
    "kthvalue_order_statistics",
    "order_statistics",
]

REDUCTIONS = ("mean", "sum", "none")
#: Elements per torch thread in a block of eager CPU evaluation (256 KiB of float32:
#: measured fastest among 2**15 to 2**18 at 1e6 and 1e7 elements, 1 and 2 threads).
GRAIN = 1 << 16
Function = TypeVar("Function", bound=Callable[..., Any])


def block_size() -> int:
    """Elements per block in eager CPU evaluation: :data:`GRAIN` per torch thread.

    Torch splits an operation into tasks of at least 32768 elements, so every
    operation on a block runs on all threads, each on a slice that stays in cache.
    """
    return GRAIN * torch.get_num_threads()


# --------------------------------------------------------------------------------------
# Input checks and dtypes
# --------------------------------------------------------------------------------------


def _check_pair(input: Tensor, target: Tensor) -> torch.dtype:
    """Check shapes and dtypes; return the dtype the loss is computed in.

    Half-precision types (float16, bfloat16) are computed in float32, integer types
    in the default dtype; otherwise the promoted dtype of ``input`` and ``target``.
    """
    for name, value in (("input", input), ("target", target)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}.")
    if input.shape != target.shape:
        raise ValueError(
            "input and target must have the same shape (no broadcasting); got "
            f"{tuple(input.shape)} and {tuple(target.shape)}."
        )
    if input.numel() == 0:
        raise ValueError("input and target are empty; at least one element is needed.")
    dtype = torch.promote_types(input.dtype, target.dtype)
    if dtype.is_complex:
        raise TypeError(f"input and target must be real; got dtype {dtype}.")
    if not dtype.is_floating_point:
        return torch.get_default_dtype()
    return torch.float32 if torch.finfo(dtype).bits < 32 else dtype


def _blocks(n: int, device: torch.device) -> list[tuple[int, int]]:
    """Slices of the flat tensors evaluated one at a time (one slice unless eager CPU)."""
    if device.type != "cpu" or torch.compiler.is_compiling():
        return [(0, n)]
    size = block_size()
    if n <= size:
        return [(0, n)]
    return [(start, min(start + size, n)) for start in range(0, n, size)]


# --------------------------------------------------------------------------------------
# Residual statistics: the loss's rule, answered with tensors
# --------------------------------------------------------------------------------------


def order_statistics(x: Tensor, ranks: Sequence[int]) -> dict[int, Tensor]:
    """Values of the given 0-based ``ranks`` (ascending) in sorted flat ``x``, as 0-d tensors.

    On the CPU outside ``torch.compile``, the numpy core's partitions
    (:func:`asrl.core.quantiles.order_statistics`, about 3 times faster than
    :func:`torch.kthvalue` there); elsewhere :func:`kthvalue_order_statistics`.

    Examples
    --------
    >>> import torch
    >>> order_statistics(torch.tensor([3.0, 1.0, 2.0]), [0, 2])
    {0: tensor(1.), 2: tensor(3.)}
    """
    if x.device.type == "cpu" and not torch.compiler.is_compiling():
        found = quantiles.order_statistics(x.numpy(), ranks)
        return {rank: torch.from_numpy(np.asarray(found[rank])) for rank in ranks}
    return kthvalue_order_statistics(x, ranks)


def kthvalue_order_statistics(x: Tensor, ranks: Sequence[int]) -> dict[int, Tensor]:
    """:func:`order_statistics` with torch operations only (any device, traceable).

    One :func:`torch.kthvalue` per rank, except the minimum, the maximum and a rank
    right after the previous one (type-7 quantiles need pairs ``k, k + 1``): that is
    the previous value if it occurs often enough, else the smallest value above it.
    """
    n = x.shape[0]
    values: dict[int, Tensor] = {}
    previous = -2
    for rank in ranks:
        if rank == n - 1:
            values[rank] = x.max()
        elif rank == 0:
            values[rank] = x.min()
        elif rank == previous + 1:
            last = values[previous]
            repeated = (x <= last).sum() > rank
            values[rank] = torch.where(repeated, last, torch.where(x > last, x, torch.inf).min())
        else:
            values[rank] = torch.kthvalue(x, rank + 1).values
        previous = rank
    return values


@torch.compiler.disable  # type: ignore[untyped-decorator]  # run numpy as numpy
@functools.lru_cache(maxsize=16)
def _sample_positions(n: int, size: int, device: torch.device) -> Tensor:
    """The numpy core's subsample positions (:func:`asrl.core.quantiles.sample_positions`)
    as a tensor on ``device``."""
    return torch.tensor(quantiles.sample_positions(n, size), dtype=torch.long, device=device)


def _residuals(xf: Tensor, yf: Tensor, size: int | None, dtype: torch.dtype) -> Tensor:
    """``input - target`` (flat, in ``dtype``), or its subsample above ``size`` elements."""
    if size is not None and xf.shape[0] > size:
        positions = _sample_positions(xf.shape[0], size, xf.device)
        xf, yf = xf.index_select(0, positions), yf.index_select(0, positions)
    return xf.to(dtype) - yf.to(dtype)


def _largest(xf: Tensor, yf: Tensor, dtype: torch.dtype) -> Tensor:
    """``max |input - target|`` over all elements, block by block on the CPU."""
    maxima = [
        (xf[start:stop].to(dtype) - yf[start:stop].to(dtype)).abs().max()
        for start, stop in _blocks(xf.shape[0], xf.device)
    ]
    return maxima[0] if len(maxima) == 1 else torch.stack(maxima).max()


def _gather(u: Tensor, group: Any) -> Tensor:
    """All ranks' residual samples, concatenated in rank order (same on every rank).

    Samples may differ in size: sizes are exchanged first, each sample is padded to
    the largest, and the padding is dropped after the ``all_gather``.
    """
    import torch.distributed as dist

    world = dist.get_world_size(group)
    size = torch.tensor([u.shape[0]], dtype=torch.long, device=u.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size, group=group)
    counts = [int(s.item()) for s in sizes]
    padded = torch.zeros(max(counts), dtype=u.dtype, device=u.device)
    padded[: u.shape[0]] = u
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded, group=group)
    return torch.cat([part[:count] for part, count in zip(parts, counts, strict=True)])


def _global_max(value: Tensor, group: Any) -> Tensor:
    import torch.distributed as dist

    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.MAX, group=group)
    return value


def _times_in_float64(c: float, sigma: Tensor) -> Tensor:
    """``c * sigma`` rounded once to sigma's dtype, as the numpy driver does."""
    if sigma.dtype == torch.float64 or sigma.device.type == "mps":  # MPS has no float64
        return c * sigma
    return (c * sigma.double()).to(sigma.dtype)


# The rules are generators, which dynamo cannot trace (torch 2.13: "Unreachable
# sub-generator code"); under torch.compile they run eagerly, as one graph break.
@torch.compiler.disable  # type: ignore[untyped-decorator]
def _statistics(
    input: Tensor, target: Tensor, loss: ASRL, dtype: torch.dtype, group: Any = None
) -> ASRLStatistics:
    """The loss's rule run on these residuals (with a ``group``, on all ranks'), without
    gradient: an :class:`~asrl.core.rules.ASRLStatistics` of 0-d tensors in ``dtype``.

    The rule sees the subsample above ``threshold_sample`` elements, and ``max |u|``
    over all elements when it asks for it. Under a process group, that maximum is an
    ``all_reduce`` on every rank (whether or not it subsamples), so every rank makes
    the same collective calls.
    """
    with torch.no_grad():
        xf, yf = input.detach().reshape(-1), target.detach().reshape(-1)
        mine = _residuals(xf, yf, loss.sample_size, dtype)
        sampled = mine.shape[0] != xf.shape[0]
        u = mine if group is None else _gather(mine, group)

        def largest() -> Tensor:
            value = _largest(xf, yf, dtype) if sampled else mine.abs().max()
            return value if group is None else _global_max(value, group)

        ops = Scalars(torch, torch.finfo(dtype), _times_in_float64)
        full = largest if sampled or group is not None else None
        statistics: ASRLStatistics = run_xp(loss.statistics_rule, u, ops, order_statistics, full)
    return statistics


def _values(
    input: Tensor,
    target: Tensor,
    loss: ASRL,
    dtype: torch.dtype,
    statistics: ASRLStatistics | None,
    group: Any,
) -> tuple[Tensor, ...]:
    """``(d1, d2)``, plus ``(s_var, s_iqr, s_mad)`` for the "stats" weights: the given
    ``statistics`` (Python numbers or 0-d tensors, without gradient) or this batch's."""
    if statistics is None:
        statistics = _statistics(input, target, loss, dtype, group)
    else:
        loss.check_statistics(statistics)
    values = statistics.flat()
    return tuple(torch.as_tensor(v, dtype=dtype, device=input.device).detach() for v in values)


# --------------------------------------------------------------------------------------
# The autograd function: rho forward, closed-form psi backward
# --------------------------------------------------------------------------------------


def _rho(abs_u: Tensor, weights: str, stats: Sequence[Tensor]) -> Tensor:
    if weights == "continuous":
        d1, d2 = stats
        rho: Tensor = formulas.continuous_rho(abs_u, d1, d2, xp=torch)
    else:
        d1, d2, s_var, s_iqr, s_mad = stats
        rho = formulas.stats_rho(abs_u, d1, d2, s_var, s_iqr, s_mad, xp=torch)
    return rho


def _psi(u: Tensor, weights: str, stats: Sequence[Tensor]) -> Tensor:
    if weights == "continuous":
        d1, d2 = stats
        psi: Tensor = formulas.continuous_psi(u, u.abs(), d1, d2, xp=torch)
    else:
        d1, d2, s_var, s_iqr, s_mad = stats
        psi = formulas.stats_psi(u, u.abs(), d1, d2, s_var, s_iqr, s_mad, xp=torch)
    return psi


class _ASRLFunction(torch.autograd.Function):
    """``rho(input - target)`` reduced; backward ``psi(input - target)`` times the grad.

    ``stats`` are 0-d tensors in the compute dtype, treated as constants.
    """

    @staticmethod
    def forward(
        ctx: Any, input: Tensor, target: Tensor, reduction: str, weights: str, *stats: Tensor
    ) -> Tensor:
        ctx.save_for_backward(input, target, *stats)
        ctx.reduction, ctx.weights = reduction, weights
        dtype = stats[0].dtype
        xf, yf = input.reshape(-1), target.reshape(-1)
        n = xf.shape[0]
        blocks = _blocks(n, xf.device)
        if len(blocks) == 1:
            rho = _rho((xf.to(dtype) - yf.to(dtype)).abs(), weights, stats)
            if reduction == "none":
                return rho.view(input.shape)
            return rho.sum() / n if reduction == "mean" else rho.sum()
        out = torch.empty(n, dtype=dtype) if reduction == "none" else None
        total = torch.zeros((), dtype=torch.float64)
        for start, stop in blocks:
            rho = _rho((xf[start:stop].to(dtype) - yf[start:stop].to(dtype)).abs(), weights, stats)
            if out is None:
                total += rho.sum()  # block sums are exact enough; their total is float64
            else:
                out[start:stop] = rho
        if out is not None:
            return out.view(input.shape)
        return (total / n if reduction == "mean" else total).to(dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        input, target, *stats = ctx.saved_tensors
        need_input, need_target = ctx.needs_input_grad[:2]
        none = (None,) * (2 + len(stats))
        if not (need_input or need_target):
            return (None, None, *none)
        dtype = stats[0].dtype
        n = input.numel()
        scale = grad_output.reshape(-1) if ctx.reduction == "none" else grad_output
        if ctx.reduction == "mean":
            scale = scale / n
        xf, yf = input.reshape(-1), target.reshape(-1)
        blocks = _blocks(n, xf.device)
        if len(blocks) == 1 or torch.is_grad_enabled():  # one block, or double backward
            grad = _psi(xf.to(dtype) - yf.to(dtype), ctx.weights, stats) * scale
        else:
            grad = torch.empty(n, dtype=dtype)
            for start, stop in blocks:
                u = xf[start:stop].to(dtype) - yf[start:stop].to(dtype)
                part = scale if scale.dim() == 0 else scale[start:stop]
                torch.mul(_psi(u, ctx.weights, stats), part, out=grad[start:stop])
        grad = grad.view(input.shape)
        grad_input = grad.to(input.dtype) if need_input else None
        grad_target = (-grad).to(target.dtype) if need_target else None
        return (grad_input, grad_target, *none)


def _apply(
    input: Tensor, target: Tensor, reduction: str, weights: str, stats: Sequence[Tensor]
) -> Tensor:
    result: Tensor = _ASRLFunction.apply(  # type: ignore[no-untyped-call]
        input, target, reduction, weights, *stats
    )
    return result


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


@with_autograd_params
def asrl_loss(
    input: Tensor,
    target: Tensor,
    *,
    reduction: str = "mean",
    statistics: ASRLStatistics | None = None,
    process_group: Any = None,
    **params: Any,
) -> Tensor:
    r"""ASRL of ``input - target``, with thresholds from these residuals.

    With ``u = input - target`` and thresholds :math:`\delta_1 \le \delta_2` computed
    from the residuals (without gradient), the elementwise loss for the default
    ``weights="continuous"`` is

    .. math::

        \rho(u) = \begin{cases}
            u^2 / 2 & |u| \le \delta_1 \\
            \delta_1 |u| - \delta_1^2 / 2 & \delta_1 < |u| \le \delta_2 \\
            \delta_1 \delta_2 \ln(|u| / \delta_2) + \delta_1 \delta_2 - \delta_1^2 / 2
                & |u| > \delta_2
        \end{cases}

    and its gradient is :math:`u`, :math:`\delta_1 \operatorname{sign}(u)`,
    :math:`\delta_1 \delta_2 / u` (see ``docs/maths.md``).

    Parameters
    ----------
    input, target : Tensor of the same shape
        Predictions and targets; any shape (no broadcasting), CPU or CUDA, any real
        dtype. float16 and bfloat16 are computed in float32, and the loss is float32.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns the elementwise loss, in ``input``'s shape.
    statistics : asrl.core.rules.ASRLStatistics, optional
        Thresholds (and, for ``weights="stats"``, scales) to use instead of computing
        them, e.g. running ones. Fields may be Python numbers (validated when the
        value is made) or 0-d tensors (used as given, without gradient).
    process_group : torch.distributed ProcessGroup, optional
        Make the statistics global under data parallelism (DDP): every rank
        all-gathers the residual samples of all ranks (each at most
        ``threshold_sample`` elements, padded to equal size) and runs the rule on
        their union, so every rank uses the same thresholds. Exact when no rank has
        more than ``threshold_sample`` residuals; see ``docs/distributed.md`` for the
        bound otherwise. Pass ``torch.distributed.group.WORLD`` for all ranks. Every
        rank must call the loss (it is a collective).
    q_low, q_high, thresholds, c1, c2, weights, threshold_sample
        ASRL's parameters: see :class:`asrl.params.ASRLParams`, which defines,
        defaults and checks them for every adapter. Above ``threshold_sample``
        elements the statistics come from the numpy core's fixed subsample of that
        size; None: always exact (one :func:`torch.kthvalue` per order statistic
        off the CPU). ``hessian`` and ``min_hessian`` are for Newton learners and
        raise :class:`TypeError` here.

    Returns
    -------
    Tensor
        0-d for "mean" and "sum", else of ``input``'s shape; float32 for half-precision
        and integer inputs, otherwise the promoted dtype of ``input`` and ``target``.

    Notes
    -----
    Inputs are not checked for NaN or infinity: that would synchronise with the
    device at every step. A NaN residual makes the thresholds NaN, and so the loss
    NaN (every element of it with ``reduction="none"``).

    Examples
    --------
    >>> import torch
    >>> from asrl.torch import asrl_loss
    >>> pred = torch.tensor([0.1, -0.2, 0.4, 1.0, 50.0], requires_grad=True)
    >>> loss = asrl_loss(pred, torch.zeros(5), q_low=0.5, q_high=0.75, reduction="sum")
    >>> loss.backward()
    >>> pred.grad
    tensor([ 0.1000, -0.2000,  0.4000,  0.4000,  0.0080])
    """
    loss = ASRL(**autograd_params(params, "asrl.torch"))
    reduction = check_choice("reduction", reduction, REDUCTIONS)
    dtype = _check_pair(input, target)
    stats = _values(input, target, loss, dtype, statistics, process_group)
    return _apply(input, target, reduction, loss.params.weights, stats)


@with_autograd_params
def asrl_statistics(
    input: Tensor, target: Tensor, *, process_group: Any = None, **params: Any
) -> ASRLStatistics:
    """The statistics :func:`asrl_loss` computes for these tensors, as 0-d tensors.

    Equal bit for bit to ``asrl.ASRL(**params).statistics(target, input)`` computed
    with numpy in the same dtype (the "stats" standard deviation up to its summation
    order). Pass them back as ``asrl_loss(..., statistics=...)``.

    Examples
    --------
    >>> import torch
    >>> from asrl.torch import asrl_statistics
    >>> asrl_statistics(torch.arange(-5.0, 6.0), torch.zeros(11)).deltas
    (tensor(3.), tensor(5.))
    """
    loss = ASRL(**autograd_params(params, "asrl.torch"))
    statistics: ASRLStatistics = _statistics(
        input, target, loss, _check_pair(input, target), process_group
    )
    return statistics


class ASRLLoss(nn.Module):
    r"""ASRL as a :class:`torch.nn.Module`, optionally with running thresholds.

    Computes :func:`asrl_loss`; see there for the formula, ``reduction``,
    ``process_group`` and ASRL's parameters (``q_low``, ``q_high``, ``thresholds``,
    ``c1``, ``c2``, ``weights``, ``threshold_sample``; defined once in
    :class:`asrl.params.ASRLParams`).

    Parameters
    ----------
    momentum : float in (0, 1] or None, default None
        None: every call computes its thresholds from its own residuals. A number:
        the module keeps running thresholds in the buffer ``running_deltas`` (and
        ``running_scales`` for ``weights="stats"``), like
        :class:`torch.nn.BatchNorm1d` keeps running statistics. In ``train()`` mode a
        call uses its own thresholds and then updates
        ``running = (1 - momentum) * running + momentum * batch``; the first update
        copies the batch's values. In ``eval()`` mode a call uses the running
        thresholds, or, before any update (``num_batches_tracked == 0``), its own
        (reading that count synchronises with the device). The buffers are saved in
        ``state_dict``. Keep this module in float32 or float64: ``.half()`` would
        round the running thresholds.
    process_group : torch.distributed ProcessGroup, optional
        Global thresholds under DDP: as in :func:`asrl_loss`, every rank all-gathers
        the residual samples of all ranks, so all ranks use the same thresholds (and,
        with ``momentum``, keep the same running thresholds).

    Attributes
    ----------
    params : asrl.params.ASRLParams
        The validated parameters (``params.q_low``, ``params.thresholds``, ...).
    running_deltas, running_scales, num_batches_tracked : Tensor or None
        The running statistics' buffers, None without ``momentum``.

    Examples
    --------
    >>> import torch
    >>> from asrl.torch import ASRLLoss
    >>> loss_fn = ASRLLoss(momentum=0.1)
    >>> pred = torch.linspace(-3, 3, 101, requires_grad=True)
    >>> loss = loss_fn(pred, torch.zeros(101))
    >>> loss.backward()
    >>> loss_fn.running_deltas
    tensor([1.5000, 2.7000])
    >>> _ = loss_fn.eval()
    >>> loss_fn(pred, torch.zeros(101)).item() == loss.item()
    True
    """

    running_deltas: Tensor | None
    running_scales: Tensor | None
    num_batches_tracked: Tensor | None

    @with_autograd_params
    def __init__(
        self,
        *,
        reduction: str = "mean",
        momentum: float | None = None,
        process_group: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self._loss = ASRL(**autograd_params(params, "asrl.torch"))
        self.params: ASRLParams = self._loss.params
        self.process_group = process_group
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.momentum = (
            None
            if momentum is None
            else check_interval("momentum", momentum, 0.0, 1.0, high_open=False)
        )
        tracking = self.momentum is not None
        self.register_buffer("running_deltas", torch.zeros(2) if tracking else None)
        stats = tracking and self.params.weights == "stats"
        self.register_buffer("running_scales", torch.ones(3) if stats else None)
        self.register_buffer(
            "num_batches_tracked", torch.tensor(0, dtype=torch.long) if tracking else None
        )

    def extra_repr(self) -> str:
        params = {k: v for k, v in dataclasses.asdict(self.params).items() if k not in NEWTON_ONLY}
        params.update(reduction=self.reduction, momentum=self.momentum)
        return ", ".join(f"{k}={v!r}" for k, v in params.items())

    def statistics(self, input: Tensor, target: Tensor) -> ASRLStatistics:
        """The statistics of these residuals, as 0-d tensors (never the running ones)."""
        dtype = _check_pair(input, target)
        statistics: ASRLStatistics = _statistics(
            input, target, self._loss, dtype, self.process_group
        )
        return statistics

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss of ``input`` against ``target`` (see the class docstring)."""
        dtype = _check_pair(input, target)
        stats = self._running(dtype, input.device)
        if stats is None:
            stats = _values(input, target, self._loss, dtype, None, self.process_group)
            if self.training and self.momentum is not None:
                self._update(stats)
        return _apply(input, target, self.reduction, self.params.weights, stats)

    def _running(self, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, ...] | None:
        """The running statistics to use now, or None to compute this call's own."""
        if self.training or self.running_deltas is None:
            return None
        assert self.num_batches_tracked is not None  # registered with running_deltas
        if int(self.num_batches_tracked) == 0:
            return None
        stats = self.running_deltas
        if self.running_scales is not None:
            stats = torch.cat([stats, self.running_scales])
        return tuple(stats.to(device=device, dtype=dtype).unbind())

    @torch.no_grad()
    def _update(self, stats: tuple[Tensor, ...]) -> None:
        assert self.running_deltas is not None
        assert self.num_batches_tracked is not None
        assert self.momentum is not None
        first = self.num_batches_tracked == 0
        for buffer, batch in (
            (self.running_deltas, stats[:2]),
            (self.running_scales, stats[2:]),
        ):
            if buffer is None:
                continue
            new = torch.stack(batch).to(buffer)  # the buffer's dtype and device
            buffer.copy_(torch.where(first, new, torch.lerp(buffer, new, self.momentum)))
        self.num_batches_tracked.add_(1)
