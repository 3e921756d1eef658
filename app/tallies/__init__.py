"""Tallies: how many enquiries, per hypothesis, channel and segment, over any range of a launch.

* ``counting``: the queries, over a stretch (index seeks) or a local day step by step;
* ``cache``: closed 15-minute slots, days and the launch so far counted once, kept in memory
  and in ``slot_tally``, ``day_tally`` and ``launch_tally``, keyed by the launch's
  ``counts_version`` so a backfill or a re-link makes every cached count stale in every
  process and replica;
* ``since``: from when a hypothesis counts (added during the launch: not before);
* ``windows``: ``tally`` for a window and ``series`` for buckets (day, digest slot, hour),
  which put the two together.

Local days come from ``launches.day_bounds``, which knows DST days are 23 or 25 hours long.
"""

from app.tallies.cache import CLOSED_AFTER, DAY_CACHE_KEY, DAY_FORMAT, DayCache, is_closed, keep_closed_days
from app.tallies.counting import UNSPECIFIED_SEGMENT, Counts, DayCounts, Filter, count
from app.tallies.since import counting_since, first_enquiries, first_enquiry
from app.tallies.windows import BUCKETS, Bucket, BucketKind, Tally, bucket_bounds, by_clock_hour, clip, series, tally

__all__ = [
    "BUCKETS",
    "CLOSED_AFTER",
    "DAY_CACHE_KEY",
    "DAY_FORMAT",
    "UNSPECIFIED_SEGMENT",
    "Bucket",
    "BucketKind",
    "Counts",
    "DayCache",
    "DayCounts",
    "Filter",
    "Tally",
    "bucket_bounds",
    "by_clock_hour",
    "clip",
    "count",
    "counting_since",
    "first_enquiries",
    "first_enquiry",
    "is_closed",
    "keep_closed_days",
    "series",
    "tally",
]
