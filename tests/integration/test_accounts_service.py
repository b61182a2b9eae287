"""The account answer through the service: every `/score` answer carries its lead's account, read
from the lead and the contacts it sent; the buying group follows the contacts; `/score_batch`
answers each lead's account from what that lead sent; the score log keeps the account columns."""

from __future__ import annotations

import copy
import json

from sqlalchemy import create_engine, text

from core.schema import ACCOUNT
from tests.conftest import AUTH, PROJECT

REQUEST = json.loads((PROJECT / "serving" / "examples" / "score.json").read_text())
FINANCE = "no one from finance or procurement known yet"


def _without_finance() -> dict:
    """The README's example lead with its contacts, but not the finance director."""
    lead = copy.deepcopy(REQUEST["lead"])
    lead["contacts"] = [c for c in lead["contacts"] if c.get("department") != "finance"]
    return lead


def _finance_director(lead: dict) -> dict:
    """`lead` with a finance director of its account who attended a webinar a week before."""
    out = copy.deepcopy(lead)
    out["contacts"].append(
        {
            "lead_id": "L-cfo-office",
            "created_at": "2025-10-01T09:00:00Z",
            "job_title": "Director of Finance",
            "department": "finance",
            "events": [{"ts": "2025-12-23T16:00:00Z", "type": "webinar_attended"}],
        }
    )
    return out


def test_a_contact_with_a_missing_role_raises_completeness_and_leaves_the_missing_roles(client):
    before = client.post("/score", json={"lead": _without_finance()}, headers=AUTH).json()["account"]
    after = client.post("/score", json={"lead": _finance_director(_without_finance())}, headers=AUTH).json()["account"]
    assert FINANCE in before["missing_roles"] and FINANCE not in after["missing_roles"]
    assert after["completeness"] > before["completeness"]
    assert len(after["missing_roles"]) == len(before["missing_roles"]) - 1
    assert (after["contacts"], after["engaged_contacts"]) == (before["contacts"] + 1, before["engaged_contacts"] + 1)
    assert after["account_id"] == REQUEST["lead"]["account_id"]
    assert 0 < after["probability"] < 1 and after["grade"] in "ABCD" and isinstance(after["is_mqa"], bool)
    assert after["is_mqa"] == (after["probability"] >= after["threshold"])


def test_a_finance_contact_who_did_nothing_lately_is_known_but_not_engaged(client):
    lead = _finance_director(_without_finance())
    lead["contacts"][-1]["events"] = [{"ts": "2025-09-01T09:00:00Z", "type": "webinar_attended"}]  # 4 months old
    account = client.post("/score", json={"lead": lead}, headers=AUTH).json()["account"]
    assert FINANCE not in account["missing_roles"]
    assert any(words.startswith("someone in finance") and "not engaged" in words for words in account["missing_roles"])


def test_a_lead_without_contacts_is_its_own_account(client):
    lead = {k: v for k, v in REQUEST["lead"].items() if k not in ("contacts", "account_id")}
    answer = client.post("/score", json={"lead": lead}, headers=AUTH).json()
    assert answer["account"]["account_id"] == lead["lead_id"]
    assert answer["account"]["contacts"] == 1 and 0 < answer["account"]["probability"] < 1


def test_a_batch_answers_each_leads_account_from_what_that_lead_sent(client):
    alone = _without_finance()
    fuller = {**_finance_director(alone), "lead_id": "L-demo-9"}
    batch = client.post("/score_batch", json={"leads": [alone, fuller]}, headers=AUTH).json()
    one = client.post("/score", json={"lead": alone}, headers=AUTH).json()
    first, second = (item["result"]["account"] for item in batch)
    assert first == one["account"]  # the same account, another lead's contacts not pooled with it
    assert second["completeness"] > first["completeness"]


def test_the_rules_answer_has_the_buying_group_but_no_account_probability(client):
    lead = {k: v for k, v in _without_finance().items() if k != "events"}  # activity unknown: rules
    answer = client.post("/score", json={"lead": lead}, headers=AUTH).json()
    assert answer["scored_by"] == "rules"
    account = answer["account"]
    assert account["probability"] is None and account["grade"] is None and account["is_mqa"] is None
    assert account["missing_roles"] and 0 <= account["completeness"] <= 1


def test_the_score_log_keeps_the_account_columns(client, tmp_path):
    answer = client.post("/score", json={"lead": _finance_director(_without_finance())}, headers=AUTH).json()
    engine = create_engine(f"sqlite:///{tmp_path / 'feedback.db'}")
    names = [f.name for f in ACCOUNT]
    for _ in range(100):  # the log is written off the request path
        with engine.connect() as connection:
            row = connection.execute(text(f"SELECT {', '.join(names)} FROM scores")).mappings().first()
        if row is not None:
            break
        import time

        time.sleep(0.05)
    assert row is not None
    account = answer["account"]
    assert row["account_id"] == account["account_id"]
    assert abs(row["account_probability"] - account["probability"]) < 1e-6
    assert row["account_missing_roles"] == "; ".join(account["missing_roles"])
    assert row["account_contacts"] == account["contacts"]
