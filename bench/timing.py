"""Timing helpers: repeat, report median and 95th percentile in milliseconds."""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    label: str
    runs: int
    median_ms: float
    p95_ms: float
    min_ms: float

    def row(self) -> str:
        return f"| {self.label} | {self.median_ms:.1f} | {self.p95_ms:.1f} | {self.min_ms:.1f} | {self.runs} |"


def measure(label: str, action: Callable[[], object], *, runs: int = 30, warmup: int = 2) -> Timing:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return Timing(label, runs, statistics.median(samples), samples[int(0.95 * (runs - 1))], samples[0])


TABLE_HEADER = "| measurement | median ms | p95 ms | min ms | runs |\n| --- | ---: | ---: | ---: | ---: |"


def query_benchmark_main(doc: str | None, run: Callable[..., list[Timing]], *, hypotheses: int) -> None:
    """The command line of a benchmark over a built data set: options, run, a Markdown table."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enquiries", type=int, default=1_000_000)
    parser.add_argument("--hypotheses", type=int, default=hypotheses)
    parser.add_argument("--postgres", metavar="URL", help="admin URL of a PostgreSQL server; SQLite when left out")
    args = parser.parse_args()
    results = run(enquiries=args.enquiries, hypotheses=args.hypotheses, postgres=args.postgres)
    print(
        f"\n{'PostgreSQL' if args.postgres else 'SQLite'}, {args.enquiries:,} enquiries, {args.hypotheses} "
        f"hypotheses, Python {platform.python_version()}\n"
    )
    print(TABLE_HEADER)
    for timing in results:
        print(timing.row())
