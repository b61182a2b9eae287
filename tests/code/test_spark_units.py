"""The Spark engine's own logic, without Spark: what each Spark task runs on one bucket of accounts,
paths, settings, and the error without the extra (default suite)."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from core.errors import LeadscoreError
from features import buying
from features.build import build_features, feature_names
from features.contract import ContractConfig
from features.defaults import load_rules
from features.settings import FeatureConfig
from features.spark import BUCKET, HANDOVER, bucket_features, conf_pairs, feature_schema, remote, session, where

T = pd.Timestamp("2025-06-01T12:00:00Z")


def _people() -> pd.DataFrame:
    """Two contacts of account A (one handed over twice) and one of B, as Spark hands a bucket over:
    one row per hand-over, leads without one once with an empty `__mql_at`."""
    base = dict(company_size=300, industry="software", country="US", region="north_america", source="webinar")
    rows = [
        dict(lead_id="a1", account_id="A", created_at=T - pd.Timedelta(days=60), job_title="VP Sales", **base),
        dict(lead_id="a1", account_id="A", created_at=T - pd.Timedelta(days=60), job_title="VP Sales", **base),
        dict(lead_id="a2", account_id="A", created_at=T - pd.Timedelta(days=30), job_title="Analyst", **base),
        dict(lead_id="b1", account_id="B", created_at=T - pd.Timedelta(days=10), job_title="CEO", **base),
    ]
    frame = pd.DataFrame(rows)
    frame[HANDOVER] = [T - pd.Timedelta(days=5), T, pd.NaT, T]
    frame[BUCKET] = 3
    for column in ("email_domain", "seniority", "department"):
        frame[column] = None
    return frame


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": ["a2", "a2", "a1", "b1"],
            # a2's pricing visit 2 days before a1's second hand-over counts for account A only
            # then; its later visit (after T) never counts; b1's demo request at exactly T counts
            "ts": [T - pd.Timedelta(days=2), T + pd.Timedelta(hours=1), T - pd.Timedelta(days=20), T],
            "type": ["pricing_page_view", "pricing_page_view", "webinar_attended", "demo_request"],
            BUCKET: 3,
        }
    )


def test_a_bucket_gives_the_single_machine_features_of_each_handover():
    """What every Spark task runs equals `build_features` over the same accounts."""
    people, events = _people(), _events()
    table = bucket_features(people, events, None, True, FeatureConfig(), ContractConfig(), load_rules())
    leads = people.drop(columns=[BUCKET, HANDOVER]).drop_duplicates("lead_id").reset_index(drop=True)
    rows = people.loc[people[HANDOVER].notna(), ["lead_id", HANDOVER]].rename(columns={HANDOVER: "mql_at"})
    rows = rows.merge(leads, on="lead_id")
    expected = build_features(rows, events.drop(columns=[BUCKET]), "mql_at", population=leads)
    assert list(table["lead_id"]) == ["a1", "a1", "b1"]  # a2 was never handed over
    for name in feature_names():
        left, right = table[name].astype(object).tolist(), expected[name].astype(object).tolist()
        assert pd.Series(left).equals(pd.Series(right)) or pd.Series(left, dtype=float).equals(
            pd.Series(right, dtype=float)
        ), name
    # account A: a2's visit 2 days before the second hand-over is in, its visit after T is out
    assert table["account_engagement_decayed"].iloc[1] > table["account_engagement_decayed"].iloc[0]
    assert table["has_demo_request"].tolist() == [0.0, 0.0, 1.0]  # b1's request at exactly T counts
    assert set(table.columns) >= {"rule_score", "rule_is_mql"}


def test_a_bad_value_in_a_bucket_names_the_lead_not_a_row_number():
    people = _people()
    people.loc[3, "company_size"] = -1
    with pytest.raises(RuntimeError) as info:
        bucket_features(people, _events(), None, True, FeatureConfig(), ContractConfig(), None, "s3a://lake/crm")
    assert "s3a://lake/crm/leads.parquet, column 'company_size'" in str(info.value)
    assert str(info.value).endswith("1 row(s) fail: lead_id 'b1'")  # the lead, never the cell's value


def test_several_bad_values_in_a_bucket_come_back_as_one_error_line():
    from features.spark import spark_error

    people = _people()
    people.loc[3, "company_size"] = -1
    people.loc[0, "created_at"] = None  # a second problem, in another column
    with pytest.raises(RuntimeError) as info:
        bucket_features(people, _events(), None, True, FeatureConfig(), ContractConfig(), None, "s3a://lake/crm")
    # as Spark reports a failed task: the Python traceback around the task's message
    error = spark_error(Exception(f"Job aborted.\nTraceback (most recent call last):\n{info.value}\n  at ..."))
    assert error is not None and "\n" not in str(error) and str(error).count(" | ") >= 1
    assert "column 'company_size'" in str(error) and "column 'created_at'" in str(error)


def test_feature_schema_lists_every_feature_with_text_for_categories():
    fields = feature_schema(FeatureConfig(), ContractConfig()).split(", ")
    names = [f.split(" ")[0].strip("`") for f in fields]
    context = buying.columns(FeatureConfig())  # the buying group's columns follow the features
    assert names == ["lead_id", "account_id", "as_of", *feature_names(), *context, "rule_score", "rule_is_mql"]
    assert "`segment` string" in fields and "`company_size` double" in fields


def test_paths_settings_and_the_missing_extra(monkeypatch):
    assert remote("s3a://lake/crm") and remote("dbfs:/lake") and remote("abfss://c@a.dfs.core.windows.net/x")
    assert not remote("/data/crm") and not remote("data/crm")
    assert where("s3a://lake/crm/", "leads") == "s3a://lake/crm/leads.parquet"
    assert where("catalog:main.crm", "events") == "main.crm.events" and where("catalog:", "leads") == "leads"
    assert conf_pairs(["spark.driver.memory=8g", "a.b = c"]) == {"spark.driver.memory": "8g", "a.b": "c"}
    with pytest.raises(LeadscoreError, match="expected KEY=VALUE"):
        conf_pairs(["spark.driver.memory"])
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(LeadscoreError, match=r"needs pyspark: install the extra"):
        session("local[1]")
