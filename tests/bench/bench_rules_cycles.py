"""Full decision cycles per second (facts -> decision + trace) with the default rules,
and RSS before/after 100,000 cycles."""

from __future__ import annotations

import os
import random
import time

import _rules_common  # noqa: F401  (sys.path)
from _rules_common import rss_mb

from engine.decision import decide
from engine.rules.samples import random_facts, typical_long, typical_short
from tests.rules_support import default_rules


def main() -> None:
    compiled, engine = default_rules()
    rng = random.Random(1)
    bases = [typical_long(), typical_short()]
    variants = [random_facts(rng, compiled, 0.05, base=bases[i % 2], keep=0.9) for i in range(500)]
    for f in variants[:200]:
        decide(compiled, f, engine)
    print(f"default rules: {len(compiled.rules)} rules, version {compiled.version}")
    for label, eng in (("durable_rules", engine), ("reference (python)", "python")):
        n = 10000
        t, c = time.perf_counter(), time.process_time()
        for i in range(n):
            decide(compiled, variants[i % len(variants)], eng)
        dt, cpu = time.perf_counter() - t, time.process_time() - c
        print(f"{label:>20}: {n / dt:8.0f} cycles/s wall ({dt / n * 1e6:.0f} µs), CPU {cpu / n * 1e6:.0f} µs per cycle "
              f"= {n / cpu:.0f} cycles/s of CPU (decision + trace, mixed facts); load average {os.getloadavg()[0]:.1f}")
    facts = typical_long()
    n = 10000
    t = time.perf_counter()
    for _ in range(n):
        decide(compiled, facts, engine)
    dt = time.perf_counter() - t
    print(f"{'durable, long setup':>20}: {n / dt:8.0f} cycles/s  ({dt / n * 1e6:.0f} µs per cycle)")
    before = rss_mb()
    t = time.perf_counter()
    for i in range(100_000):
        decide(compiled, variants[i % len(variants)], engine)
    dt = time.perf_counter() - t
    after = rss_mb()
    print(f"100,000 cycles in {dt:.1f} s: RSS before {before:.1f} MB, after {after:.1f} MB (delta {after - before:+.1f} MB)")


if __name__ == "__main__":
    main()
