"""The effect of a fix: did the enquiries about it drop once it shipped?

All enquiries fall as a launch ages (the novelty wears off), so a falling count
proves little. What tells a fix from that is the hypothesis's **share** of all
enquiries: over two periods of equal length on both sides of ``fix_shipped_at``,
the share before is compared with the share after. With less than a day before the fix
(a hotfix on the launch's first morning, or a hypothesis added just before its fix), all of
that time is compared with the first 24 hours after: shares, unlike counts, need no equal
lengths, and a verdict never rests on less than a day after the fix.

The test is Fisher's exact test of the 2×2 table (enquiries about the hypothesis
or not, before or after): with every margin as observed, the number about it after
the fix is hypergeometric; the p-value is the two-sided probability of tables no
likelier than the one seen. (A binomial test of the number after, given all about it,
with the periods' shares of all enquiries as its probability, was used before: it
counts the hypothesis's own enquiries in that probability and so misses real drops
of a hypothesis that is a large share of the calls.) The verdict:

* ``down`` / ``up`` — the share fell / rose and p < ``ALPHA``;
* ``no_change`` — otherwise;
* ``too_early`` — the period after the fix is shorter than 24 hours (``MIN_AFTER``: the time
  since the fix is not enough, the compared period is what counts), or there are fewer than
  ``MIN_ENQUIRIES`` about it in both periods together, and waiting will help;

and the outcomes waiting will not change, said as what they are rather than "too early" for good:

* ``too_little_after`` — the launch ended less than 24 hours after the fix;
* ``too_little_before`` — no enquiries at all were logged between when the hypothesis began to
  count and the fix (the centre closed until the release-morning hotfix): nothing to compare with;
* ``too_few`` — the periods are as long as they will get (the one after as long as the time
  before, or the launch over), with fewer than ``MIN_ENQUIRIES`` about it;
* ``no_before`` — the fix shipped before the hypothesis was counted (added later, or a fix from
  before the launch): there is no "before" to compare with, now or ever;
* ``after_launch`` — the fix shipped after the launch ended (a lead recorded it on a finished
  launch, its time left empty: then): no enquiries are counted after a launch, so there is no
  "after", now or ever. Both periods are empty; ``launch_ended`` says when it ended. (Cut at the
  launch's end, they were two empty periods at the fix, read as "the launch ended less than 24
  hours after the fix" days after it had.)

A hypothesis retired after its fix (a lead takes it off the checklist once the calls stop) has no
enquiries after that, by the checklist's design, not the customers' doing: counted on, its share
would fall to nothing and read as the fix working. Its periods end when it was first retired after
the fix (or at the fix, when it was off the checklist then), like a launch's end, even if it was
brought back since; retired less than 24 hours after the fix, it is ``too_little_after``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from typing import Literal

from sqlmodel import Session, col, select

from app import launches, tallies
from app.models import Hypothesis, HypothesisStatus, HypothesisStatusChange, Launch

Verdict = Literal[
    "down",
    "up",
    "no_change",
    "too_early",
    "too_little_after",
    "too_little_before",
    "too_few",
    "no_before",
    "after_launch",
]

ALPHA = 0.05
MIN_ENQUIRIES = 10
MIN_AFTER = dt.timedelta(hours=24)
METHOD = (
    "The hypothesis's share of all enquiries in equal periods before and after the fix (with less than a day "
    "before it, all of that time against the first 24 hours after), compared with Fisher's exact test (p < 0.05); "
    "shares, not counts, because all enquiries fall as a launch ages. A verdict needs a period of at least 24 hours "
    "after the fix and 10 enquiries about it."
)


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime
    enquiries: int  # about the hypothesis
    total: int  # all enquiries of the launch in the period

    @property
    def days(self) -> float:
        return (self.end - self.start) / dt.timedelta(days=1)

    @property
    def per_day(self) -> float:
        return self.enquiries / self.days if self.days > 0 else 0.0

    @property
    def share(self) -> float:
        return self.enquiries / self.total if self.total else 0.0


@dataclass(frozen=True)
class Impact:
    fix_shipped_at: dt.datetime
    before: Period
    after: Period
    change: float | None  # relative change of the share: -0.72 is down 72 %
    p_value: float | None
    verdict: Verdict
    counting_since: dt.datetime | None = None  # from when the hypothesis counts, said with ``no_before`` and
    # ``too_little_before``
    retired_at: dt.datetime | None = None  # retired before the periods would end otherwise: when (they end then,
    # or at the fix when it was retired before it)
    launch_ended: dt.datetime | None = None  # when the launch ended, said with ``after_launch``


def periods(
    fix_shipped_at: dt.datetime, *, launch_start: dt.datetime, launch_end: dt.datetime, now: dt.datetime
) -> tuple[tuple[dt.datetime, dt.datetime], tuple[dt.datetime, dt.datetime]]:
    """The periods before and after the fix, as long as ``launch_start`` (the hypothesis's
    ``tallies.counting_since``), the launch's end and ``now`` allow: equal ones, up to all the time
    before the fix; with less than a day before it, that time against up to the first 24 hours after
    (capped by the before period alone, a hotfix on the launch's first morning would never have a day after)."""
    elapsed = max(min(now, launch_end), fix_shipped_at) - fix_shipped_at
    available = max(fix_shipped_at - launch_start, dt.timedelta(0))
    before, after = min(available, elapsed), min(elapsed, max(available, MIN_AFTER))
    return (fix_shipped_at - before, fix_shipped_at), (fix_shipped_at, fix_shipped_at + after)


def fisher_two_sided(before: int, before_total: int, after: int, after_total: int) -> float:
    """Fisher's exact test, two-sided, of the 2×2 table (about the hypothesis, not) × (before, after):
    the probability, with every margin as observed, of tables no likelier than the one seen.

    Given K enquiries about the hypothesis among N, the number after is hypergeometric. Summed
    outwards from the mode with the ratio of successive terms, so it costs a few thousand steps
    even for a hundred thousand enquiries, and stops once terms are negligible."""
    total, chosen, about = before_total + after_total, after_total, before + after
    if chosen in (0, total) or about in (0, total):
        return 1.0
    low, high = max(0, chosen - (total - about)), min(about, chosen)

    def log_pmf(x: int) -> float:
        return (
            math.lgamma(about + 1)
            - math.lgamma(x + 1)
            - math.lgamma(about - x + 1)
            + math.lgamma(total - about + 1)
            - math.lgamma(chosen - x + 1)
            - math.lgamma(total - about - chosen + x + 1)
            - math.lgamma(total + 1)
            + math.lgamma(chosen + 1)
            + math.lgamma(total - chosen + 1)
        )

    def up(x: int) -> float:  # P(x + 1) / P(x)
        return (about - x) * (chosen - x) / ((x + 1) * (total - about - chosen + x + 1))

    observed = math.exp(log_pmf(after))
    threshold = observed * (1 + 1e-7)
    mode = min(max((about + 1) * (chosen + 1) // (total + 2), low), high)
    at_mode = math.exp(log_pmf(mode))
    p = at_mode if at_mode <= threshold else 0.0
    pmf, x = at_mode, mode
    while x < high:  # upwards
        pmf *= up(x)
        x += 1
        if pmf <= threshold:
            p += pmf
        if pmf < observed * 1e-12 and x > after:
            break
    pmf, x = at_mode, mode
    while x > low:  # downwards
        pmf /= up(x - 1)
        x -= 1
        if pmf <= threshold:
            p += pmf
        if pmf < observed * 1e-12 and x < after:
            break
    return min(1.0, p)


def assess(fix_shipped_at: dt.datetime, before: Period, after: Period, *, since: dt.datetime, ended: bool) -> Impact:
    """The verdict on the periods of ``periods``; ``since``: from when the hypothesis counts (their
    ``launch_start``), ``ended``: the launch is over, so they will not grow any more.

    24 hours is asked of the period after the fix itself, not of the time since it: the two differ
    when the periods are cut by the launch's end or by a short time before the fix."""
    change = (after.share - before.share) / before.share if before.share else None
    k = before.enquiries + after.enquiries
    after_length = after.end - after.start
    # Waiting helps until the period after is as long as it will get (see ``periods``) or the launch ends.
    settled = ended or after_length >= max(fix_shipped_at - since, MIN_AFTER)
    # A day after the fix first: a launch that ended soon after it (or before it) cuts both periods to
    # hours, often empty ones, which is too little after, not nothing before.
    if after_length < MIN_AFTER:
        return Impact(fix_shipped_at, before, after, change, None, "too_little_after" if ended else "too_early")
    if not before.total and before.start <= since:
        return Impact(fix_shipped_at, before, after, change, None, "too_little_before", counting_since=since)
    # An empty period before (a closed weekend before a Monday fix) is no "no change": the periods grow back
    # past it while waiting helps.
    if k < MIN_ENQUIRIES or not after.total or not before.total:
        return Impact(fix_shipped_at, before, after, change, None, "too_few" if settled else "too_early")
    p_value = fisher_two_sided(before.enquiries, before.total, after.enquiries, after.total)
    if p_value >= ALPHA:
        verdict: Verdict = "no_change"
    else:
        verdict = "down" if after.share < before.share else "up"
    return Impact(fix_shipped_at, before, after, change, p_value, verdict)


def impact_of(
    session: Session,
    launch: Launch,
    hypothesis: Hypothesis,
    *,
    now: dt.datetime,
    since: dt.datetime | None = None,
    filter: tallies.Filter | None = None,
) -> Impact | None:
    """The effect of the hypothesis's fix as seen at ``now`` (None when no fix is recorded). ``since``:
    ``tallies.counting_since`` for it, when the caller has it already (else looked up). ``filter``: only
    the enquiries of some channels or segments, on both sides and in "all" alike, so the share is its
    share of theirs (a page filtered to chat compares chat before with chat after).

    Four tallies of whole stretches, with closed days from the cache: a few milliseconds."""
    if hypothesis.fix_shipped_at is None:
        return None
    launch_start, launch_end = launches.window(launch)
    # Added during the launch, it had no enquiries before (they were "other"): its "before" starts then.
    if since is None:
        since = tallies.counting_since(
            hypothesis, launch_start, tallies.first_enquiry(session, hypothesis), launch=launch
        )
    if hypothesis.fix_shipped_at >= launch_end:
        # Recorded on a finished launch: nothing is counted after its end, so there is no "after" to wait for.
        empty = Period(hypothesis.fix_shipped_at, hypothesis.fix_shipped_at, 0, 0)
        return Impact(hypothesis.fix_shipped_at, empty, empty, None, None, "after_launch", launch_ended=launch_end)
    if hypothesis.fix_shipped_at <= since:
        # Both periods would be empty, and the verdict "too early to tell" for good: say what it is.
        empty = Period(hypothesis.fix_shipped_at, hypothesis.fix_shipped_at, 0, 0)
        return Impact(hypothesis.fix_shipped_at, empty, empty, None, None, "no_before", counting_since=since)
    retired_at = _retired_after(session, hypothesis, hypothesis.fix_shipped_at)
    if retired_at is not None and retired_at < launch_end:
        launch_end = max(retired_at, hypothesis.fix_shipped_at)
    else:
        retired_at = None
    (b0, b1), (a0, a1) = periods(hypothesis.fix_shipped_at, launch_start=since, launch_end=launch_end, now=now)
    if a1 != launch_end:  # the periods end earlier by themselves: the retirement did not cut them
        retired_at = None
    counted = []
    for start, end in ((b0, b1), (a0, a1)):
        result = tallies.tally(
            session=session, launch=launch, start=start, end=end, now=now, hypotheses=[hypothesis], filter=filter
        )
        counted.append(Period(start, end, result.for_hypothesis(hypothesis), result.total))
    found = assess(hypothesis.fix_shipped_at, counted[0], counted[1], since=since, ended=now >= launch_end)
    return replace(found, retired_at=retired_at) if retired_at is not None and now >= retired_at else found


def _retired_after(session: Session, hypothesis: Hypothesis, fix: dt.datetime) -> dt.datetime | None:
    """When the hypothesis was first off the checklist (retired) after ``fix``: the start of the first
    retired stretch that had not ended by then, which may have begun before it (None: none). Brought back
    since, it still had that stretch with no enquiries about it, which would read as the fix working."""
    changes = session.exec(
        select(HypothesisStatusChange.changed_at, HypothesisStatusChange.to_status)
        .where(HypothesisStatusChange.hypothesis_id == hypothesis.id)
        .order_by(col(HypothesisStatusChange.changed_at), col(HypothesisStatusChange.id))
    ).all()
    retired_since: dt.datetime | None = None
    for changed_at, to_status in changes:
        if to_status == HypothesisStatus.RETIRED:
            retired_since = retired_since or changed_at
        elif retired_since is not None:
            if changed_at > fix:
                return retired_since
            retired_since = None
    return retired_since
