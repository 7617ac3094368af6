from __future__ import annotations

import copy
import json

from tests.input_fuzz import GOOD
from tests.web.conftest import api_token, csrf_from


def test_etf_paste_refused_with_paths_then_accepted_and_shown_in_flow(operator, admin, home):
    token = csrf_from(operator.get("/inputs/").get_data(as_text=True))
    bad = copy.deepcopy(GOOD["etf"])
    bad["history"][0]["net_flow_usd"] = "1,000"
    bad["as_of"] = "yesterday"
    resp = operator.post("/inputs/etf", data={"csrf_token": token, "payload": json.dumps(bad)})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="etf-problems"' in html and "$.history[0].net_flow_usd" in html and "$.as_of" in html
    assert "1,000" in html  # the draft is kept in the textarea
    assert not (home.data / "btc_etp_flow.json").exists()
    resp = operator.post("/inputs/etf", data={"csrf_token": token, "payload": json.dumps(GOOD["etf"])})
    assert resp.status_code == 302
    assert json.loads((home.data / "btc_etp_flow.json").read_text())["as_of"] == GOOD["etf"]["as_of"]
    flow = operator.get("/flow/").get_data(as_text=True)
    assert "2025-12-05" in flow and "87.3 M" in flow  # USD flows compact (issue 13)
    assert "input.etf" in admin.get("/audit/").get_data(as_text=True)


def test_sentiment_form_auto_label_and_api_inputs(operator, viewer):
    token = csrf_from(operator.get("/inputs/").get_data(as_text=True))
    resp = operator.post("/inputs/sentiment", data={"csrf_token": token, "as_of": "2025-12-07T00:00:00Z",
                                                    "score": "-1.5", "comment": "fud"})
    assert resp.status_code == 302
    assert "bearish" in operator.get("/flow/").get_data(as_text=True)
    api = api_token(operator)
    resp = operator.post("/api/input/sentiment", json={"as_of": "2025-12-07T00:00:00Z", "score": 2, "label": "bearish",
                                                       "comment": ""}, headers={"X-CSRFToken": api})
    assert resp.status_code == 422
    assert resp.get_json()["problems"][0]["path"].startswith("$.label") or "label" in resp.get_json()["problems"][0]["path"]
    resp = operator.post("/api/input/liquidations", json=GOOD["liquidations"], headers={"X-CSRFToken": api})
    assert resp.status_code == 200 and resp.get_json()["accepted"] is True
    assert operator.post("/api/input/nope", json={}, headers={"X-CSRFToken": api}).status_code == 404
    assert viewer.post("/api/input/etf", json=GOOD["etf"], headers={"X-CSRFToken": api_token(viewer)}).status_code == 403
