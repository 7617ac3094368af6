"""The contract with Binance, from Binance's own documented examples (tests/fixtures/binance/).

1. The connector reads every documented answer correctly (its real code, fed the
   documented JSON through a transport that answers with the fixtures).
2. exchange-sim answers the same requests with exactly the documented keys and value
   types: no invented field, none missing.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from connectors.binance import BinanceExchange, parse
from engine.exchange.errors import AccountModeRefused, UnknownOrder
from engine.exchange.types import OrderRequest
from tests.simnet import exchange_for, start_sim

FIXTURES = Path(__file__).parent / "fixtures" / "binance"
# Documented only for TRAILING_STOP_MARKET orders (the type of the order examples).
TRAILING_ONLY = {"activatePrice", "priceRate"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())["response"]


def test_every_fixture_names_its_documentation_page() -> None:
    files = sorted(FIXTURES.glob("*.json"))
    assert len(files) >= 25
    for f in files:
        doc = json.loads(f.read_text())
        assert doc["documentation"].startswith("https://developers.binance.com/docs/derivatives/usds-margined-futures/"), f
        assert doc["endpoint"].split()[0] in ("GET", "POST", "PUT", "DELETE"), f
        assert "transcribed_from" in doc and "response" in doc, f


# --- 1. the connector reads the documented answers -------------------------------------

class FixtureTransport:
    """Answers each python-binance call with the documented example."""

    def __init__(self, answers: dict[tuple[str, str], Any]):
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, method: str, weight: int = 1, signed: bool = False, retry_lost: bool = True, **params: Any) -> Any:
        self.calls.append((method, params))
        kind = "algo" if params.get("conditional") or "clientAlgoId" in params or "algoId" in params else (
            "by_id" if "orderId" in params else "plain")
        for key in ((method, kind), (method, "")):
            if key in self.answers:
                answer = self.answers[key]
                if isinstance(answer, Exception):
                    raise answer
                return answer
        raise AssertionError(f"no documented answer for {method} {params}")


def connector(answers: dict[tuple[str, str], Any]) -> BinanceExchange:
    return BinanceExchange({"api_key": "k", "api_secret": "s"}, transport=FixtureTransport(answers))  # type: ignore[arg-type]


def test_connector_reads_documented_orders() -> None:
    o = parse.order(fixture("order_new"))
    assert (o.client_order_id, o.order_id, o.status, o.quantity, o.filled_qty) == ("testOrder", 22542179, "NEW",
                                                                                 D("10"), D(0))
    q = parse.order(fixture("order_query"))
    assert (q.client_order_id, q.type, q.stop_price, q.avg_price) == ("abc", "TRAILING_STOP_MARKET", D("9300"), D(0))
    c = parse.order(fixture("order_cancel"))
    assert (c.client_order_id, c.status) == ("myOrder1", "CANCELED")
    assert [x.order_id for x in map(parse.order, fixture("open_orders"))] == [1917641]


def test_connector_reads_documented_algo_orders() -> None:
    new = parse.order(fixture("algo_order_new"))
    assert (new.client_order_id, new.order_id, new.status, new.stop_price, new.quantity) == (
        "6B2I9XVcJpCjqPAJ4YoFX7", 2146760, "NEW", D("750.000"), D("0.01"))
    assert new.filled_qty == 0  # an algo answer carries no fill
    queried = parse.algo_order(fixture("algo_order_query"))
    assert queried.status == "CANCELED" and queried.filled_qty == 0
    opened = [parse.algo_order(d) for d in fixture("open_algo_orders")]
    assert [(o.client_order_id, o.status) for o in opened] == [("MRumok0dkhrP4kCm12AHaB", "NEW")]


def test_a_triggered_algo_order_is_read_through_its_actual_order() -> None:
    """Finding 1: the fill of a triggered stop lives in the order `actualOrderId` names."""
    algo = fixture("algo_order_query") | {"algoStatus": "FINISHED", "actualOrderId": "1573346959",
                                          "actualPrice": "750.100"}
    actual = fixture("order_query") | {"orderId": 1573346959, "type": "MARKET", "origType": "MARKET",
                                       "status": "FILLED", "executedQty": "0.01", "avgPrice": "750.10"}
    ex = connector({("futures_get_order", "plain"): UnknownOrder("Order does not exist.", -2013),
                    ("futures_get_order", "algo"): algo, ("futures_get_order", "by_id"): actual})
    o = ex.order("BNBUSDT", "6B2I9XVcJpCjqPAJ4YoFX7")
    assert (o.status, o.filled_qty, o.avg_price, o.client_order_id) == ("FILLED", D("0.01"), D("750.10"),
                                                                        "6B2I9XVcJpCjqPAJ4YoFX7")
    assert ("futures_get_order", {"symbol": "BNBUSDT", "orderId": 1573346959}) in ex.t.calls  # type: ignore[attr-defined]


def test_connector_reads_documented_account() -> None:
    positions = fixture("position_risk_v3")
    ex = connector({("futures_account_balance", ""): fixture("balance_v3"),
                    ("futures_position_information", ""): positions})
    b = ex.balance()
    # equity = wallet balance + the unrealised PnL of every position (not crossUnPnl)
    assert (b.wallet_balance, b.unrealized_pnl, b.available) == (D("122607.35137903"), D("0.76427700"),
                                                                D("23.72469206"))
    p = ex.positions("ADAUSDT")[0]
    assert (p.quantity, p.entry_price, p.unrealized_pnl, p.leverage) == (D("30"), D("0.385"), D("0.76427700"), 20)
    assert set(fixture("position_mode_get")) == {"dualSidePosition"}
    assert fixture("leverage")["leverage"] == 21 and fixture("margin_type")["code"] == 200


def test_connector_reads_documented_account_history() -> None:
    ex = connector({("futures_account_trades", ""): fixture("account_trades"),
                    ("futures_income_history", ""): fixture("income_history")})
    t = ex.account_trades("BTCUSDT")[0]
    assert (t.trade_id, t.order_id, t.side, t.price, t.quantity, t.realized_pnl, t.commission, t.time_ms) == (
        698759, 25851813, "SELL", D("7819.01"), D("0.002"), D("-0.91539999"), D("0.07819010"), 1569514978020)
    r = ex.income_history("BTCUSDT")[0]
    assert (r.income_type, r.income, r.asset, r.time_ms, r.tran_id, r.trade_id) == (
        "TRANSFER", D("-0.37500000"), "USDT", 1570608000000, 9689322392, "")


def test_connector_names_a_hedge_mode_position() -> None:
    """Finding 6: a LONG/SHORT position is refused by name, never ignored."""
    hedged = [fixture("position_risk_v3")[0] | {"positionSide": "LONG"}]
    ex = connector({("futures_position_information", ""): hedged})
    with pytest.raises(AccountModeRefused, match="ADAUSDT LONG 30"):
        ex.positions("ADAUSDT")


def test_connector_reads_documented_market_data() -> None:
    ex = connector({("futures_mark_price", ""): fixture("premium_index"), ("futures_time", ""): fixture("server_time"),
                    ("futures_order_book", ""): fixture("depth"), ("futures_funding_rate", ""): fixture("funding_rate"),
                    ("futures_open_interest", ""): fixture("open_interest"),
                    ("futures_open_interest_hist", ""): fixture("open_interest_hist")})
    pi = ex.premium_index("BTCUSDT")
    assert (pi.mark_price, pi.last_funding_rate, pi.next_funding_time_ms) == (D("11793.63104562"), D("0.00038246"),
                                                                             1597392000000)
    assert ex.server_time_ms() == 1499827319559
    d = ex.depth("BTCUSDT")
    assert d.bids == [(D("4.00000000"), D("431.00000000"))] and d.time_ms == 1589436922959
    assert ex.funding_history("BTCUSDT")[0].rate == D("-0.03750000")
    assert ex.open_interest("BTCUSDT").open_interest == pytest.approx(10659.509)
    assert ex.open_interest_history("BTCUSDT")[0].open_interest_value == pytest.approx(176196512.12345678)


# --- 2. exchange-sim answers with exactly the documented shapes ------------------------

def shape(x: Any) -> Any:
    """Keys and JSON value types, recursively (lists by their first element)."""
    if isinstance(x, dict):
        return {k: shape(v) for k, v in x.items()}
    if isinstance(x, list):
        return [shape(x[0])] if x else []
    return type(x).__name__


def assert_same_shape(sim: Any, doc: Any, where: str, ignore: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    if isinstance(doc, list):
        assert isinstance(sim, list) and sim, f"{where}: expected a non-empty list, got {sim!r}"
        assert_same_shape(sim[0], doc[0], where + "[0]", ignore)
        return
    if isinstance(doc, dict):
        assert isinstance(sim, dict), f"{where}: expected an object, got {sim!r}"
        want, got = set(doc) - ignore, set(sim) - ignore
        assert got == want, f"{where}: invented {sorted(got - want)}, missing {sorted(want - got)}"
        for k in want:
            assert_same_shape(sim[k], doc[k], f"{where}.{k}", ignore)
        return
    assert type(sim) is type(doc), f"{where}: {type(sim).__name__} {sim!r}, documented {type(doc).__name__} {doc!r}"


@pytest.fixture(scope="module")
def sim():
    running = start_sim()
    yield running
    running.stop()


def _client(sim: Any):
    return exchange_for(sim).t.client


def test_sim_answers_orders_with_documented_shapes(sim) -> None:
    c = _client(sim)
    price = D(str(sim.venue.market.last_price()))
    limit = format((price * D("0.97")).quantize(D("0.1")), "f")
    new = c.futures_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.010", price=limit,
                                 timeInForce="GTC", newClientOrderId="contract_limit_1")
    assert_same_shape(new, fixture("order_new"), "POST /fapi/v1/order")
    got = c.futures_get_order(symbol="BTCUSDT", origClientOrderId="contract_limit_1")
    assert_same_shape(got, fixture("order_query"), "GET /fapi/v1/order", TRAILING_ONLY)
    opened = c.futures_get_open_orders(symbol="BTCUSDT")
    assert_same_shape(opened, fixture("open_orders"), "GET /fapi/v1/openOrders", TRAILING_ONLY)
    cancelled = c.futures_cancel_order(symbol="BTCUSDT", origClientOrderId="contract_limit_1")
    assert_same_shape(cancelled, fixture("order_cancel"), "DELETE /fapi/v1/order", TRAILING_ONLY)
    assert_same_shape(c.futures_cancel_all_open_orders(symbol="BTCUSDT"), fixture("cancel_all_open_orders"),
                      "DELETE /fapi/v1/allOpenOrders")


def test_sim_answers_algo_orders_with_documented_shapes(sim) -> None:
    c = _client(sim)
    price = D(str(sim.venue.market.last_price()))
    stop = format((price * D("0.9")).quantize(D("0.1")), "f")
    new = c.futures_create_order(symbol="BTCUSDT", side="SELL", type="STOP_MARKET", stopPrice=stop,
                                 closePosition="true", clientAlgoId="contract_sl_1")
    assert "executedQty" not in new and "avgPrice" not in new
    assert_same_shape(new, fixture("algo_order_new"), "POST /fapi/v1/algoOrder")
    got = c.futures_get_order(symbol="BTCUSDT", clientAlgoId="contract_sl_1")
    assert_same_shape(got, fixture("algo_order_query"), "GET /fapi/v1/algoOrder")
    opened = c.futures_get_open_orders(symbol="BTCUSDT", conditional=True)
    assert_same_shape(opened, fixture("open_algo_orders"), "GET /fapi/v1/openAlgoOrders")
    cancelled = c.futures_cancel_order(symbol="BTCUSDT", clientAlgoId="contract_sl_1")
    assert_same_shape(cancelled, fixture("algo_order_cancel"), "DELETE /fapi/v1/algoOrder")
    assert_same_shape(c.futures_cancel_all_open_orders(symbol="BTCUSDT", conditional=True),
                      fixture("cancel_all_algo_open_orders"), "DELETE /fapi/v1/algoOpenOrders")


def test_sim_answers_account_with_documented_shapes(sim) -> None:
    c = _client(sim)
    assert_same_shape(c.futures_account_balance(), fixture("balance_v3"), "GET /fapi/v3/balance")
    assert_same_shape(c.futures_account(), fixture("account_v2"), "GET /fapi/v2/account")
    v3 = c._request_futures_api("get", "account", True, 3, data={})
    assert_same_shape({k: v for k, v in v3.items() if k != "positions"},
                      {k: v for k, v in fixture("account_v3").items() if k != "positions"}, "GET /fapi/v3/account")
    assert_same_shape(c.futures_change_leverage(symbol="BTCUSDT", leverage=7), fixture("leverage"),
                      "POST /fapi/v1/leverage")
    assert_same_shape(c.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED"), fixture("margin_type"),
                      "POST /fapi/v1/marginType")
    assert_same_shape(c.futures_get_position_mode(), fixture("position_mode_get"), "GET /fapi/v1/positionSide/dual")
    # a position, so that positionRisk v3 and account v3 list it
    c.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010",
                           newClientOrderId="contract_mkt_1")
    risk = c.futures_position_information(symbol="BTCUSDT")
    assert_same_shape(risk, fixture("position_risk_v3"), "GET /fapi/v3/positionRisk")
    assert "leverage" not in risk[0] and "marginType" not in risk[0]
    v3 = c._request_futures_api("get", "account", True, 3, data={})
    assert_same_shape(v3["positions"], fixture("account_v3")["positions"], "GET /fapi/v3/account positions")
    c.futures_create_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.010", reduceOnly="true",
                           newClientOrderId="contract_mkt_2")
    # the account's own history: both fills as trades, their PnL and commission as income
    trades = c.futures_account_trades(symbol="BTCUSDT")
    assert_same_shape(trades, fixture("account_trades"), "GET /fapi/v1/userTrades")
    assert [(t["side"], t["qty"]) for t in trades[-2:]] == [("BUY", "0.010"), ("SELL", "0.010")]
    income = c.futures_income_history(symbol="BTCUSDT")
    assert_same_shape(income, fixture("income_history"), "GET /fapi/v1/income")
    assert "COMMISSION" in {r["incomeType"] for r in income}  # (no REALIZED_PNL row for a PnL of 0, as Binance)


def test_sim_answers_market_data_with_documented_shapes(sim) -> None:
    c = _client(sim)
    assert_same_shape(c.futures_mark_price(symbol="BTCUSDT"), fixture("premium_index"), "GET /fapi/v1/premiumIndex")
    assert_same_shape(c.futures_time(), fixture("server_time"), "GET /fapi/v1/time")
    assert_same_shape(c.futures_order_book(symbol="BTCUSDT", limit=5), fixture("depth"), "GET /fapi/v1/depth")
    assert_same_shape(c.futures_funding_rate(symbol="BTCUSDT", limit=3), fixture("funding_rate"),
                      "GET /fapi/v1/fundingRate")
    assert_same_shape(c.futures_open_interest(symbol="BTCUSDT"), fixture("open_interest"), "GET /fapi/v1/openInterest")
    assert_same_shape(c.futures_open_interest_hist(symbol="BTCUSDT", period="5m", limit=3),
                      fixture("open_interest_hist"), "GET /futures/data/openInterestHist")
    info, doc = c.futures_exchange_info(), fixture("exchange_info")
    # The documented example merges the filters into one object (see the fixtures' README):
    # top-level and symbol-level keys are compared, the filters by the fields we read.
    assert set(info) == set(doc), f"exchangeInfo: {sorted(set(info) ^ set(doc))}"
    sym = info["symbols"][0]
    assert set(sym) == set(doc["symbols"][0]), sorted(set(sym) ^ set(doc["symbols"][0]))
    assert {"PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "MIN_NOTIONAL", "PERCENT_PRICE"} <= {
        f["filterType"] for f in sym["filters"]}
    row = c.futures_klines(symbol="BTCUSDT", interval="1m", limit=1)[0]
    # Binance's documented kline row: 12 values, times as integers, prices as strings.
    assert len(row) == 12 and [type(x).__name__ for x in row] == ["int", "str", "str", "str", "str", "str", "int",
                                                                  "str", "int", "str", "str", "str"]


def test_connector_over_the_sim_places_and_reads_a_conditional_order(sim) -> None:
    ex = exchange_for(sim)
    price = D(str(sim.venue.market.last_price()))
    ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="contract_mkt_3"))
    tp = (price * D("1.5")).quantize(D("0.1"))
    placed = ex.place_order(OrderRequest("BTCUSDT", "SELL", "TAKE_PROFIT_MARKET", D("0.005"), stop_price=tp,
                                         reduce_only=True, client_order_id="contract_tp_1"))
    assert placed.status == "NEW" and placed.stop_price == tp
    assert [o.client_order_id for o in ex.open_orders("BTCUSDT")] == ["contract_tp_1"]
    ex.cancel_all("BTCUSDT")
    ex.place_order(OrderRequest("BTCUSDT", "SELL", "MARKET", D("0.010"), reduce_only=True,
                                client_order_id="contract_mkt_4"))
    assert ex.positions("BTCUSDT")[0].quantity == 0
