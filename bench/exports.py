"""Exporting enquiries to CSV and XLSX: rows per second, and memory that stays flat.

    uv run python -m bench.exports [--enquiries 1000000] [--postgres URL] [--no-tracemalloc]

Each format is exported twice from the same launch: its first two days (~100,000
rows at 1,000,000 enquiries) and the whole launch. Flat memory means the two
peaks are about the same. Peaks are measured two ways: the process's peak
resident set during the export (Linux resets it through /proc/self/clear_refs),
which includes the database driver's buffers, and Python's own allocations
(tracemalloc, in a second, slower pass). Rates are from the first pass. The
export is consumed as the route's StreamingResponse would, without the HTTP layer.

Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from app import exports, ranges
from app.db import Database
from app.models import Enquiry, EnquiryHypothesis
from bench.data import STARTS_ON, build, fresh_database

STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class Run:
    label: str
    rows: int
    seconds: float
    megabytes: float
    rss_peak_mb: float | None
    rss_rise_mb: float | None
    python_peak_mb: float | None

    def row(self) -> str:
        def mb(value: float | None) -> str:
            return "–" if value is None else f"{value:.0f}"

        return (
            f"| {self.label} | {self.rows:,} | {self.seconds:.1f} | {self.rows / self.seconds:,.0f} | "
            f"{self.megabytes:.0f} | {mb(self.rss_peak_mb)} | {mb(self.rss_rise_mb)} | {mb(self.python_peak_mb)} |"
        )


TABLE_HEADER = (
    "| export | rows | s | rows/s | file MB | peak RSS MB | RSS rise MB | Python peak MB |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def _status_mb(field: str) -> float | None:
    if not STATUS.exists():
        return None
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _consume(export: exports.Export, db: Database, now: dt.datetime) -> int:
    size = 0
    for piece in exports.stream(export, db=db, now=now):
        size += len(piece)
    return size


def measure(label: str, export: exports.Export, db: Database, now: dt.datetime, *, traced: bool) -> Run:
    expected = _count_rows(db, export)
    baseline = _status_mb("VmRSS")
    reset = _reset_peak_rss()
    started = time.perf_counter()
    size = _consume(export, db, now)
    seconds = time.perf_counter() - started
    peak = _status_mb("VmHWM") if reset else None
    python_peak = None
    if traced:
        tracemalloc.start()
        _consume(export, db, now)
        python_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return Run(
        label,
        expected,
        seconds,
        size / 2**20,
        peak,
        None if peak is None or baseline is None else peak - baseline,
        python_peak,
    )


def _count_rows(db: Database, export: exports.Export) -> int:
    enquiry, link = Enquiry.__table__, EnquiryHypothesis.__table__  # type: ignore[attr-defined]
    selection = export.selection
    with db.session() as session:
        return int(
            session.execute(
                sa.select(sa.func.count())
                .select_from(enquiry.outerjoin(link, link.c.enquiry_id == enquiry.c.id))
                .where(
                    enquiry.c.launch_id == selection.launch.id,
                    enquiry.c.created_at >= selection.start,
                    enquiry.c.created_at < selection.end,
                )
            ).scalar_one()
        )


def run(*, enquiries: int, hypotheses: int, postgres: str | None, traced: bool) -> list[Run]:
    db = fresh_database(postgres, f"exports_{enquiries}")
    data = build(db, enquiries=enquiries, hypotheses=hypotheses)
    print(f"loaded {enquiries:,} enquiries in {data.seconds_to_load:.0f} s into {db.engine.dialect.name}")
    launch = data.launch
    now = dt.datetime.combine(launch.ends_on, dt.time(14), tzinfo=dt.UTC)
    two_days = ranges.select(
        launch, now=now, from_text=STARTS_ON.isoformat(), to_text=(STARTS_ON + dt.timedelta(days=1)).isoformat()
    )
    whole = ranges.select(launch, now=now, range_name="launch")
    results = []
    for fmt in ("csv", "xlsx"):
        for name, selection in (("first two days", two_days), ("whole launch", whole)):
            export = exports.Export(selection, "enquiries", fmt)  # type: ignore[arg-type]
            results.append(measure(f"{fmt.upper()}, {name}", export, db, now, traced=traced))
            print(results[-1].row(), flush=True)
    db.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enquiries", type=int, default=1_000_000)
    parser.add_argument("--hypotheses", type=int, default=15)
    parser.add_argument("--postgres", metavar="URL", help="admin URL of a PostgreSQL server; SQLite when left out")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the (slow) second pass under tracemalloc")
    args = parser.parse_args()
    results = run(
        enquiries=args.enquiries, hypotheses=args.hypotheses, postgres=args.postgres, traced=not args.no_tracemalloc
    )
    print(
        f"\n{'PostgreSQL' if args.postgres else 'SQLite'}, {args.enquiries:,} enquiries, {args.hypotheses} "
        f"hypotheses, Python {platform.python_version()}\n"
    )
    print(TABLE_HEADER)
    for result in results:
        print(result.row())


if __name__ == "__main__":
    main()
