"""Longer schemathesis run against /api/openapi.json (200 examples per operation);
prints the time taken and the result. Usage: python tests/bench/bench_api_fuzz.py [EXAMPLES]"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    n = sys.argv[1] if len(sys.argv) > 1 else "200"
    started = time.perf_counter()
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/web/test_api_fuzz.py"],
                         cwd=ROOT, env={**os.environ, "SHOWDOWN_FUZZ_EXAMPLES": n})
    print(f"api fuzz: {n} examples per operation, exit {rc}, {time.perf_counter() - started:.1f} s")
    sys.exit(rc)
