"""Long fuzz run of the human-input validators: >= 10,000 hostile payloads, never a crash.

Each case is either accepted (and its canonical output re-validates identically) or
refused with at least one problem carrying a JSON path. Prints the counts.
"""

from __future__ import annotations

import sys
import time

import _path  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.input_fuzz import GOOD, any_payload, check_outcome, check_text

COUNTS = {"cases": 0, "accepted": 0, "refused": 0}


def run(n: int) -> None:
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(sorted(GOOD)), data=st.data(), as_text=st.booleans())
    def case(kind, data, as_text):
        if as_text:
            raw = data.draw(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
            ok = check_text(kind, raw)
        else:
            ok = check_outcome(kind, data.draw(any_payload[kind]))
        COUNTS["cases"] += 1
        COUNTS["accepted" if ok else "refused"] += 1

    case()


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_500
    t0 = time.perf_counter()
    run(n)
    print(f"input fuzz: {COUNTS['cases']} cases in {time.perf_counter() - t0:.1f} s — "
          f"{COUNTS['accepted']} accepted, {COUNTS['refused']} refused with reasons, 0 crashes")
    return 0 if COUNTS["cases"] >= 10_000 else 1


if __name__ == "__main__":
    sys.exit(main())
