import subprocess
import sys
from pathlib import Path

from model.train import main
from model.weights import load_weights

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_trains_reports_and_writes_weights(tmp_path, capsys, data_dir):
    out = tmp_path / "w.npz"
    assert main(["--epochs", "101", "--out", str(out), "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out
    assert "Cost after epoch 0: 0.771749" in printed
    assert "Cost after epoch 100: 0.672053" in printed
    assert "Train accuracy:" in printed and "Test accuracy:" in printed
    model, meta = load_weights(out)
    assert meta["epochs"] == 101 and meta["lr"] == 0.0075 and meta["optimizer"] == "sgd"


def test_a_missing_dataset_is_one_clear_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "model.train", "--data-dir", str(tmp_path), "--epochs", "1",
                          "--out", str(tmp_path / "w.npz")], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "make data" in run.stderr
    assert not (tmp_path / "w.npz").exists()
