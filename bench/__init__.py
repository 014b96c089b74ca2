"""Benchmarks: the engine and the Trainer against hand-written NumPy (and PyTorch when installed).

Run `python -m bench` (or `make bench`); `python -m bench --help` lists the options. Every number is a
median, and every speed is a ratio to a baseline timed side by side in the same run, because absolute
times on a shared machine say more about the neighbours than about the code.
"""
