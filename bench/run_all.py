"""Every benchmark, on SQLite and (with --postgres URL) PostgreSQL. Takes a while: each builds a million rows.

uv run python -m bench.run_all [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", metavar="URL")
    args = parser.parse_args()
    targets = [[]] + ([["--postgres", args.postgres]] if args.postgres else [])
    modules = (
        "bench.tally_queries",
        "bench.digest_compose",
        "bench.product_view",
        "bench.exports",
        "bench.themes",
        "bench.alerts",
        "bench.impact",
        "bench.enquiry_throughput",
        "bench.load",  # 2 workers, 100,000 enquiries: about as long as enquiry_throughput
    )
    for module in modules:
        for extra in targets:
            print(f"\n## {module} {' '.join(extra)}", flush=True)
            subprocess.run([sys.executable, "-m", module, *extra], check=True)


if __name__ == "__main__":
    main()
