"""Global thresholds under PyTorch DDP: real torch.distributed (gloo) processes on CPU."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'asrl[torch]')")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():  # pragma: no cover
    pytest.skip("torch.distributed is not available", allow_module_level=True)

from asrl import ASRL  # noqa: E402
from asrl.core.quantiles import sample_positions  # noqa: E402
from asrl.core.rules import THRESHOLD_RULES  # noqa: E402

from .toy_rule import toy_rule  # noqa: E402


def skewed_data(n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Residuals sorted by size: rank 0 gets the small ones, rank 1 the large ones."""
    rng = np.random.default_rng(0)
    u = np.sort(np.abs(rng.standard_t(2, n))) * rng.choice([-1.0, 1.0], n)
    target = rng.normal(size=n)
    return target + u, target


def _worker(
    rank: int,
    world: int,
    init: str,
    out: str,
    sizes: tuple[int, ...],
    sample: int | None,
    rule: str,
) -> None:
    from asrl.torch import ASRLLoss

    THRESHOLD_RULES.setdefault("toy", toy_rule)  # registered in this process only
    torch.set_num_threads(1)
    # A collective that one rank skips fails after the timeout instead of hanging.
    timeout = datetime.timedelta(seconds=60)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world, timeout=timeout)
    try:
        pred, target = skewed_data(sum(sizes))
        lo = sum(sizes[:rank])
        mine = slice(lo, lo + sizes[rank])
        x = torch.tensor(pred[mine], requires_grad=True)
        y = torch.tensor(target[mine])
        kwargs = {"threshold_sample": sample, "thresholds": rule}
        global_loss = ASRLLoss(process_group=dist.group.WORLD, reduction="sum", **kwargs)
        local = ASRLLoss(**kwargs).statistics(x, y).deltas
        deltas = global_loss.statistics(x, y).deltas
        global_loss(x, y).backward()
        torch.save(
            {
                "global": [float(d) for d in deltas],
                "local": [float(d) for d in local],
                "grad": x.grad.numpy(),
            },
            Path(out) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def run_ranks(
    tmp_path: Path, sizes: tuple[int, ...], sample: int | None = None, rule: str = "quantile"
) -> list[dict]:
    import torch.multiprocessing as mp

    init = f"file://{tmp_path / 'rendezvous'}"
    mp.start_processes(
        _worker,
        args=(len(sizes), init, str(tmp_path), sizes, sample, rule),
        nprocs=len(sizes),
        join=True,
        start_method="spawn",
    )
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(len(sizes))]


@pytest.mark.parametrize("rule", ["quantile", "scale"])
def test_global_thresholds_equal_single_process_ones_and_local_ones_differ(tmp_path, rule):
    sizes = (1700, 1300)  # unequal shards
    ranks = run_ranks(tmp_path, sizes, rule=rule)
    pred, target = skewed_data(sum(sizes))
    single = ASRL(thresholds=rule, threshold_sample=None).statistics(target, pred).deltas
    for result in ranks:
        assert tuple(result["global"]) == single  # order statistics of the same values
    # The test can fail: on this skewed split each rank's own thresholds are far off.
    assert ranks[0]["local"][1] < 0.5 * single[1]
    assert ranks[1]["local"][0] > 2.0 * single[0]
    # The gradients are those of the single-process loss on each rank's rows.
    x = torch.tensor(pred, requires_grad=True)
    from asrl.torch import asrl_loss

    asrl_loss(
        x, torch.tensor(target), thresholds=rule, threshold_sample=None, reduction="sum"
    ).backward()
    np.testing.assert_array_equal(np.concatenate([r["grad"] for r in ranks]), x.grad.numpy())


@pytest.mark.parametrize("rule", ["scale", "toy"])
def test_one_rank_subsampling_and_a_user_rule(tmp_path, monkeypatch, rule):
    # Rank 0 subsamples, rank 1 does not: both must make the same collective calls
    # (the rule's full-data maximum is an all_reduce on every rank). The thresholds
    # are the rule on rank 0's fixed subsample and all of rank 1's residuals.
    sizes, sample = (3000, 500), 1024
    ranks = run_ranks(tmp_path, sizes, sample=sample, rule=rule)
    pred, target = skewed_data(sum(sizes))
    u = pred - target
    union = np.concatenate([u[: sizes[0]][sample_positions(sizes[0], sample)], u[sizes[0] :]])
    monkeypatch.setitem(THRESHOLD_RULES, "toy", toy_rule)
    want = ASRL(thresholds=rule, threshold_sample=None).statistics(np.zeros_like(union), union)
    for result in ranks:
        assert tuple(result["global"]) == want.deltas


def test_subsampled_global_thresholds_stay_within_the_bound(tmp_path):
    sizes = (6000, 6000)
    ranks = run_ranks(tmp_path, sizes, sample=1024)
    pred, target = skewed_data(sum(sizes))
    a = np.abs(pred - target)
    eps = np.sqrt(np.log(2 / 1e-6) / (2 * 1024))
    for q, d in zip((0.5, 0.9), ranks[0]["global"], strict=True):
        assert abs(np.mean(a <= d) - q) <= eps
    assert ranks[0]["global"] == ranks[1]["global"]
    assert os.environ.get("MASTER_ADDR") is None  # nothing leaked into this process
