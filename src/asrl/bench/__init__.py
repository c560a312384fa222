"""``asrl bench``: the paper's experiment, reproducible from one command.

The library API behind the command line::

    from asrl.bench import BenchConfig, run_bench, write_report
    out = run_bench(BenchConfig(data=("diabetes",), folds=3))
    write_report(out, "my notebook")
"""

from __future__ import annotations

from typing import Any

from .config import BenchConfig

__all__ = ["BenchConfig", "run_bench", "write_report"]


def run_bench(*args: Any, **kwargs: Any) -> Any:
    """Run or resume a benchmark; see :func:`asrl.bench.run.run_bench`."""
    from .run import run_bench as run

    return run(*args, **kwargs)


def write_report(*args: Any, **kwargs: Any) -> Any:
    """Write report.md, report.html and figures; see :func:`asrl.bench.report.write_report`."""
    from .report import write_report as write

    return write(*args, **kwargs)
