"""The data set's command line: put both catvnoncat files in data/ (copied or downloaded), or verify them.

    python -m model.fetch            # = make data
    python -m model.fetch --check    # only verify the SHA-256 of the files already there
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from model.dataset import DIR_ENV, URLS_ENV, DatasetError, check_catvnoncat, fetch_catvnoncat


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; 0 on success, 1 (with one `error:` line on stderr) on failure."""
    parser = argparse.ArgumentParser(
        prog="python -m model.fetch",
        description="Put the catvnoncat HDF5 files in data/, copied or downloaded, SHA-256 checked.")
    parser.add_argument("--dest", default=None, help="target folder (default: the project's data/)")
    parser.add_argument("--source-dir", action="append", metavar="DIR",
                        help=f"folder to copy from (repeatable; replaces ${DIR_ENV} and ../shared/data)")
    parser.add_argument("--url-base", action="append", metavar="URL",
                        help=f"base URL to download from (repeatable; replaces ${URLS_ENV} and the built-in mirrors)")
    parser.add_argument("--check", action="store_true", help="only verify the files already in the target folder")
    args = parser.parse_args(argv)
    try:
        if args.check:
            for path in check_catvnoncat(args.dest):
                print(f"{path}: SHA-256 ok")
        else:
            fetch_catvnoncat(args.dest, source_dirs=args.source_dir, urls=args.url_base)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
