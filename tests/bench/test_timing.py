"""The bench's timing helpers: `steady_heap` keeps freed arrays in the heap, so no contender pays page
faults for what another one freed."""
import platform
import subprocess
import sys
import textwrap

import pytest

from model.paths import REPO_ROOT

# Three 5 MB arrays made and freed again and again: by default glibc hands the heap's free top back to
# the OS each time (its trim threshold follows the largest array freed), so every round faults some of them in again.
ROUNDS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from bench.timing import steady_heap
    if sys.argv[1] == "pinned":
        steady_heap()
    faults = []
    for _ in range(8):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        arrays = [np.ones((5 << 20) // 8) for _ in range(3)]
        del arrays
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(max(faults[2:]))  # after two rounds of warm-up
""")


def faults_per_round(heap: str) -> int:
    run = subprocess.run([sys.executable, "-c", ROUNDS, heap], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT)
    return int(run.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds only")
def test_a_pinned_heap_keeps_freed_arrays_for_the_next_round():
    assert faults_per_round("default") > 500  # megabytes faulted in again each round: what the bench pins away
    assert faults_per_round("pinned") < 20
