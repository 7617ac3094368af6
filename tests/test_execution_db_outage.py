"""The MariaDB outage with a position open, short (`make chaos` holds it 60 s): the position
stays protected every loop, the trade goes on to TP2, the outage and the recovery are
notified, and the books catch up with every fill (tests/chaos/db_outage_run.py)."""

from __future__ import annotations

import pytest

from tests.chaos import db_outage_run
from tests.conftest import mariadb_unreachable, skip_or_fail


@pytest.mark.mariadb
def test_database_outage_with_an_open_position(tmp_path, shared_data) -> None:
    why = mariadb_unreachable()
    if why:
        skip_or_fail(why)
    report = db_outage_run.run(tmp_path, hold_s=4.0)
    assert report["position_open_during_outage_s"] >= 4.0
    assert report["trade_exit"] == "tp2" and report["backlog_at_restore"] > 0
    assert report["outage_loops"] >= 4
