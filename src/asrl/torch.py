r"""ASRL for PyTorch: the :class:`~asrl.torch.ASRLLoss` module and :func:`~asrl.torch.asrl_loss`.

A thin adapter over :mod:`asrl.core`: the loss is ``core.formulas.continuous_rho`` (or
``stats_rho``) evaluated on tensors, its gradient is the closed form
``continuous_psi`` (or ``stats_psi``), and the residual statistics (thresholds and
"stats" scales) come from the loss's own rule (:meth:`asrl.ASRL.statistics_rule`),
run without gradient by :func:`asrl.core.rules.run_xp`. This module answers the
rule's requests and nothing more: order statistics, the fixed subsample,
``max |u|`` over all elements, and the all-gather under DDP. Any rule of
:data:`asrl.core.rules.THRESHOLD_RULES` therefore works here unchanged.

Design choices, measured with ``benchmarks/bench_torch.py`` (``docs/neural.md``):

- A custom :class:`torch.autograd.Function`: the forward computes the loss and keeps
  only the inputs and the statistics; the backward is one elementwise pass that
  returns the closed-form gradient. Autograd through the branchless formula was
  about 35 times slower at 1e6 elements. The backward is differentiable in turn
  (``create_graph=True`` gives the second derivative, except at exactly ``u = 0``,
  where autograd takes the derivative of ``|u|`` as 0).
- On the CPU each pass is one fused kernel: the formulas, compiled once by
  :func:`torch.compile` (``dynamic=True``, so any length) on first use, forward
  (the loss summed, or elementwise) and backward (the gradient times the incoming
  one). Eager torch runs the 16 operations of the loss and 8 of the gradient one
  by one, each a pass over memory: about 12 times slower at 1e6 elements. If
  compiling fails (no C++ compiler), a :class:`RuntimeWarning` says so once and the
  same formulas run eagerly; set :data:`FUSED` to False to skip compiling. Inside a
  model that is itself compiled, and on other devices, the formulas run as
  operations of the graph (fused by the user's compiler) or eagerly.
- Statistics are taken from the finite residuals only, and ``NaN`` stays where it
  was (as with :class:`torch.nn.HuberLoss`): see :func:`asrl_loss`'s Notes.
- Above ``threshold_sample`` elements the statistics come from the numpy core's
  fixed pseudo-random subsample (:func:`asrl.core.quantiles.sample_positions`):
  deterministic, equal to ``asrl.ASRL(threshold_sample=...)``'s, and each quantile
  an exact quantile of all residuals at a level within 0.0105 of the requested one
  with probability at least 1 - 1e-6 for the default 65536. On the CPU the rule
  runs on numpy (the core's partitions and scalar arithmetic: the same bits as
  ``asrl.ASRL``); on other devices with torch operations only
  (:func:`finite_quantiles`: one sort, ranks from the count of finite values, all
  on the device, no synchronisation with the host). The rules are generators,
  which dynamo cannot trace: under ``torch.compile`` the statistics run eagerly
  (one graph break) and the elementwise loss is compiled. There is no limit on the
  number of elements (:func:`torch.quantile` refuses more than 2**24).

``import asrl`` never imports torch; importing this module without torch raises an
:class:`ImportError` that names the extra to install (``pip install "asrl[torch]"``).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._optional import missing

try:
    import torch
except ModuleNotFoundError as error:
    raise missing("PyTorch", "torch") from error
from torch import Tensor, nn

from ._validation import check_choice, check_interval
from .core import formulas, quantiles
from .core.rules import ASRLStatistics, Rule, Scalars, numpy_scalars, run_xp
from .losses import ASRL
from .params import NEWTON_ONLY, ASRLParams, autograd_params, with_autograd_params

__all__ = [
    "FUSED",
    "NEWTON_ONLY",
    "REDUCTIONS",
    "ASRLLoss",
    "asrl_loss",
    "asrl_statistics",
    "finite_quantiles",
]

REDUCTIONS = ("mean", "sum", "none")
#: Whether the CPU kernels are compiled by :func:`torch.compile` (set it to False to
#: run the same formulas eagerly; it becomes False by itself if compiling fails).
FUSED = True


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


# --------------------------------------------------------------------------------------
# The elementwise kernels: written once with torch operations, fused on the CPU
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


def _loss_sum(x: Tensor, y: Tensor, weights: str, *stats: Tensor) -> Tensor:
    """The sum of ``rho(x - y)``: one read of ``x`` and ``y`` when fused."""
    return _rho((x - y).abs(), weights, stats).sum()


def _loss_none(x: Tensor, y: Tensor, weights: str, *stats: Tensor) -> Tensor:
    """``rho(x - y)`` elementwise."""
    return _rho((x - y).abs(), weights, stats)


def _gradient(x: Tensor, y: Tensor, scale: Tensor, weights: str, *stats: Tensor) -> Tensor:
    """``psi(x - y) * scale``, and 0 where ``x - y`` is NaN: one pass when fused."""
    u = x - y
    nan = u != u  # isnan, which inductor does not vectorize
    return torch.where(nan, 0.0, _psi(u, weights, stats) * scale)


def _largest_finite(x: Tensor, y: Tensor) -> Tensor:
    """``max |x - y|`` over the finite differences (0 if there are none)."""
    a = (x - y).abs()
    return torch.where(a < torch.inf, a, 0.0).max()  # isfinite, vectorized by inductor


_COMPILED: dict[tuple[Any, ...], Callable[..., Tensor]] = {}


def _run(kernel: Callable[..., Tensor], key: tuple[Any, ...], *args: Any) -> Tensor:
    """``kernel(*args)``, compiled by :func:`torch.compile` for CPU tensors.

    One compiled function per ``key`` (the kernel and whatever changes its graph:
    the weights, the rank of a scale), so that dtypes and lengths alone make its
    few variants. Inside a compiled model, on other devices, or with :data:`FUSED`
    False, the kernel runs as it is.
    """
    global FUSED
    if not FUSED or args[0].device.type != "cpu" or torch.compiler.is_compiling():
        return kernel(*args)
    try:
        with warnings.catch_warnings():
            # torch's own modules, imported when the first kernel compiles.
            warnings.simplefilter("ignore", DeprecationWarning)
            compiled = _COMPILED.get(key)
            if compiled is None:
                compiled = _COMPILED[key] = torch.compile(kernel, dynamic=True)
            return compiled(*args)
    except Exception as error:  # no C++ compiler, an unsupported platform, ...
        FUSED = False
        warnings.warn(
            f"asrl.torch: torch.compile failed ({type(error).__name__}: {error}); the loss "
            "runs unfused (slower). Set asrl.torch.FUSED = False to skip compiling.",
            RuntimeWarning,
            stacklevel=3,
        )
        return kernel(*args)


# --------------------------------------------------------------------------------------
# Residual statistics: the loss's rule, answered on numpy (CPU) or with tensors
# --------------------------------------------------------------------------------------


def finite_quantiles(x: Tensor, levels: Sequence[float]) -> tuple[Tensor, ...]:
    """Type-7 quantiles of the finite values of flat ``x`` at ``levels``, and their maximum.

    Torch operations only, on ``x``'s device, without synchronising with the host:
    one sort of ``x`` with its non-finite values moved to the end, and the ranks of
    the interpolation computed on the device from the count of finite values, in
    float64 as :func:`asrl.core.quantiles.type7_ranks` does in Python (float32 on
    MPS, which has no float64). Equal to ``numpy.quantile`` of the finite values
    bit for bit elsewhere. With no finite value every answer is 0.

    Examples
    --------
    >>> import torch
    >>> finite_quantiles(torch.tensor([3.0, float("nan"), 1.0, 2.0]), (0.5, 0.75))
    (tensor(2.), tensor(2.5000), tensor(3.))
    """
    finite = torch.isfinite(x)
    count = finite.sum()
    ordered = torch.sort(torch.where(finite, x, torch.inf)).values
    wide = torch.float32 if x.device.type == "mps" else torch.float64
    last = (count - 1).clamp(min=0).to(wide)
    some = count > 0

    def at(rank: Tensor) -> Tensor:
        return torch.where(some, ordered[rank.long()], 0.0)

    found = []
    for q in levels:
        below = torch.floor(last * q)
        t = last * q - below
        low, high = at(below), at(torch.minimum(below + 1, last))
        diff = high - low
        upper = t >= 0.5
        w = torch.where(upper, 1 - t, t).to(x.dtype)
        found.append(torch.where(upper, high - diff * w, low + diff * w))
    return (*found, at(last))


def _as_tensors(statistics: ASRLStatistics, device: torch.device) -> ASRLStatistics:
    """Statistics of numpy scalars as 0-d tensors on ``device``, in the same dtype."""

    def tensor(value: Any) -> Tensor:
        return torch.from_numpy(np.asarray(value)).to(device)

    scales = statistics.scales
    return ASRLStatistics(
        (tensor(statistics.deltas[0]), tensor(statistics.deltas[1])),
        None if scales is None else (tensor(scales[0]), tensor(scales[1]), tensor(scales[2])),
    )


def _numpy_statistics(
    rule: Callable[[Scalars], Rule], u: Tensor, largest: Callable[[], Tensor] | None
) -> ASRLStatistics:
    """The rule run by numpy on the finite values of the CPU tensor ``u``: the core's
    partitions and scalars (bit for bit ``asrl.ASRL``'s), no torch operation on 0-d
    tensors (each costs microseconds of dispatch)."""
    a = u.numpy()
    finite = np.isfinite(a)
    if not finite.all():
        a = a[finite] if finite.any() else np.zeros(1, dtype=a.dtype)
    full = None if largest is None else (lambda: largest().numpy()[()])
    with np.errstate(over="ignore", under="ignore"):  # as the numpy driver: floors follow
        statistics: ASRLStatistics = run_xp(
            rule, a, numpy_scalars(a.dtype), quantiles.order_statistics, full
        )
    return _as_tensors(statistics, u.device)


def _tensor_statistics(
    rule: Callable[[Scalars], Rule], u: Tensor, largest: Callable[[], Tensor] | None
) -> ASRLStatistics:
    """The rule run with torch operations on ``u``'s device, skipping non-finite values:
    :func:`finite_quantiles`, and means and ``max |u|`` over the finite values."""
    finite = torch.isfinite(u)
    count = finite.sum().clamp(min=1)

    def mean(f: Tensor) -> Tensor:
        return torch.where(finite, f, 0.0).sum() / count

    if largest is None:
        zero = torch.zeros((), dtype=u.dtype, device=u.device)
        largest = functools.partial(_largest_finite, u, zero)
    ops = Scalars(torch, torch.finfo(u.dtype), _times_in_float64)
    statistics: ASRLStatistics = run_xp(
        rule, u, ops, None, largest, quantiles=finite_quantiles, mean=mean
    )
    return statistics


def _on_numpy(u: Tensor) -> bool:
    """Whether the rule runs on numpy: for CPU tensors."""
    return u.device.type == "cpu"


@torch.compiler.disable  # type: ignore[untyped-decorator]  # run numpy as numpy
@functools.lru_cache(maxsize=16)
def _sample_positions(n: int, size: int, device: torch.device) -> Tensor:
    """The numpy core's subsample positions (:func:`asrl.core.quantiles.sample_positions`)
    as a tensor on ``device``."""
    return torch.tensor(quantiles.sample_positions(n, size), dtype=torch.long, device=device)


def _sampled_difference(x: Tensor, y: Tensor, positions: Tensor, dtype: torch.dtype) -> Tensor:
    """``x[positions] - y[positions]`` in ``dtype``: one pass (and one parallel region)
    when fused, where eager torch makes three."""
    return x[positions].to(dtype) - y[positions].to(dtype)


def _residuals(xf: Tensor, yf: Tensor, size: int | None, dtype: torch.dtype) -> Tensor:
    """``input - target`` (flat, in ``dtype``), or its subsample above ``size`` elements."""
    if size is not None and xf.shape[0] > size:
        positions = _sample_positions(xf.shape[0], size, xf.device)
        return _run(_sampled_difference, ("sample",), xf, yf, positions, dtype)
    return xf.to(dtype) - yf.to(dtype)


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
    """The loss's rule run on the finite residuals (with a ``group``, on all ranks'),
    without gradient: an :class:`~asrl.core.rules.ASRLStatistics` of 0-d tensors in
    ``dtype``.

    The rule sees the finite values of the subsample above ``threshold_sample``
    elements, and ``max |u|`` over all finite residuals when it asks for it. Under a
    process group, that maximum is an ``all_reduce`` on every rank (whether or not it
    subsamples), so every rank makes the same collective calls.
    """
    with torch.no_grad():
        xf, yf = input.detach().reshape(-1), target.detach().reshape(-1)
        mine = _residuals(xf, yf, loss.sample_size, dtype)
        sampled = mine.shape[0] != xf.shape[0]
        u = mine if group is None else _gather(mine, group)

        def largest() -> Tensor:
            if sampled:
                value = _run(_largest_finite, ("largest",), xf.to(dtype), yf.to(dtype))
            else:
                value = _largest_finite(mine, torch.zeros((), dtype=dtype, device=mine.device))
            return value if group is None else _global_max(value, group)

        full = largest if sampled or group is not None else None
        driver = _numpy_statistics if _on_numpy(u) else _tensor_statistics
        return driver(loss.statistics_rule, u, full)


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
# The autograd function: the loss forward, one pass of the closed-form psi backward
# --------------------------------------------------------------------------------------


def _flat(t: Tensor, dtype: torch.dtype) -> Tensor:
    """``t`` flat in ``dtype``, without its autograd history (the kernels need none, and
    compiling a function of a non-leaf tensor warns about its ``.grad``)."""
    return t.detach().reshape(-1).to(dtype)


class _ASRLFunction(torch.autograd.Function):
    """``rho(input - target)`` reduced; backward ``psi(input - target)`` times the grad.

    ``stats`` are 0-d tensors in the compute dtype, treated as constants. The forward
    keeps only the inputs and the statistics (no elementwise tensor of its own).
    """

    @staticmethod
    def forward(
        ctx: Any, input: Tensor, target: Tensor, reduction: str, weights: str, *stats: Tensor
    ) -> Tensor:
        ctx.save_for_backward(input, target, *stats)
        ctx.reduction, ctx.weights = reduction, weights
        dtype = stats[0].dtype
        x, y = _flat(input, dtype), _flat(target, dtype)
        if reduction == "none":
            rho = _run(_loss_none, ("none", weights), x, y, weights, *stats)
            return rho.view(input.shape)
        total = _run(_loss_sum, ("sum", weights), x, y, weights, *stats)
        return total / x.shape[0] if reduction == "mean" else total

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        input, target, *stats = ctx.saved_tensors
        need_input, need_target = ctx.needs_input_grad[:2]
        none = (None,) * (2 + len(stats))
        if not (need_input or need_target):
            return (None, None, *none)
        dtype = stats[0].dtype
        x, y = input.reshape(-1).to(dtype), target.reshape(-1).to(dtype)
        scale = grad_output.reshape(-1) if ctx.reduction == "none" else grad_output
        if ctx.reduction == "mean":
            scale = scale / x.shape[0]
        if torch.is_grad_enabled():  # double backward: the differentiable formula
            grad = _gradient(x, y, scale, ctx.weights, *stats)
        else:
            key = ("gradient", ctx.weights, scale.dim())
            grad = _run(_gradient, key, x.detach(), y.detach(), scale, ctx.weights, *stats)
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
    Non-finite residuals are allowed, as in :class:`torch.nn.HuberLoss`, and never
    checked on the host (that would synchronise with the device at every step):

    - the statistics are those of the finite residuals only (above
      ``threshold_sample`` elements, of the finite ones among the fixed subsample),
      so a NaN target (a padded or missing label) changes no threshold;
    - with ``reduction="none"`` the loss is NaN exactly where ``input - target`` is
      NaN (and ``inf`` where it is infinite); "mean" and "sum" are then NaN, as
      HuberLoss's are: mask the elementwise loss instead (``loss[mask].mean()``,
      ``torch.where(mask, loss, 0).sum()``, ``loss.nansum()``);
    - the gradient is 0 where the residual is NaN (HuberLoss's is NaN there), so a
      masked loss trains: the masked elements pass no NaN back into the model.

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
