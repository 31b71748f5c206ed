"""When a case study is due for review, as NICE's shared learning examples expire after two years.

A case study is due when it was last reviewed more than REVIEW_MONTHS ago, when it gives no review
date, or when every source with a web address was last read more than REVIEW_MONTHS ago: pages
change and figures are revised, so a reader should know how fresh the facts are. The validator
warns, the case page and the catalogue say so, and `kb stats` lists them.
"""

from __future__ import annotations

from datetime import date

from kb.format.model import CaseStudy

__all__ = ["REVIEW_MONTHS", "review_due"]

REVIEW_MONTHS = 24


def _months_before(day: date, months: int) -> date:
    """The same day `months` months earlier (the month's last day where it has fewer days)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("every month has a 28th")  # pragma: no cover


def review_due(case: CaseStudy, today: date | None = None) -> str | None:
    """Why the case study is due for review, or None while it is fresh."""
    today = today or date.today()
    cutoff = _months_before(today, REVIEW_MONTHS)
    if case.reviewed is None:
        return "it gives no date it was last reviewed"
    if case.reviewed < cutoff:
        return f"last reviewed on {case.reviewed.isoformat()}, more than {REVIEW_MONTHS} months ago"
    read = [s.accessed for s in case.sources if s.url and s.accessed is not None]
    if read and max(read) < cutoff:
        return (
            f"its sources were last read on {max(read).isoformat()}, more than {REVIEW_MONTHS} "
            "months ago"
        )
    return None
