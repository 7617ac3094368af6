"""Build the reviewed fixture: snapshot + flow at 2025-12-07T12:00:00Z from the real data.

Run `python -m tests.fixture_2025_12_07 --write` to regenerate after a reviewed change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from engine.analytics.batch import derive_timeframes
from engine.analytics.flow import build_flow
from engine.analytics.snapshot import build_snapshot
from engine.inputs import validate_etf, validate_liquidations
from tests.analytics_data import (
    ETF_PER_FUND,
    FILE_NOV,
    FUNDING,
    LIQ_SNAPSHOTS,
    candles_1m,
    config,
    shared,
    shared_json,
)

T_MS = 1765108800000  # 2025-12-07T12:00:00Z
FIXTURE = Path(__file__).parent / "fixtures" / "analytics_2025-12-07T12-00Z.json"


def build() -> dict:
    df = candles_1m(FILE_NOV)
    cfg = config()
    snap = build_snapshot(derive_timeframes(df[df.index < T_MS]), T_MS, cfg)
    etf, p1 = validate_etf(shared_json(ETF_PER_FUND))
    liq, p2 = validate_liquidations(shared_json(LIQ_SNAPSHOTS), at_ms=T_MS)
    assert not p1 and not p2
    funding = pd.read_csv(shared(FUNDING)).to_numpy()
    flow = build_flow(snap, {"funding": funding, "candles_1m": df}, {"etf": etf, "liquidations": liq}, T_MS, cfg)
    return {"snapshot": snap, "flow": flow}


if __name__ == "__main__":
    doc = build()
    text = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True)
    if "--write" in sys.argv:
        FIXTURE.parent.mkdir(exist_ok=True)
        FIXTURE.write_text(text + "\n", encoding="utf-8")
    print(text)
