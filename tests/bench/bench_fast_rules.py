"""The fast backtest engine against durable_rules on EVERY cycle of both real 1m files
(issue 16), for the default rules and every example ruleset (tests/fast_differential.py):

- one backtest per engine: every decision document equal (0 mismatches, printed),
  trades.csv and equity.csv byte-identical;
- every cycle on varied account / position facts: FastDecisions vs decide(durable),
  and the rebuilt trace equal to durable's on every 97th cycle;
- the columnar analytics (with the funding history) equal build_cycles' documents on
  every cycle: snapshot and flow documents, and every flow field's column.
Exit status 1 on any mismatch.
"""

from __future__ import annotations

import sys
import time

import _path  # noqa: F401

from engine.paths import shared_data_dir
from tests import fast_differential as D


def main() -> int:
    bad = 0
    only = sys.argv[1:]            # ruleset names to run (default: all)
    for fname in D.FILES:
        path = shared_data_dir() / fname
        if not path.exists():
            print(f"SKIP: {path} absent")
            continue
        df = D.load(path)
        t_from, t_to = D.period(df)
        c0 = time.process_time()
        same, cycles = D.columns_equal_documents(df, t_from, t_to, path.parent / D.FUNDING)
        bad += not same
        print(f"{fname}: columnar analytics of {cycles} cycles equal build_cycles' documents and columns: {same} "
              f"(CPU {time.process_time() - c0:.1f} s)", flush=True)
        for name, files, cfg in D.rulesets():
            if only and name not in only:
                continue
            c0 = time.process_time()
            compiled = D.compile_ruleset(files, cfg)
            cycles = D.market_cycles(df, t_from, t_to, compiled, cfg)
            bt = D.backtests(df, t_from, t_to, compiled, cfg)
            columns = D.market_cycles(df, t_from, t_to, compiled, cfg, columns=True)
            v = D.varied(compiled, cycles, columns, trace_at=range(0, len(cycles), 97))
            ok = (bt["mismatches"] == 0 and bt["trades_csv_same"] and bt["equity_csv_same"]
                  and v["mismatches"] == 0 and v["trace_mismatches"] == 0)
            bad += not ok
            print(f"{fname} {name}: backtest {bt['decisions']} decisions ({bt['not_flat']} not flat, "
                  f"{bt['trades']} trades): {bt['mismatches']} mismatches, trades.csv identical "
                  f"{bt['trades_csv_same']}, equity.csv identical {bt['equity_csv_same']}; varied account: "
                  f"{v['cycles']} cycles, {v['mismatches']} mismatches, {v['traces']} traces rebuilt, "
                  f"{v['trace_mismatches']} differ; CPU {time.process_time() - c0:.1f} s "
                  f"{'OK' if ok else 'FAIL'}", flush=True)
            for first in (bt["first"], v["first"]):
                if first:
                    print("  first mismatch:", str(first)[:3000])
    print(f"{'all equal' if not bad else f'{bad} ruleset/file pairs differ'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
