"""`python -m bench load` runs end to end through the real scheduler, and its numbers are usable (no timing
is asserted)."""
import math

import pytest

from bench import load
from bench.__main__ import main, verdict, visitor_counts


def test_load_section_runs_every_contender_at_every_visitor_count(data_dir):
    from model.dataset import load_catvnoncat

    results = load.run(load_catvnoncat(data_dir), visitors=(2,), reps=1, seconds=0.3)
    assert results["visitors"] == [1, 2]  # one visitor alone is always measured: the ratios' baseline
    for name in load.NAMES:
        for n in ("1", "2"):
            r = results["runs"][name][n]
            epochs = r["measurements"][0]["epochs"]
            assert len(epochs) == int(n) and all(e > 0 for e in epochs), (name, n, epochs)  # nobody starved
            assert math.isfinite(r["ratio"]) and r["ratio"] > 0 and 0 < r["fairness"] <= 1
    assert results["runs"]["scheduler"]["1"]["ratio"] == 1.0
    for memory in results["memory"].values():
        assert 0.5 < memory["held_mb"] <= memory["peak_mb"]  # at least a model's weights, ~1 MB in float32
    rows = load.rows(results)
    assert [r["name"] for r in rows if r.get("target")] == ["2 visitors, scheduler",
                                                            "2 visitors, scheduler: fairness"]
    assert all(verdict(r).startswith(">= ") for r in rows if r.get("target"))
    table = [line for line in load.notes(results) if line.startswith("| ")]
    assert len(table) == 1 + 2 and table[0].startswith("| visitors |")


def test_visitors_option_is_checked(capsys):
    assert visitor_counts("1,2,4,8") == (1, 2, 4, 8)
    with pytest.raises(SystemExit) as exit_:
        main(["load", "--visitors", "1,two"])
    assert exit_.value.code == 2
    assert "expected whole numbers >= 1 separated by commas, got '1,two'" in capsys.readouterr().err
