"""`python -m bench --quick` runs end to end and its numbers are usable (no timing is asserted)."""
import json
import math

import pytest

from bench import app, step, train
from bench.__main__ import main, verdict


def finite_ratios(rows):
    return [row["ratio"] for row in rows if row.get("ratio") is not None]


def test_quick_step_and_predict(data_dir, tmp_path, capsys):
    out = tmp_path / "latest.json"
    assert main(["--quick", "--reps", "2", "step", "predict", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    ratios = finite_ratios(results["rows"])
    assert ratios and all(math.isfinite(r) and r > 0 for r in ratios)
    for dtype in ("float64", "float32"):
        checks = results["results"]["step"][dtype]["weight_check"]
        assert {"engine primitives", "Trainer"} <= set(checks)
        assert all(c["ok"] for c in checks.values()), checks
    assert results["results"]["predict"]["same_output"]
    assert "ratio vs baseline" in capsys.readouterr().out


def test_quick_train_subprocesses(data_dir):
    results = train.run(dtypes=("float64",), epochs=2, reps=1)
    runs = results["float64"]["runs"]
    assert set(runs) == set(train.IMPLS)
    for run in runs.values():
        assert math.isfinite(run["ratio"]) and math.isfinite(run["memory_ratio"]) and run["peak_mb"] > 0
        assert abs(run["cost_0"] - 0.771749) < 1e-6
    assert train.rows(results) and train.notes(results)


def test_quick_app_drives_the_page_and_the_fragment_loop(data_dir):
    results = app.run(None, reps=1, seconds=0.5, warmup=0)
    rows = app.rows(results)
    expected = [name for name in app.NAMES if results["browser"] or name != app.BROWSER]
    assert [row["name"] for row in rows] == expected
    assert all(math.isfinite(row["ratio"]) and row["ratio"] > 0 for row in rows)
    assert verdict(rows[1]).startswith(">= 0.8x: ") and app.notes(results)
    assert [verdict(row) for row in rows[2:]] == ["" for _ in rows[2:]]  # the browser's and AppTest's: no target
    assert verdict({"ratio": 0.5, "target": 0.8, "target_kind": "min_ratio"}) == ">= 0.8x: MISSED"


def test_step_rows_are_the_median_over_fresh_processes(data_dir):
    from model.dataset import load_catvnoncat

    results = step.run(load_catvnoncat(), dtypes=("float32",), reps=2, warmup=0, check_steps=2, processes=2)
    timed = results["float32"]
    assert timed["processes"] == 2 and all(c["ok"] for c in timed["weight_check"].values())
    for group in ("one_step", "in_a_row", "ten_epochs"):
        for row in timed[group].values():
            assert len(row["process_ratios"]) == 2 and all(r > 0 and math.isfinite(r) for r in row["process_ratios"])
            assert row["ratio"] == pytest.approx(sum(row["process_ratios"]) / 2)  # the median of two
    assert any("median over 2 fresh processes" in line for line in step.notes(results))


def test_median_over_processes_takes_each_contender_median_and_the_quartiles_of_its_ratios():
    def one(ratio, ms):
        return {"one_step": {"hand": {"median_ms": 2.0, "ratio": 1.0, "page_faults": 0.0},
                             "engine": {"median_ms": ms, "ratio": ratio, "page_faults": 1.0}},
                "pytorch": None, "in_a_row": {}, "ten_epochs": {}}

    combined = step.median_over_processes([one(1.02, 2.1), one(1.10, 2.3), one(1.04, 2.2), one(1.06, 2.4),
                                           one(1.08, 2.0)])
    engine = combined["one_step"]["engine"]
    assert engine["ratio"] == 1.06 and engine["median_ms"] == 2.2  # an outlier process moves neither
    assert engine["ratio_iqr"] == [1.04, 1.08] and engine["process_ratios"] == [1.02, 1.10, 1.04, 1.06, 1.08]
    assert combined["pytorch"] is None and combined["one_step"]["hand"]["ratio"] == 1.0


def test_processes_below_one_is_refused_with_a_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--processes", "0", "step"])
    assert exit_info.value.code == 2 and "--processes must be at least 1, got 0" in capsys.readouterr().err
