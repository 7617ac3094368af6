"""`showdown backtest` end to end over stored real candles: a run and a comparison with a
second rules version, the *_backtest tables and backtest_runs rows, the exports (CSV, PNG
charts, one self-contained HTML report, the compare report), and byte-identical reruns."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from click.testing import CliRunner

from cli.main import showdown
from connectors.db.models import BacktestRun, DecisionBacktest, EquityPointBacktest, TradeBacktest
from connectors.market.market_import import import_klines
from tests.analytics_data import FILE_NOV
from tests.rules_support import RULES_DIR

PERIOD = ["--from", "2025-12-01", "--to", "2025-12-04T23:55:00Z"]
EMA = RULES_DIR / "examples" / "ema_cross.yaml"


def test_backtest_compare_exports_and_reruns(db, backend, shared_data: Path, tmp_path: Path) -> None:
    import_klines(shared_data / FILE_NOV)
    env = {**backend.env, "SHOWDOWN_HOME": str(backend.home.root)}
    run = CliRunner()
    out_a = tmp_path / "a"
    res = run.invoke(showdown, ["backtest", *PERIOD, "--rules", str(EMA), "--compare", str(RULES_DIR),
                                "--out", str(out_a)], env=env)
    assert res.exit_code == 0, res.output
    m = re.search(r"compare: run (\d+) \(\w+\) vs run (\d+) \(\w+\): (\d+) of (\d+) decisions differ", res.output)
    assert m, res.output
    run_a, run_b, differing, compared = (int(g) for g in m.groups())
    assert compared == 4 * 288 and 0 < differing <= compared  # 4 days of 5-minute cycles; two strategies differ
    assert {r.id for r in BacktestRun.select()} == {run_a, run_b}
    a = BacktestRun.get_by_id(run_a)
    assert a.status == "done" and a.trade_count == TradeBacktest.select().where(TradeBacktest.run == run_a).count() > 0
    assert DecisionBacktest.select().where(DecisionBacktest.run == run_a).count() == compared
    assert EquityPointBacktest.select().where(EquityPointBacktest.run == run_a).count() > 0
    # the summary line and the compare lines formatted by meaning: cents, 2-place percents and ratios
    line = next(x for x in res.output.splitlines() if x.startswith(f"run {run_a}:"))
    assert re.fullmatch(rf"run {run_a}: rules \w{{12}}, [\d,]+ minutes, \d+ trades, net [+-]?[\d,]+\.\d\d USDT "
                        r"\([+-]?\d+\.\d\d %\), max DD -?\d+\.\d\d %, Sharpe (-?\d+\.\d\d|—), "
                        r"win rate (\d+\.\d\d %|—)", line), line
    assert re.search(r"net_profit: [+-]?[\d,]+\.\d\d \| [+-]?[\d,]+\.\d\d\n", res.output), res.output
    # the notes are shown as they are (Backtests page, API): text, not a JSON dict
    assert re.fullmatch(r"\d+ trades; events (\w+ \d+, )*\w+ \d+(; .*)?", a.notes), a.notes
    assert "{" not in a.notes and '"' not in a.notes, a.notes

    with (out_a / "trades.csv").open() as f:
        trades = list(csv.DictReader(f))
    assert len(trades) == a.trade_count
    for name in ("equity.png", "r_histogram.png"):
        assert (out_a / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out_a / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)  # self-contained: nothing fetched
    # formatted by meaning (issue 13): no raw float, no dict/list repr, no epoch number as a time
    visible = re.sub(r'src="data:[^"]+"', "", html)
    assert not re.search(r"\d\.\d{5,}|\de[-+]\d", visible), re.search(r".{60}(\d\.\d{5,}|\de[-+]\d).{20}", visible)
    assert not re.search(r"[{\[](&quot;|&#x27;|\"|')", visible)
    assert not re.search(r"(?<![\d.])1[5-9]\d{8}(\d{3})?(?![\d.])", visible)
    assert "<h3>by volatility regime</h3>" in html and "Sharpe" in html and "Calmar" in html
    report = json.loads((out_a / "compare.json").read_text())
    assert report["decisions_differing"] == differing and len(report["differences"]) > 0
    first = report["differences"][0]
    assert first["a"]["action"] != first["b"]["action"] or first["fields"]
    assert "trace_a" in first and "trace_b" in first  # both traces, to see why they differ

    out_again = tmp_path / "again"
    again = run.invoke(showdown, ["backtest", *PERIOD, "--rules", str(EMA), "--out", str(out_again)], env=env)
    assert again.exit_code == 0, again.output
    for name in ("trades.csv", "equity.csv"):
        assert (out_again / name).read_bytes() == (out_a / name).read_bytes()
