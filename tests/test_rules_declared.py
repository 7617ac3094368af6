"""Declared indicators and expressions (issue 11, items 1, 2, 5, 6): compile checks with
positions, the expression semantics, live == backtest values, durable_rules == reference."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from engine.analytics.batch import timeframe_frame
from engine.analytics.declared import function_info, timeframe_samples
from engine.backtest.loop import run_backtest, with_declared
from engine.backtest.params import BacktestParams
from engine.rules import expressions as X
from engine.rules.compiler import RulesRefused, compile_texts
from engine.rules.durable_backend import DurableRules
from engine.rules.runtime import evaluate
from engine.rules.samples import random_facts
from engine.rules.series import batch_facts, cycle_facts, frames_from_1m
from tests.rules_support import config

EXAMPLE = Path(__file__).resolve().parents[1] / "rules" / "examples" / "declared_ema_cross.yaml"
DAY = 86_400_000
HOUR = 3_600_000

HEAD = """ruleset: t
indicators:
  ema_fast: {function: EMA, timeframe: 1h, params: {timeperiod: 9}}
  ema_slow: {function: EMA, timeframe: 1h, params: {timeperiod: 21}}
  bb: {function: BBANDS, timeframe: 5m, params: {timeperiod: 20}, input: typprice}
expressions:
  up: "crosses_above(ema_fast, ema_slow)"
  wide: "pct(bb.upperband, bb.lowerband) > 1"
rules:
  - id: long.up
    stage: candidate
    when:
      expressions: {up: {eq: true}, wide: {eq: false}}
    then:
      candidate: {side: long}
    why: cross
"""


def _compile(text: str):
    return compile_texts({"s.yaml": text}, config())


def _refused(text: str) -> list[str]:
    with pytest.raises(RulesRefused) as exc:
        _compile(text)
    return [str(p) for p in exc.value.problems]


def test_declarations_compile_into_fact_fields():
    c = _compile(HEAD)
    d = c.declared
    assert [s.function for s in d.indicators] == ["EMA", "EMA", "BBANDS"]
    assert d.indicators[2].fields == ("bb.upperband", "bb.middleband", "bb.lowerband")   # TA-Lib's output names
    assert d.indicators[2].inputs == (("price", "typprice"),)
    assert d.leaves["expressions"] == {"up": "boolean", "wide": "boolean"}
    assert d.history == 1 and d.cycle_minutes is None
    assert c.paths == {"expressions": ("up", "wide")}
    assert c.warnings == []


@pytest.mark.parametrize("old, new, where, words", [
    ("function: EMA, timeframe: 1h, params: {timeperiod: 9}", "function: EMAX, timeframe: 1h", "s.yaml:3:24",
     "'EMAX' is not a TA-Lib function"),
    ("params: {timeperiod: 9}", "params: {period: 9}", "s.yaml:3:53", "EMA has no parameter 'period'"),
    ("params: {timeperiod: 9}", "params: {timeperiod: 0}", "s.yaml:3:52", "out of its range"),
    ("params: {timeperiod: 9}", "params: {timeperiod: 9.5}", "s.yaml:3:65", "expected an integer"),
    ("timeframe: 1h, params: {timeperiod: 9}", "timeframe: 2w", "s.yaml:3:40", "timeframe '2w'"),
    ("input: typprice", "input: vwap", "s.yaml:5:74", "'vwap'"),
    ("params: {timeperiod: 20}", "params: {timeperiod: 20, matype: 99}", "s.yaml:5:49", "matype 99"),
    ('"crosses_above(ema_fast, ema_slow)"', '"crosses_above(ema_fast, ema_slo)"', "s.yaml:7:32",
     "unknown name 'ema_slo'; did you mean 'ema_slow'"),
    ('"crosses_above(ema_fast, ema_slow)"', '"crosses_above(ema_fast > 1, ema_slow)"', "s.yaml:7:22",
     "crosses_above needs a number, got a boolean"),
    ('"crosses_above(ema_fast, ema_slow)"', '"crosses_above(ema_fast ema_slow)"', "s.yaml:7:31",
     "unexpected 'ema_slow'"),
    ('"crosses_above(ema_fast, ema_slow)"', "\"__import__('os').system('ls')\"", "s.yaml:7:19",
     "unexpected character"),
    ('"crosses_above(ema_fast, ema_slow)"', '"held(ema_fast > 1, 0)"', "s.yaml:7:27", "whole number of cycles"),
    ('"crosses_above(ema_fast, ema_slow)"', '"ema_fast > ${risk.nope}"', "s.yaml:7:19", "not a configuration value"),
    ("{up: {eq: true}, wide: {eq: false}}", "{up: {eq: 1}}", "s.yaml:13:30", "expected true or false"),
    ('"pct(bb.upperband, bb.lowerband) > 1"', '"bb > 1"', "s.yaml:8:10",
     "bb has several outputs (expected one of bb.upperband, bb.middleband, bb.lowerband)"),
])
def test_malformed_indicator_or_expression_is_refused_with_its_position(old, new, where, words):
    assert old in HEAD
    problems = _refused(HEAD.replace(old, new, 1))
    assert any(p.startswith(where) and words in p for p in problems), problems


def test_reading_an_undeclared_indicator_is_an_error_with_position_and_unused_is_a_warning():
    text = HEAD + """  - id: long.rsi
    stage: signal
    when:
      indicators: {rsi_14: {lt: 30}}
    then:
      score: {side: long, factor: rsi, weight: 0.1}
    why: oversold
"""
    problems = _refused(text)
    assert any(p.startswith("s.yaml:20:20:") and "no indicator 'rsi_14' is declared" in p for p in problems), problems
    c = _compile(HEAD.replace("expressions:\n", "  unused_rsi: {function: RSI, timeframe: 1h}\nexpressions:\n"))
    assert [str(w) for w in c.warnings] == [
        "s.yaml:6:3: indicator unused_rsi is declared but no rule or expression reads it (computed every cycle for nothing)"]


def test_cycle_is_one_timeframe_per_ruleset():
    assert _compile("cycle: 1h\n" + HEAD).declared.cycle_minutes == 60
    assert any("cycle: got '7m'" in p for p in _refused("cycle: 7m\n" + HEAD))


def test_every_talib_function_is_declarable_by_name():
    """Nothing hand-listed: each TA-Lib function compiles with its defaults and computes."""
    names = talib.get_functions()
    lines = []
    for n in names:
        info = function_info(n)
        extra = ""
        needs = [i for i, s in info["inputs"].items() if isinstance(s, str) and s not in
                 ("open", "high", "low", "close", "volume")]
        if needs:
            extra = ", inputs: {" + ", ".join(f"{i}: close" for i in needs) + "}"
        lines.append(f"  i_{n.lower()}: {{function: {n}, timeframe: 1h{extra}}}")
    c = _compile("ruleset: t\nindicators:\n" + "\n".join(lines) + "\n" + HEAD.split("indicators:\n", 1)[1])
    assert len(c.declared.indicators) == len(names) + 3
    assert len(c.warnings) == len(names)          # declared, never read: each one a warning
    rng = np.random.default_rng(1)
    close = 100 + np.cumsum(rng.normal(0, 1, 400))
    idx = pd.Index(np.arange(400, dtype=np.int64) * HOUR, name="open_time_ms")
    frame = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close,
                          "volume": rng.uniform(1, 5, 400)}, index=idx)
    got = timeframe_samples(c.declared.indicators, "1h", frame, [400 * HOUR])
    assert len(got) == sum(len(s.fields) for s in c.declared.indicators if s.timeframe == "1h")


def _column(vals):
    return np.array(vals, dtype=np.float64)


def test_expression_semantics_over_columns():
    names = {"a": ("number", 0), "b": ("number", 0), "ok": ("boolean", 0)}
    cols = {"a": _column([1, 2, 3, np.nan, 5, 6]), "b": _column([2, 2, 2, 2, 2, 7]),
            "ok": _column([1, 1, 0, 1, 1, 1])}

    def ev(text):
        node, _, _ = X.parse(text, names, lambda d: 0.5)
        return X.evaluate(node, cols, 6).tolist()

    def same(x, y):
        return all((u != u and v != v) or u == v for u, v in zip(x, y, strict=True))
    nan = float("nan")
    assert same(ev("crosses_above(a, b)"), [nan, 0, 1, nan, nan, 0])
    assert same(ev("crosses_below(a, b)"), [nan, 0, 0, nan, nan, 1])
    assert same(ev("crosses_above(a, 2.5)"), [nan, 0, 1, nan, nan, 0])
    assert same(ev("prev(a, 2)"), [nan, nan, 1, 2, 3, nan])
    assert same(ev("count_last(ok, 3)"), [nan, nan, 2, 2, 2, 3])
    assert same(ev("held(ok, 2)"), [nan, 1, 0, 0, 1, 1])
    assert same(ev("n_of_last(ok, 2, 3)"), [nan, nan, 1, 1, 1, 1])
    assert same(ev("pct(a, b)"), [-50, 0, 50, nan, 150, (6 - 7) / 7 * 100])
    assert same(ev("abs(a - b) + min(a, b) * max(1, ${x})"), [2, 2, 3, nan, 5, 7])
    assert same(ev("a / (b - 2)"), [nan, nan, nan, nan, nan, 1.2])       # division by zero is unknown
    # three-valued logic: false and unknown is false, true or unknown is true
    assert same(ev("a > 4 and ok"), [0, 0, 0, nan, 1, 1])
    assert same(ev("a > 2 or ok"), [1, 1, 1, 1, 1, 1])
    assert same(ev("not (a > 2)"), [1, 1, 0, nan, 0, 0])


def _synthetic_1m(days: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = days * 1440
    start = 1_747_008_000_000   # 2025-05-12 00:00 UTC
    close = 100_000 + np.cumsum(rng.normal(0, 40, n))
    opn = np.concatenate(([close[0]], close[:-1]))
    spread = rng.uniform(5, 60, n)
    idx = pd.Index(start + np.arange(n, dtype=np.int64) * 60_000, name="open_time_ms")
    return pd.DataFrame({"open": opn, "high": np.maximum(opn, close) + spread, "low": np.minimum(opn, close) - spread,
                         "close": close, "volume": rng.uniform(1, 50, n)}, index=idx)


def test_live_cycle_values_equal_the_backtest_batch_bit_for_bit():
    c = compile_texts({"s.yaml": EXAMPLE.read_text()}, config())
    d = c.declared
    candles = _synthetic_1m(14)
    frames = frames_from_1m(d, candles, timeframe_frame)
    start = int(candles.index[0]) + 8 * DAY
    times = list(range(start, start + 3 * DAY, HOUR))
    batch = batch_facts(d, frames, times, HOUR)
    rng = random.Random(3)
    picked = sorted({times[0], times[-1], start + DAY, start + DAY + HOUR, *rng.sample(times, 12)})
    seen_true = set()
    for t in picked:
        # What the live loader gives: only candles before T (the function keeps the closed ones).
        live_frames = {tf: f.loc[:t - 1] for tf, f in frames.items()}
        live = cycle_facts(d, live_frames, t, HOUR)
        assert live == batch[t], t
        seen_true |= {k for k, v in live["expressions"].items() if v is True}
    assert all(isinstance(v, float) for v in batch[times[-1]]["indicators"].values() if not isinstance(v, dict))
    assert {"trending"} <= seen_true | {k for v in batch.values() for k, x in v["expressions"].items() if x}


def test_durable_rules_and_reference_agree_on_declared_facts():
    c = compile_texts({"s.yaml": EXAMPLE.read_text()}, config())
    engine = DurableRules(c)
    try:
        rng = random.Random(11)
        outcomes = set()
        for i in range(1500):
            facts = random_facts(rng, c, none_rate=0.15 if i % 3 else 0.02)
            if i % 2:     # bias the booleans towards the conditions holding
                ex = facts.get("expressions")
                if isinstance(ex, dict):
                    for k in ("cross_up", "trending", "rsi_ok_long", "cross_down", "rsi_ok_short"):
                        ex[k] = ex.get(k) if rng.random() < 0.2 else True
            a, ta = evaluate(c, facts, engine)
            b, tb = evaluate(c, facts, "python")
            assert a == b, f"cycle {i}: durable {a} != python {b}"
            assert ta["not_fired"] == tb["not_fired"]
            assert not ta["disagreements"], ta["disagreements"]
            outcomes.add(a["action"])
    finally:
        engine.close()
    assert {"long", "short", "flat"} <= outcomes | {"flat"} and len(outcomes) >= 2


def test_backtest_computes_declared_facts_per_day_and_decides_at_the_ruleset_cycle():
    c = compile_texts({"s.yaml": EXAMPLE.read_text()}, config())
    candles = _synthetic_1m(12)
    t_from = int(candles.index[0]) + 8 * DAY
    t_to = t_from + 2 * DAY
    res = run_backtest(candles, t_from, t_to, config(), c, BacktestParams(), "python")
    ts = [d["t_ms"] for d in res.decisions]
    assert ts and all(t % HOUR == 0 for t in ts) and len(ts) == 49      # 1h cadence from `cycle: 1h`
    cycles = with_declared([{"t_ms": t, "snapshot": {}, "flow": {}} for t in ts], c.declared, candles, config())
    assert all(set(cy["declared"]) == {"indicators", "expressions"} for cy in cycles)
    assert any(cy["declared"]["expressions"]["trending"] is not None for cy in cycles)


def test_rules_check_and_run_show_declarations_and_each_value(tmp_path):
    """`showdown rules check` names the declarations and warns about unused ones;
    `showdown rules run` prints every indicator and expression value the decision used."""
    import json

    from click.testing import CliRunner

    from cli.main import showdown
    from engine.rules.samples import typical_long
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "strategy.yaml").write_text(EXAMPLE.read_text().replace(
        "indicators:\n", "indicators:\n  spare: {function: CCI, timeframe: 4h, params: {timeperiod: 20}}\n", 1))
    run = CliRunner()
    out = run.invoke(showdown, ["rules", "check", str(rules)])
    assert out.exit_code == 0, out.output
    assert "declared: 7 indicator(s), 7 expression(s), looking back 2 cycle(s); cycle 60 min" in out.output
    assert "warning: strategy.yaml:10:3: indicator spare is declared but no rule or expression reads it" in out.output
    c = compile_texts({"s.yaml": EXAMPLE.read_text()}, config())
    candles = _synthetic_1m(12)
    t = int(candles.index[0]) + 9 * DAY + 5 * HOUR
    facts = {**typical_long(), **cycle_facts(c.declared, frames_from_1m(c.declared, candles, timeframe_frame), t, HOUR)}
    facts["expressions"].update({"cross_up": True, "trending": True, "rsi_ok_long": True, "band_position_pct": 1.25})
    (tmp_path / "facts.json").write_text(json.dumps(facts))
    out = run.invoke(showdown, ["rules", "run", str(tmp_path / "facts.json"), "--rules-dir", str(rules)])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "[indicators] declared, at this cycle" in text and "[expressions] computed before the rules ran" in text
    # values read as the site shows them (engine/format.py): a plain number to the cent above 100
    assert f"ema_fast                 {facts['indicators']['ema_fast']:,.2f}" in text
    assert "bb.lowerband" in text and "BBANDS(nbdevdn=2.0, nbdevup=2.0, timeperiod=20, price=typprice) on 1h" in text
    assert "cross_up                 yes                    = crosses_above(ema_fast, ema_slow)" in text
    assert "+ long.cross_up" in text and "expressions.band_position_pct < 3.00 %   (was 1.25 %)" in text


def test_json_schema_knows_declarations_from_talib_metadata():
    """Editors validate and autocomplete `cycle`, `indicators` (TA-Lib's functions and each
    one's own parameters) and `expressions`, and rules reading them."""
    import jsonschema
    from ruamel.yaml import YAML

    from engine.rules.json_schema import build_schema
    validator = jsonschema.Draft202012Validator(build_schema())
    yaml = YAML(typ="safe", pure=True)
    assert not list(validator.iter_errors(yaml.load(EXAMPLE.read_text())))
    for old, new in [("function: ADX", "function: ADXX"), ("params: {timeperiod: 14}", "params: {period: 14}"),
                     ("timeframe: 1h, params: {timeperiod: 9}", "timeframe: 2h, params: {timeperiod: 9}"),
                     ("cycle: 1h", "cycle: 7m"), ("input: typprice", "input: vwap")]:
        bad = yaml.load(EXAMPLE.read_text().replace(old, new, 1))
        assert list(validator.iter_errors(bad)), new


def test_a_malformed_declaration_leaves_the_active_version_in_force():
    from engine.rules.registry import RulesRegistry
    files = {"s.yaml": EXAMPLE.read_text()}
    reg = RulesRegistry(lambda: (dict(files), {}), config, require_tests=False)
    try:
        first = reg.reload("startup")
        assert first.ok and reg.active is not None
        active = reg.active.version
        files["s.yaml"] = EXAMPLE.read_text().replace('"held(adx > 20, 3)"', '"held(adx > 20, three)"')
        out = reg.reload("watch")
        assert not out.ok and reg.active.version == active
        assert any(p.startswith("s.yaml:19:29: expression trending: held: expected a whole number") for p in out.problems), \
            out.problems
        files["s.yaml"] = EXAMPLE.read_text() + "\n"
        assert reg.reload("watch").ok and reg.active.version != active
    finally:
        reg.close()


def test_durable_rules_and_reference_agree_on_real_cycles_with_declared_facts(shared_data):
    """Real 1h cycles of the 51-day file (snapshot, flow, declared indicators and
    expressions as the backtest computes them, protections from a trade history): the
    two evaluators give the same decisions and why-nots, 0 mismatches."""
    from engine.protections import protection_facts
    from tests.rules_realdata import FILE_51D, differential, real_cycles
    c = compile_texts({"s.yaml": EXAMPLE.read_text()}, config())
    engine = DurableRules(c)
    df = pd.read_csv(shared_data / FILE_51D, index_col=0)
    cycles = [f for f in real_cycles(shared_data, config(), days=10) if f["snapshot"]["timestamp_ms"] % HOUR == 0]
    times = [f["snapshot"]["timestamp_ms"] for f in cycles]
    values = batch_facts(c.declared, frames_from_1m(c.declared, df, timeframe_frame), times, HOUR)
    trades = [{"closed_ms": t - (i % 7) * HOUR, "exit_reason": ("sl", "tp2", "close")[i % 3],
               "pnl": (-10, 5, -1)[i % 3], "side": "long"} for i, t in enumerate(times)]
    facts = [{**f, **values[t], "protections": protection_facts(reversed(trades[:i]), t)}
             for i, (f, t) in enumerate(zip(cycles, times, strict=True))]
    try:
        report = differential(c, engine, facts)
    finally:
        engine.close()
    assert report["cycles"] == len(times) >= 200
    assert report["mismatches"] == 0, report["first_mismatch"]
    seen = {k for f in facts for k, v in f["expressions"].items() if v is True}
    assert {"cross_up", "cross_down", "trending"} <= seen
    assert any(f["protections"]["stop_outs_4h"] for f in facts)


CASES = """
fixtures:
  quiet:
    snapshot: {price: 100000.0, timestamp_iso: "2025-06-01T12:00:00Z", volatility: {atr: {tf_5m: 150.0}},
               swings: {tf_5m: {low: 99500.0, high: 100500.0}}}
    account: {equity: 10000.0}
    expressions: {cross_up: false, cross_down: false, trending: true, rsi_ok_long: true, rsi_ok_short: true,
                  band_position_pct: 0.5, atr_pct: 1.0}
    protections: {stop_outs_4h: 0, losing_streak: 0, minutes_since_last_exit: null}
cases:
  - name: a cross up in a trend is a long
    base: quiet
    set: {expressions.cross_up: true}
    expect: {action: long, fired: [long.cross_up]}
  - name: a cross down in a trend is a short
    base: quiet
    set: {expressions.cross_down: true}
    expect: {action: short, fired: [short.cross_down]}
  - name: no trend, no trade
    base: quiet
    set: {expressions.cross_up: true, expressions.trending: false}
    expect: {action: flat, not_fired: [long.cross_up]}
  - name: unknown expression is no trade
    base: quiet
    set: {expressions.cross_up: null}
    expect: {action: flat}
  - name: too volatile
    base: quiet
    set: {expressions.cross_up: true, expressions.atr_pct: 3.5}
    expect: {action: flat, reason: too_volatile, fired: [risk.too_volatile]}
  - name: cooldown after a stop-out
    base: quiet
    set: {expressions.cross_up: true, protections.stop_outs_4h: 1}
    expect: {action: flat, reason: cooldown_after_stop}
  - name: three losses in a row pause for a day
    base: quiet
    set: {expressions.cross_down: true, protections.losing_streak: 3, protections.minutes_since_last_exit: 200}
    expect: {action: flat, reason: losing_streak, fired: [risk.losing_streak]}
"""


def test_rule_test_cases_set_declared_and_protection_facts():
    """Rule tests (rules/tests style) set `expressions.*`, `indicators.*` and `protections.*`
    like any fact: the example ruleset, every rule made to fire, on both evaluators."""
    from engine.rules.testcases import run_tests
    c = compile_texts({"s.yaml": EXAMPLE.read_text()}, config())
    engine = DurableRules(c)
    try:
        for eng in (engine, "python"):
            report = run_tests(c, eng, {"cases.yaml": CASES})
            assert report.ok, [(r.name, r.failures) for r in report.results if not r.ok] + report.problems
            assert report.uncovered() == []
    finally:
        engine.close()


FIELDS = HEAD.replace('''  wide: "pct(bb.upperband, bb.lowerband) > 1"''', '''  wide: "pct(bb.upperband, bb.lowerband) > 1"
  above: "close_1h > snapshot.indicators.tf_1h.ema_200 and flow.derivatives.funding.current < ${risk.max_funding_8h}"
  spread: "snapshot.price - ema_fast"''').replace("{up: {eq: true}, wide: {eq: false}}",
                                                "{up: {eq: true}, wide: {eq: false}, above: {eq: true}, spread: {gt: 0}}")


def test_expressions_read_snapshot_and_flow_fields_at_their_cycle_only():
    c = _compile(FIELDS)
    assert c.declared.fields == ("flow.derivatives.funding.current", "snapshot.indicators.tf_1h.ema_200",
                                 "snapshot.price")
    for bad, words in [('"prev(snapshot.price) > 1"', "prev: snapshot.price is read at this cycle only"),
                       ('"crosses_above(ema_fast, snapshot.indicators.tf_1h.ema_50)"',
                        "crosses_above: snapshot.indicators.tf_1h.ema_50 is read at this cycle only"),
                       ('"held(above, 3)"', "held: above is read at this cycle only"),
                       ('"snapshot.session.current > 1"', "unknown name 'snapshot.session.current'")]:
        text = FIELDS.replace('"snapshot.price - ema_fast"', '"snapshot.price - ema_fast"\n  extra: ' + bad)
        problems = _refused(text)
        assert any(words in p for p in problems), (bad, problems)
    # live (this cycle's snapshot and flow) == backtest (the cycles' documents), and the field matters
    d = c.declared
    candles = _synthetic_1m(10)
    frames = frames_from_1m(d, candles, timeframe_frame)
    start = int(candles.index[0]) + 8 * DAY
    times = list(range(start, start + DAY, 300_000))
    docs = {t: {"snapshot": {"price": 100_000.0 + (t // 300_000) % 7, "indicators": {"tf_1h": {"ema_200": (
        1.0 if (t // 300_000) % 2 else 1e9)}}}, "flow": {"derivatives": {"funding": {"current": 0.0001}}}}
        for t in times}
    batch = batch_facts(d, frames, times, 300_000, docs)
    for t in times[::17]:
        live = cycle_facts(d, {tf: f.loc[:t - 1] for tf, f in frames.items()}, t, 300_000, docs[t])
        assert live == batch[t]
        assert live["expressions"]["above"] is ((t // 300_000) % 2 == 1)
        assert live["expressions"]["spread"] == docs[t]["snapshot"]["price"] - live["indicators"]["ema_fast"]
    assert cycle_facts(d, frames, times[5], 300_000, {})["expressions"]["spread"] is None   # no snapshot: unknown


def test_backtest_cycles_give_expressions_their_own_snapshot_fields():
    from engine.analytics.batch import build_cycles
    c = _compile(FIELDS)
    candles = _synthetic_1m(10)
    t_from = int(candles.index[0]) + 8 * DAY
    cycles = with_declared(build_cycles(candles, t_from, t_from + 6 * HOUR, config(), with_flow=True),
                           c.declared, candles, config())
    assert len(cycles) == 73
    for cy in cycles:
        ind, ex = cy["declared"]["indicators"], cy["declared"]["expressions"]
        assert ex["spread"] == cy["snapshot"]["price"] - ind["ema_fast"]
