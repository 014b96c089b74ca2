"""`python -m bench --quick` runs end to end and its numbers are usable (no timing is asserted)."""
import json
import math

from bench import app, train
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
