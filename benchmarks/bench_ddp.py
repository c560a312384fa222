"""Cost of global thresholds under PyTorch DDP: ASRLLoss forward+backward with and
without ``process_group``, on 1 and 2 gloo processes (CPU), interleaved per step.

Run: ``python benchmarks/bench_ddp.py [--rows 65536] [--steps 30]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank: int, world: int, init: str, rows: int, steps: int, out: str) -> None:
    from asrl.torch import ASRLLoss

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    generator = torch.Generator().manual_seed(rank)
    x = torch.randn(rows, generator=generator, requires_grad=True)
    y = torch.randn(rows, generator=generator)
    local, shared = ASRLLoss(), ASRLLoss(process_group=dist.group.WORLD)
    times: dict[str, list[float]] = {"local": [], "global": []}
    for _ in range(steps):
        for name, loss in (("local", local), ("global", shared)):
            dist.barrier()
            start = time.perf_counter()
            loss(x, y).backward()
            times[name].append(time.perf_counter() - start)
    if rank == 0:
        Path(out).write_text(
            f"{world} {statistics.median(times['local']) * 1e3:.2f} "
            f"{statistics.median(times['global']) * 1e3:.2f}"
        )
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=65536)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, gloo, {args.rows} float32 residuals per rank")
    print("ranks  local thresholds ms  global thresholds ms  bytes gathered per rank per step")
    for world in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "result")
            init = f"file://{Path(tmp) / 'rendezvous'}"
            mp.start_processes(  # type: ignore[attr-defined,no-untyped-call]
                _worker,
                args=(world, init, args.rows, args.steps, out),
                nprocs=world,
                join=True,
                start_method="spawn",
            )
            ranks, local_ms, global_ms = Path(out).read_text().split()
        sample = min(args.rows, 65536)
        print(f"{ranks:>5}  {local_ms:>19}  {global_ms:>20}  {world * (sample * 4 + 8):>10}")


if __name__ == "__main__":
    main()
