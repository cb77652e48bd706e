import subprocess
import sys


def test_warmup_command_runs_every_step():
    # a fresh process, as after install: every step runs through the public API and succeeds
    out = subprocess.run([sys.executable, "-m", "projkit", "warmup"], capture_output=True,
                         text=True, timeout=900, check=True).stdout
    for step in ("sketches (float64)", "sketches (float32)", "factorizations (float64)",
                 "factorizations (float32)", "graphs", "sampling", "projectors", "total"):
        assert step in out
