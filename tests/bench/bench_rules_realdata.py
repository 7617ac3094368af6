"""durable_rules vs the reference evaluator on EVERY cycle of the real 51-day file
(snapshot + flow from engine.analytics.build_cycles, varied account/position facts)."""

from __future__ import annotations

import time

import _rules_common  # noqa: F401  (sys.path)

from engine.config import load_config
from engine.paths import shared_data_dir
from tests.rules_realdata import FILE_51D, differential, real_cycles
from tests.rules_support import default_rules


def main() -> int:
    data = shared_data_dir()
    if not (data / FILE_51D).exists():
        print(f"SKIP: {data / FILE_51D} absent")
        return 0
    compiled, engine = default_rules()
    t, c = time.perf_counter(), time.process_time()
    report = differential(compiled, engine, real_cycles(data, load_config(env={})))
    print(f"{report['cycles']} real cycles in {time.perf_counter() - t:.1f} s (CPU {time.process_time() - c:.1f} s): "
          f"{report['mismatches']} mismatches; actions {report['actions']}")
    if report["mismatches"]:
        print("first mismatch:", report["first_mismatch"])
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
