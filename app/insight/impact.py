"""The effect of a fix: did the enquiries about it drop once it shipped?

All enquiries fall as a launch ages (the novelty wears off), so a falling count
proves little. What tells a fix from that is the hypothesis's **share** of all
enquiries: over two periods of equal length on both sides of ``fix_shipped_at``,
the share before is compared with the share after.

The test is exact: given the k enquiries about the hypothesis in both periods,
if the share had not changed each of them would fall in the "after" period with
probability n_after / (n_before + n_after) (n: all enquiries of the period), so
the number after is Binomial(k, that probability); the p-value is the two-sided
exact binomial test of the number observed. The verdict:

* ``too_early`` — less than 24 hours since the fix, or fewer than ``MIN_ENQUIRIES``
  about it in both periods together (too few to tell anything);
* ``down`` / ``up`` — the share fell / rose and p < ``ALPHA``;
* ``no_change`` — otherwise.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session

from app import launches, tallies
from app.models import Hypothesis, Launch

Verdict = Literal["down", "up", "no_change", "too_early"]

ALPHA = 0.05
MIN_ENQUIRIES = 10
MIN_AFTER = dt.timedelta(hours=24)
METHOD = (
    "The hypothesis's share of all enquiries in equal periods before and after the fix, compared with an exact "
    "binomial test (p < 0.05); shares, not counts, because all enquiries fall as a launch ages."
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


def periods(
    fix_shipped_at: dt.datetime, *, launch_start: dt.datetime, launch_end: dt.datetime, now: dt.datetime
) -> tuple[tuple[dt.datetime, dt.datetime], tuple[dt.datetime, dt.datetime]]:
    """Equal periods on both sides of the fix, as long as ``launch_start`` (the hypothesis's
    ``tallies.counting_since``), the launch's end and ``now`` allow."""
    after_end = max(min(now, launch_end), fix_shipped_at)
    length = max(min(after_end - fix_shipped_at, fix_shipped_at - launch_start), dt.timedelta(0))
    return (fix_shipped_at - length, fix_shipped_at), (fix_shipped_at, fix_shipped_at + length)


def binomial_two_sided(successes: int, trials: int, p: float) -> float:
    """Exact two-sided binomial p-value (the probability of outcomes no likelier than the one seen).

    Summed outwards from the mode with the ratio of successive terms, so it costs a few
    thousand steps even for a hundred thousand trials, and stops once terms are negligible."""
    if trials == 0 or p <= 0.0 or p >= 1.0:
        return 1.0
    log_pmf = (
        math.lgamma(trials + 1)
        - math.lgamma(successes + 1)
        - math.lgamma(trials - successes + 1)
        + successes * math.log(p)
        + (trials - successes) * math.log1p(-p)
    )
    observed = math.exp(log_pmf)
    mode = min(int((trials + 1) * p), trials)
    log_mode = (
        math.lgamma(trials + 1)
        - math.lgamma(mode + 1)
        - math.lgamma(trials - mode + 1)
        + mode * math.log(p)
        + (trials - mode) * math.log1p(-p)
    )
    threshold = observed * (1 + 1e-7)
    odds = p / (1 - p)
    total = 0.0
    pmf = math.exp(log_mode)
    if pmf <= threshold:
        total += pmf
    k = mode
    while k < trials:  # upwards
        pmf *= (trials - k) / (k + 1) * odds
        k += 1
        if pmf <= threshold:
            total += pmf
        if pmf < observed * 1e-12 and k > successes:
            break
    pmf = math.exp(log_mode)
    k = mode
    while k > 0:  # downwards
        pmf *= k / (trials - k + 1) / odds
        k -= 1
        if pmf <= threshold:
            total += pmf
        if pmf < observed * 1e-12 and k < successes:
            break
    return min(1.0, total)


def assess(fix_shipped_at: dt.datetime, before: Period, after: Period, *, now: dt.datetime) -> Impact:
    change = (after.share - before.share) / before.share if before.share else None
    k = before.enquiries + after.enquiries
    if now - fix_shipped_at < MIN_AFTER or k < MIN_ENQUIRIES or not before.total or not after.total:
        return Impact(fix_shipped_at, before, after, change, None, "too_early")
    p_value = binomial_two_sided(after.enquiries, k, after.total / (before.total + after.total))
    if p_value >= ALPHA:
        verdict: Verdict = "no_change"
    else:
        verdict = "down" if after.share < before.share else "up"
    return Impact(fix_shipped_at, before, after, change, p_value, verdict)


def impact_of(session: Session, launch: Launch, hypothesis: Hypothesis, *, now: dt.datetime) -> Impact | None:
    """The effect of the hypothesis's fix as seen at ``now`` (None when no fix is recorded).

    Four tallies of whole stretches, with closed days from the cache: a few milliseconds."""
    if hypothesis.fix_shipped_at is None:
        return None
    launch_start, launch_end = launches.window(launch)
    # Added during the launch, it had no enquiries before (they were "other"): its "before" starts then.
    since = tallies.counting_since(hypothesis, launch_start, tallies.first_enquiry(session, hypothesis))
    (b0, b1), (a0, a1) = periods(hypothesis.fix_shipped_at, launch_start=since, launch_end=launch_end, now=now)
    counted = []
    for start, end in ((b0, b1), (a0, a1)):
        result = tallies.tally(session=session, launch=launch, start=start, end=end, now=now, hypotheses=[hypothesis])
        counted.append(Period(start, end, result.for_hypothesis(hypothesis), result.total))
    return assess(hypothesis.fix_shipped_at, counted[0], counted[1], now=now)
