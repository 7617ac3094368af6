"""Going live safely (issue 17, §6): on mainnet the first N entries each wait for the
operator's confirmation before any order is sent, and expire unconfirmed with their
decision. The real worker against exchange-sim in mode mainnet (the real python-binance
client); the admin site's side is tests/web/test_confirmations_web.py."""

from __future__ import annotations

from connectors.db import models as M  # noqa: N812
from connectors.loops.execution_worker import ExecutionWorker
from connectors.stores.execution_store import ExecutionStore
from tests.execution_support import FixedDecisions, decision, exec_config, step_market
from tests.simnet import exchange_for, start_sim


def mainnet_worker(sim, tmp_path, mode: str = "mainnet", required: int = 2) -> ExecutionWorker:
    cfg = exec_config(tmp_path, confirm_first_entries=required)
    cfg.values["mode"] = mode
    ex = exchange_for(sim)
    ex.t.backoff_s = 0.01
    w = ExecutionWorker(ex, cfg, ExecutionStore(), FixedDecisions(), tmp_path / "data" / "state.json")
    w.start()
    return w


def long_now(sim, did: int) -> dict:
    p = float(sim.venue.market.last_price())
    return decision(did, sim.venue.market.now_ms, "long", (p * 0.999, p * 1.001), p * 0.99, p * 1.01, p * 1.02,
                    size_usdt=0.01 * p)


def entry_sent(sim, did: int) -> bool:
    """An entry order of that decision reached the exchange (client ids end in _entry_<decision>)."""
    return any(cid.endswith(f"_entry_{did}") for cid in sim.venue.core.orders)


def control() -> dict:
    row = M.BotState.get_or_none(M.BotState.component == "control")
    return dict(row.details or {}) if row else {}


def operator_says(did: str, verdict: str) -> None:
    """What the admin site's confirm / reject writes (web/sections/confirmations.py)."""
    row = M.BotState.get(M.BotState.component == "control")
    d = dict(row.details)
    d["entry_confirmations"] = dict(d["entry_confirmations"])
    d["entry_confirmations"][did] = dict(d["entry_confirmations"][did], status=verdict, decided_by="admin")
    if verdict == "confirmed":
        d["entries_confirmed"] = int(d.get("entries_confirmed") or 0) + 1
    M.BotState.update(details=d).where(M.BotState.id == row.id).execute()


def test_mainnet_entry_waits_for_confirmation_then_goes(db, tmp_path) -> None:
    sim = start_sim()
    try:
        w = mainnet_worker(sim, tmp_path)
        w.decisions.current = long_now(sim, 7)
        for _ in range(3):
            out = w.run_once()
            assert out["intents"] == [] and sim.venue.core.orders == {}, "nothing sent before the operator says so"
        ask = control()["entry_confirmations"]["7"]
        assert ask["status"] == "pending" and ask["number"] == 1 and ask["of"] == 2
        assert "LONG BTCUSDT" in ask["plan"] and "SL" in ask["plan"] and "TP1" in ask["plan"]
        notes = list(M.Notification.select().where(M.Notification.code == "entry_confirmation_needed"))
        assert len(notes) == 1 and notes[0].level == "CRITICAL" and "waits for your confirmation" in notes[0].message
        operator_says("7", "confirmed")
        w.run_once()
        assert entry_sent(sim, 7)  # confirmed: the entry goes out
    finally:
        sim.stop()


def test_unconfirmed_entry_expires_with_its_decision_and_rejection_sends_nothing(db, tmp_path) -> None:
    sim = start_sim()
    try:
        w = mainnet_worker(sim, tmp_path)
        w.decisions.current = long_now(sim, 8)
        w.run_once()
        assert control()["entry_confirmations"]["8"]["status"] == "pending"
        step_market(sim, 11)  # decision_max_age_s 600 passes on the exchange's clock
        w.run_once()
        assert control()["entry_confirmations"]["8"]["status"] == "expired"
        assert M.Notification.select().where(M.Notification.code == "entry_confirmation_expired").count() == 1
        w.decisions.current = long_now(sim, 9)
        w.run_once()
        operator_says("9", "rejected")
        w.run_once()
        assert sim.venue.core.orders == {} and control().get("entries_confirmed") is None
    finally:
        sim.stop()


def test_only_the_first_n_entries_and_only_on_mainnet(db, tmp_path) -> None:
    sim = start_sim()
    try:
        w = mainnet_worker(sim, tmp_path, required=1)
        w.decisions.current = long_now(sim, 10)
        w.run_once()
        operator_says("10", "confirmed")
        w.run_once()
        assert entry_sent(sim, 10)
        w2 = mainnet_worker(sim, tmp_path / "b", required=1)  # the count is the account's, not the process's
        assert w2.confirmation.gate(long_now(sim, 11), True, control(), sim.venue.market.now_ms)[0] is not None
    finally:
        sim.stop()
    sim = start_sim()
    try:
        w = mainnet_worker(sim, tmp_path / "c", mode="testnet")
        w.decisions.current = long_now(sim, 12)
        w.run_once()  # (the same database: the first test's plan for decision 10 is dropped first)
        out = w.run_once()
        assert entry_sent(sim, 12), [(e.code, e.message) for e in out["events"]]  # testnet: no confirmation asked
    finally:
        sim.stop()


def test_the_operator_gets_the_trade_plan_on_telegram(db, tmp_path) -> None:
    from connectors.notify import alerts
    from tests.telegram_stub import telegram_stub

    sim = start_sim()
    try:
        with telegram_stub("123:tok", {"4242"}) as tg:
            w = mainnet_worker(sim, tmp_path)
            cfg = exec_config(tmp_path / "tg")
            cfg.values["telegram"].update({"bot_token": "123:tok", "chat_ids": ["4242"], "api_url": tg.url,
                                           "min_level": "WARNING"})
            notifier = alerts.Notifier(cfg, db)
            previous = alerts.install(notifier)
            try:
                w.decisions.current = long_now(sim, 21)
                w.run_once()
                assert notifier.flush(5)
            finally:
                alerts.install(previous)
                notifier.close(2)
            texts = [m.text for m in tg.messages]
            assert tg.violations == [] and len(texts) == 1, texts
            assert "[entry_confirmation_needed]" in texts[0]
            plan = control()["entry_confirmations"]["21"]["plan"]
            assert plan in texts[0] and "SL" in plan and "size" in plan
    finally:
        sim.stop()
