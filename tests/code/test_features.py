"""Code tests for the feature pipeline: batch/single parity, the category vocabulary, fit parsing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import buying
from features.build import KEYS, build_features, feature_names
from features.contract import ContractConfig, empty_events
from features.defaults import HERE, load_features_config
from features.fit import parse_seniority
from features.settings import FeatureConfig
from features.transformer import learn_categories


@pytest.fixture(scope="module")
def crm(demo_tables):
    leads, events, outcomes = demo_tables["leads"], demo_tables["events"], demo_tables["outcomes"]
    events = events.assign(lead_id=events["lead_id"].astype(str), type=events["type"].astype(str))
    handovers = outcomes[["lead_id", "mql_at"]].merge(leads, on="lead_id")
    return leads, events, handovers


@pytest.fixture(scope="module")
def batch(crm):
    leads, events, handovers = crm
    return build_features(handovers, events, "mql_at", population=leads)


def test_one_lead_alone_equals_its_row_in_the_batch(crm, batch):
    leads, events, handovers = crm
    # a hand-over whose account had several known and engaged contacts: account features matter
    i = batch.index[(batch["account_contacts"] >= 3) & (batch["account_engaged_contacts_30d"] >= 2)][0]
    row = handovers.loc[[i]]
    colleagues = leads[leads["account_id"] == row["account_id"].iloc[0]]
    own_events = events[events["lead_id"].isin(colleagues["lead_id"])]
    alone = build_features(row, own_events, "mql_at", population=colleagues)
    expected = batch.loc[[i]]
    assert alone["account_contacts"].iloc[0] >= 2
    pd.testing.assert_frame_equal(alone, expected, check_exact=False, rtol=1e-9, atol=1e-12)


def test_chunks_of_whole_accounts_give_the_features_of_the_whole(crm, batch):
    """`leadscore score` builds features chunk by chunk, each chunk with only its accounts' leads
    and events: every row once, no account split, and the same features as all at once."""
    from features.build import account_chunks

    leads, events, handovers = crm
    chunks = account_chunks(handovers, leads, events, size=len(handovers) // 7)
    assert len(chunks) >= 6
    rows = np.concatenate([where for where, _, _ in chunks])
    assert sorted(rows) == list(range(len(handovers)))
    owners = [set(handovers["account_id"].iloc[where]) for where, _, _ in chunks]
    assert sum(map(len, owners)) == len(set().union(*owners))  # no account in two chunks
    parts = [
        build_features(handovers.iloc[where], events.iloc[acts], "mql_at", population=leads.iloc[people])
        for where, people, acts in chunks
    ]
    again = pd.concat(parts).loc[batch.index]
    pd.testing.assert_frame_equal(again, batch, check_exact=False, rtol=1e-9, atol=1e-12)


def test_row_order_and_extra_rows_do_not_change_a_row(crm, batch):
    leads, events, handovers = crm
    shuffled = handovers.sample(frac=1.0, random_state=3)
    again = build_features(shuffled, events.sample(frac=1.0, random_state=4), "mql_at", population=leads)
    pd.testing.assert_frame_equal(again.loc[batch.index], batch, check_exact=False, rtol=1e-9, atol=1e-12)


def test_renaming_a_lead_changes_nothing_but_its_id(crm, batch):
    leads, events, handovers = crm
    i = handovers.index[0]
    old = handovers.loc[i, "lead_id"]
    rename = {old: "renamed-lead"}
    renamed = build_features(
        handovers.replace({"lead_id": rename}),
        events.replace({"lead_id": rename}),
        "mql_at",
        population=leads.replace({"lead_id": rename}),
    )
    assert renamed.loc[i, "lead_id"] == "renamed-lead"
    pd.testing.assert_frame_equal(renamed.drop(columns="lead_id"), batch.drop(columns="lead_id"))


def test_engagement_features_are_not_all_empty(batch):
    assert (batch["n_events_30d"] > 0).mean() > 0.5
    assert batch["has_pricing_view"].mean() > 0.05
    assert batch["account_engaged_contacts_30d"].max() >= 3
    assert set(batch["segment"]) <= {"smb", "mid_market", "enterprise", "unknown"}


def test_feature_names_match_the_built_columns(batch):
    assert list(batch.columns[len(KEYS) :]) == [*feature_names(), *buying.columns(FeatureConfig())]  # context last


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("VP of Sales", "vp"),
        ("Vice President, Marketing", "vp"),
        ("SVP Revenue", "vp"),
        ("V.P. IT", "vp"),
        ("Chief Revenue Officer", "c_level"),
        ("CEO", "c_level"),
        ("Founder & CEO", "c_level"),
        ("CMO", "c_level"),
        ("Head of Growth", "director"),
        ("Director of IT", "director"),
        ("Dir. Finance", "director"),
        ("Marketing Manager", "manager"),
        ("Mgr, Sales", "manager"),
        ("Team Lead - Ops", "manager"),
        ("Summer Intern", "intern"),
        ("Working Student", "intern"),
        ("Trainee", "intern"),
        ("PhD student", "student"),
        ("Undergraduate", "student"),
        ("MBA Student", "student"),
        ("Data Analyst", "individual_contributor"),
        ("c-level", "c_level"),
        ("Astronaut", None),
    ],
)
def test_seniority_from_title(title, level):
    parsed = parse_seniority(np.array([title], dtype=object), FeatureConfig())[0]
    assert parsed == level or (level is None and parsed is None)


def test_flat_leads_without_events_get_features(crm):
    leads, _, _ = crm
    flat = leads.head(50).assign(as_of=pd.Timestamp("2026-01-01", tz="UTC"))
    out = build_features(flat, empty_events(), "as_of")
    assert len(out) == 50 and (out["n_events_90d"] == 0).all()
    assert list(out.columns[len(KEYS) :]) == [*feature_names(), *buying.columns(FeatureConfig())]


def test_categories_seen_too_rarely_are_left_out_of_the_vocabulary():
    frame = pd.DataFrame({"industry": ["software"] * 5 + ["retail"] * 4 + [None] * 9, "region": [1] * 18})
    assert learn_categories(frame, ["industry"]) == {"industry": ["software"]}
    assert learn_categories(frame, ["industry", "region"], min_frequency=4) == {
        "industry": ["retail", "software"],
        "region": ["1"],
    }


def test_counter_columns_pass_through_as_features(crm):
    leads, _, _ = crm
    contract = ContractConfig(counter_columns=["TotalVisits"])
    flat = leads.head(5).assign(TotalVisits=[0, 3, None, 10, 1])
    out = build_features(flat, pd.DataFrame(columns=["lead_id", "ts", "type"]), "2026-01-01", contract=contract)
    assert out["TotalVisits"].tolist()[:2] == [0, 3] and np.isnan(out["TotalVisits"].iloc[2])
    assert "TotalVisits" in feature_names(contract=contract)


def test_shipped_features_yaml_equals_the_defaults():
    assert load_features_config(HERE / "features.yaml") == FeatureConfig()


def test_bad_as_of_is_named(crm):
    leads, events, handovers = crm
    from core.errors import LeadscoreError

    rows = handovers.head(3).assign(mql_at=[pd.Timestamp("2024-05-01", tz="UTC"), None, None])
    with pytest.raises(LeadscoreError, match=r"as_of: missing or unparseable time in row\(s\) 2, 3"):
        build_features(rows, events, "mql_at", population=leads)


def test_segment_groups_are_the_same_for_a_request_and_a_batch():
    """Each distinct segment (as text) and its rows: a slice of every row for one segment, else a
    mask; a batch (numpy's unique) finds the same segments and rows as a request (a dict)."""
    from features.arrays import groups

    def found(values):
        rows = np.arange(len(values))
        return {segment: rows[where].tolist() for segment, where in groups(values)}

    assert groups(np.array(["smb"], dtype=object)) == [("smb", slice(None))]
    few = np.array(["smb", None, "enterprise", "smb"], dtype=object)
    assert found(few) == {"smb": [0, 3], "None": [1], "enterprise": [2]}
    many = found(np.tile(few, 200))  # 800 rows: numpy's strategy
    assert many == {segment: [r + 4 * k for k in range(200) for r in rows] for segment, rows in found(few).items()}


def test_a_changed_setting_is_a_new_config_never_a_stale_lookup(crm):
    """What features read on every call is worked out once per config (`features.settings.derived`):
    a config cannot be changed in place, and a copy with other windows gets columns, and values,
    of its own windows."""
    from pydantic import ValidationError

    leads, events, _ = crm
    config = FeatureConfig()
    build_features(leads.head(20), events, "2025-12-31T00:00:00Z", config=config)
    with pytest.raises(ValidationError, match="frozen"):
        config.engaged_window_days = 60
    with pytest.raises(ValidationError, match="frozen"):  # the contract's event types are cached too
        ContractConfig().event_types = ["page_view"]
    other = config.model_copy(update={"windows_days": [14], "engaged_window_days": 60})
    built = build_features(leads.head(20), events, "2025-12-31T00:00:00Z", config=other)
    assert set(feature_names(other)) <= set(built.columns) and "n_events_14d" in built.columns
    assert "n_events_30d" not in built.columns and "account_engaged_contacts_60d" in built.columns
