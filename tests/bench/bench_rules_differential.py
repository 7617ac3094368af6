"""durable_rules vs the reference evaluator on 20,000 random fact sets (facts.py
conformant, None mixed in, values biased to the rules' thresholds)."""

from __future__ import annotations

import collections
import random
import time

import _rules_common  # noqa: F401  (sys.path)

from engine.rules.runtime import evaluate
from engine.rules.samples import random_facts, typical_long, typical_short
from tests.rules_support import default_rules


def main(n: int = 20000) -> None:
    compiled, engine = default_rules()
    rng = random.Random(424242)
    mismatches = 0
    actions: collections.Counter[str] = collections.Counter()
    fired: set[str] = set()
    t = time.perf_counter()
    for i in range(n):
        base = (None, typical_long(), typical_short())[i % 3]
        facts = random_facts(rng, compiled, none_rate=(0.01, 0.05, 0.2)[i % 3], base=base, keep=0.9 if i % 2 else 0.5)
        a, ta = evaluate(compiled, facts, engine)
        b, tb = evaluate(compiled, facts, "python")
        if a != b or ta["not_fired"] != tb["not_fired"] or ta["disagreements"]:
            mismatches += 1
            if mismatches <= 3:
                print("MISMATCH", a, b, ta["disagreements"])
        actions[a["action"]] += 1
        fired.update(r for rs in a["fired"].values() for r in rs)
    dt = time.perf_counter() - t
    print(f"{n} random fact sets in {dt:.1f} s: {mismatches} mismatches between durable_rules and the reference; "
          f"actions {dict(actions)}; {len(fired)}/{len(compiled.rules)} rules fired at least once")
    if mismatches:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
