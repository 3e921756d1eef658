"""Reading a hypothesis file at the size limit (MAX_FILE_BYTES): the largest sets the app exports, and
hostile files of that size, each as slow to read as a file of its size can be made.

uv run --frozen python -m bench.hypothesis_files [--runs 3]

parse_text is what the web upload, the import's Apply and the CLI run on a file (the upload and Apply in
a worker thread). A file over the limit is refused before any of this, unread.
"""

from __future__ import annotations

import argparse
import functools
import platform

from app.hypothesis_sets import MAX_FILE_BYTES, MAX_NODES, dump_yaml, parse_text
from bench.timing import measure
from tests.test_largest_set import largest_set

HEAD = "slug: hostile\nname: Hostile\nstarts_on: 2026-11-16\n"


def filled(start: str, unit: str, end: str = "\n") -> str:
    """``start``, then ``unit`` repeated, then ``end``: as close to MAX_FILE_BYTES as whole units come."""
    room = MAX_FILE_BYTES - len((start + end).encode())
    return start + unit * (room // len(unit.encode())) + end


def files() -> list[tuple[str, str]]:
    nodes = HEAD + "".join(f"k{i}: 1\n" for i in range(MAX_NODES))
    return [
        ("valid: the largest export, every text in 4-byte characters (emoji)", dump_yaml(largest_set())),
        ("valid: the largest export, texts in Norwegian letters and emoji", dump_yaml(largest_set("Får ikke æøå "))),
        ("valid: the largest export, texts in ASCII", dump_yaml(largest_set("x" * 500))),
        ("hostile: one plain value", filled(HEAD + "product_area: ", "x")),
        ("hostile: one double-quoted value of escapes", filled(HEAD + 'product_area: "', "\\x41", '"\n')),
        ("hostile: one single-quoted value", filled(HEAD + "product_area: '", "x", "'\n")),
        ("hostile: one literal block of short lines", filled(HEAD + "product_area: |\n", "  x\n")),
        ("hostile: one comment", filled(HEAD + "# ", "x")),
        ("hostile: empty lines", filled(HEAD, "\n", "")),
        (f"hostile: {MAX_NODES:,} small values, refused at the node limit", filled(nodes, "# x\n", "")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, MAX_FILE_BYTES {MAX_FILE_BYTES:,}\n")
    print("| file | bytes | characters | refused | median ms | min ms |\n| --- | ---: | ---: | --- | ---: | ---: |")
    for label, text in files():
        size = len(text.encode())
        assert size <= MAX_FILE_BYTES, (label, size)
        problems = parse_text(text, path="f.yaml").problems
        timing = measure(label, functools.partial(parse_text, text, path="f.yaml"), runs=args.runs, warmup=0)
        refused = str(problems[0]).removeprefix("f.yaml:")[:60] if problems else "no"
        print(f"| {label} | {size:,} | {len(text):,} | {refused} | {timing.median_ms:,.0f} | {timing.min_ms:,.0f} |")


if __name__ == "__main__":
    main()
