"""`python -m bench insight` runs end to end and its numbers are usable (no timing is asserted)."""
import math

from bench import insight
from bench.__main__ import verdict


def test_quick_insight_compares_the_page_with_and_without_its_views(data_dir):
    results = insight.run(None, reps=1, seconds=0.5, warmup=0)
    rows = insight.rows(results)
    assert [row["name"] for row in rows] == [name for pair in insight.PAIRS.values() for name in pair]
    assert all(math.isfinite(row["ratio"]) and row["ratio"] > 0 for row in rows)
    assert all(rate > 0 for rates in results["rates"].values() for rate in rates)
    assert verdict(rows[1]).startswith(">= 0.9x: ") and insight.notes(results)
