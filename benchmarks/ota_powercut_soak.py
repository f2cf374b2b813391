"""Power-cut soak: the OTA power-cut test with many more cuts per phase.

Usage: .venv/bin/python benchmarks/ota_powercut_soak.py [CUTS_PER_PHASE]  (default 500)

It runs tests/integration/ota/test_power_cut.py with OPENVISOR_POWERCUT_CUTS set,
so every phase (download, verify, install, first boot, confirm, rollback) gets
that many SIGKILLs at random points, and prints pytest's summary and timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Run the soak and return pytest's exit status."""
    cuts = sys.argv[1] if len(sys.argv) > 1 else "500"
    env = dict(os.environ, OPENVISOR_POWERCUT_CUTS=cuts)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--timeout=0"]
        + [str(ROOT / "tests" / "integration" / "ota" / "test_power_cut.py")],
        cwd=ROOT,
        env=env,
        check=False,
    )
    elapsed = time.monotonic() - started
    print(f"{cuts} cuts per phase, 6 phases: {elapsed:.1f} s, exit status {result.returncode}")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
