"""What the charts draw, as plain data for app/static/charts.js (a ``data-chart`` attribute).

Two charts: enquiries per local day over the whole launch so far, and per
digest window over the last few days. One series per hypothesis (the top few
shown, the rest a click away), "Other" and "All enquiries". A hypothesis has
no value before the bucket it was added in, so the line starts where it
began to count, rather than with zeros.

Each hypothesis has a colour of its own, and past twelve a dash pattern too (``style_of``).
Expected rates are per day, so the daily chart draws them as dashed reference
lines; the digest-window chart does not (windows differ in length, and
enquiries do not come evenly through the day and night), and says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.models import Hypothesis
from app.tallies import Bucket

ChartKind = Literal["day", "slot"]

# Okabe–Ito and Tol's colour-blind-safe palettes, each colour at least 3:1 against the white page and the
# chosen range's shading over it (charts.js, #e6effb: the whole plot with "Whole launch") (WCAG 1.4.11: a line
# is all there is of its series). Their orange, sky blue and teal (2.3, 2.3 and 2.8:1 on white) are darkened
# to 3.6, 3.5 and 4.1:1; the green, pink, blue and olive, 2.6 to 3.0:1 on the shading, a little too.
PALETTE = (
    "#0072b2",
    "#d55e00",
    "#009970",
    "#ba6e98",
    "#b47b00",
    "#3a8ccc",
    "#882255",
    "#117733",
    "#332288",
    "#aa4499",
    "#2e8b7e",
    "#8b8b2e",
)
# Past the palette's twelve colours the lines take them again with a dash pattern, the next twelve dotted,
# then long dashes, then dash-dots (then round again): a 13th hypothesis drawn in the 1st's blue, solid,
# was that one to a reader. None of them is the expected rate's thin [6, 5] (charts.js).
DASHES: tuple[tuple[int, ...] | None, ...] = (None, (2, 4), (14, 5), (12, 4, 2, 4))
OTHER_COLOR = "#57606a"
ALL_COLOR = "#1b1f24"
TOP_SHOWN = 5
SLOT_DAYS = 3  # the digest-window chart covers today and the two days before


@dataclass(frozen=True)
class Style:
    color: str
    dash: tuple[int, ...] | None = None  # canvas line dash, in pixels; None: solid


def style_of(hypothesis: Hypothesis, order: Sequence[Hypothesis]) -> Style:
    """A hypothesis keeps its colour and dash whatever the range or filters: they follow the list's order."""
    index = next((i for i, h in enumerate(order) if h.id == hypothesis.id), 0)
    return Style(PALETTE[index % len(PALETTE)], DASHES[index // len(PALETTE) % len(DASHES)])


def shown_keys(counts: dict[str, int], *, top: int = TOP_SHOWN) -> set[str]:
    """The hypotheses drawn at first: the ``top`` with the most enquiries in the range (none with zero)."""
    ranked = sorted((item for item in counts.items() if item[1] > 0), key=lambda item: (-item[1], item[0]))
    return {key for key, _ in ranked[:top]}


@dataclass(frozen=True)
class Line:
    key: str
    label: str
    color: str
    shown: bool
    since: dt.datetime | None = None  # no values for buckets that ended before this
    expected: float | None = None
    dash: tuple[int, ...] | None = None  # see ``style_of``


def payload(
    *,
    kind: ChartKind,
    buckets: Sequence[Bucket],
    lines: Iterable[Line],
    hypotheses: Sequence[Hypothesis],
    timezone: str,
    highlight: tuple[dt.datetime, dt.datetime] | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """The chart's data: x (bucket starts, Unix seconds), and per line its values and looks."""
    ids = {h.key: h.id for h in hypotheses}
    series: list[dict[str, Any]] = []
    for line in lines:
        values: list[int | None] = []
        for b in buckets:
            if line.since is not None and b.end <= line.since:
                values.append(None)
            elif line.key == "all":
                values.append(b.total)
            elif line.key == "other":
                values.append(b.other)
            else:
                values.append(b.by_hypothesis.get(ids.get(line.key) or 0, 0))
        entry: dict[str, Any] = {"key": line.key, "label": line.label, "color": line.color, "shown": line.shown}
        if line.dash:
            entry["dash"] = list(line.dash)
        entry["values"] = values
        if kind == "day" and line.expected is not None:
            entry["expected"] = [None if v is None else line.expected for v in values]
        series.append(entry)
    partial = bool(buckets) and buckets[-1].end >= now
    return {
        "kind": kind,
        "timezone": timezone,
        "x": [int(b.start.timestamp()) for b in buckets],
        "ends": [int(b.end.timestamp()) for b in buckets],
        "highlight": [int(highlight[0].timestamp()), int(highlight[1].timestamp())] if highlight else None,
        "partial_last": partial,
        "series": series,
    }
