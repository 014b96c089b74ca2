"""Where the project's files live, found from this file so any working directory works."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"  # the catvnoncat .h5 files land here (git-ignored)
WEIGHTS_FILE = REPO_ROOT / "weights" / "cat_mlp.npz"  # the shipped pretrained model
