"""The charts' numbers as a table: the text alternative of each chart, read from the very data
charts.js draws (``charts.payload``), so the two cannot differ.

One row per bucket (a local day, or a digest window), one column per line; a line with an expected
rate gets a column for it too. A value of None is a bucket before the line began to count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from app import i18n


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # empty for "other" and "all": the template names them in the reader's language
    expected: bool = False


@dataclass(frozen=True)
class Row:
    start: dt.datetime
    end: dt.datetime
    values: list[float | None]

    @property
    def cells(self) -> list[str]:
        """The values as the reader's language writes them ("–": not counting yet), formatted here in one
        loop: a few thousand of them through the template's filter cost the launch page several ms more."""
        number = i18n.format_number
        return ["–" if value is None else number(value) for value in self.values]

    @property
    def day(self) -> dt.date:
        """The local day the bucket begins on (``start`` is in the launch's zone)."""
        return self.start.date()

    @property
    def one_day(self) -> bool:
        """A window that ends on the day it began (or at its midnight), written with the end's time alone."""
        return (self.end - dt.timedelta(microseconds=1)).date() == self.start.date()


@dataclass(frozen=True)
class ChartTable:
    kind: str  # "day" or "slot"
    timezone: str
    columns: list[Column]
    rows: list[Row]
    partial_last: bool  # the last bucket is still being counted (today, the current window)


def chart_table(data: dict[str, Any]) -> ChartTable:
    columns: list[Column] = []
    values: list[list[float | None]] = []
    for series in data["series"]:
        columns.append(Column(series["key"], series.get("label") or ""))
        values.append(series["values"])
        if series.get("expected") is not None:
            columns.append(Column(series["key"], series.get("label") or "", expected=True))
            values.append(series["expected"])
    zone = ZoneInfo(data["timezone"])
    rows = [
        Row(
            start=dt.datetime.fromtimestamp(start, zone),
            end=dt.datetime.fromtimestamp(end, zone),
            values=[column[i] for column in values],
        )
        for i, (start, end) in enumerate(zip(data["x"], data["ends"], strict=True))
    ]
    return ChartTable(data["kind"], data["timezone"], columns, rows, bool(data.get("partial_last")))
