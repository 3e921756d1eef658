"""Timing helpers: repeat, report median and 95th percentile in milliseconds."""

from __future__ import annotations

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
