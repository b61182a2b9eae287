"""A CRM's leads and its won deals as two files (issue #24): joined by the mapping, audited as the
import reads them, and `leadscore mapping init` writing a mapping that audit and import take."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from core.errors import LeadscoreError
from features.contract import load_dataset
from features.flat import import_export, load_mapping
from tests.code.test_cli import run
from tests.data.b2b_export import mapping, write_export, write_mapping


@pytest.fixture
def export(tmp_path):
    leads, deals = write_export(tmp_path)
    return leads, deals, write_mapping(tmp_path / "mapping.yaml")


def test_leads_and_won_deals_import_without_a_hand_join(export, tmp_path):
    leads_path, deals_path, mapping_path = export
    counts = import_export(leads_path, load_mapping(mapping_path), tmp_path / "data")
    data = load_dataset(tmp_path / "data")
    leads, deals = pd.read_csv(leads_path, dtype=str), pd.read_csv(deals_path, dtype=str)
    assert (
        counts["leads"] == len(leads) and counts["accepted"] == len(deals) and counts["unmatched"] == {"deals.csv": 0}
    )
    outcomes = data.outcomes.set_index("lead_id")
    won = outcomes.loc[deals["mql_id"]]
    assert (won["decision"] == "accepted").all()
    assert (won["decided_at"] == pd.to_datetime(deals["won_date"].to_numpy(), utc=True)).all()  # the won date
    lost = outcomes.drop(index=deals["mql_id"])
    assert (lost["decision"] == "rejected").all() and (lost["decided_at"] == pd.Timestamp("2025-06-01", tz="UTC")).all()
    assert "seller_id" not in data.leads.columns and data.leads["company_size"].notna().all()


def test_deals_that_match_no_lead_are_counted(export, tmp_path):
    leads_path, deals_path, mapping_path = export
    deals = pd.read_csv(deals_path, dtype=str)
    orphan = deals.iloc[:2].assign(mql_id=["gone1", "gone2"])
    pd.concat([deals, orphan]).to_csv(deals_path, index=False)
    counts = import_export(leads_path, load_mapping(mapping_path), tmp_path / "data")
    assert counts["unmatched"] == {"deals.csv": 2} and counts["accepted"] == len(deals)


def test_two_deals_for_one_lead_are_named_by_file_column_and_rows(export, tmp_path):
    leads_path, deals_path, mapping_path = export
    deals = pd.read_csv(deals_path, dtype=str)
    pd.concat([deals, deals.iloc[[0]]]).to_csv(deals_path, index=False)
    with pytest.raises(
        LeadscoreError,
        match=rf"deals\.csv, column 'mql_id': 1 lead\(s\) have more than one row \(rows 1, {len(deals) + 1}\)",
    ):
        import_export(leads_path, load_mapping(mapping_path), tmp_path / "data")


def test_a_decision_time_only_where_won_names_the_deal_column_and_the_fallback(export, tmp_path):
    leads_path, _, _ = export
    times = mapping()["times"] | {"decided_at": "won_date"}
    plan = load_mapping(write_mapping(tmp_path / "strict.yaml", times=times))
    with pytest.raises(LeadscoreError) as info:
        import_export(leads_path, plan, tmp_path / "data")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'deals.csv'}, column 'won_date' (times.decided_at): empty for ")
    assert "decided_at: [won_date, exported_at]" in message and "'decided_at'" not in message


def test_a_bad_won_date_is_named_by_the_deal_file_its_column_and_the_lead(export, tmp_path):
    leads_path, deals_path, mapping_path = export
    deals = pd.read_csv(deals_path, dtype=str)
    deals.loc[deals.index[3], "won_date"] = "next tuesday"
    deals.to_csv(deals_path, index=False)
    with pytest.raises(LeadscoreError) as info:
        import_export(leads_path, load_mapping(mapping_path), tmp_path / "data")
    message = str(info.value)
    assert f"{tmp_path / 'deals.csv'}, column 'won_date'" in message and "expected a timestamp" in message
    assert f"mql_id '{deals.iloc[3]['mql_id']}'" in message and "column 'decided_at'" not in message


def test_an_undeclared_deal_column_is_refused_by_import_and_by_audit(export, tmp_path, capsys):
    leads_path, deals_path, _ = export
    files = mapping()["files"]
    del files["deals.csv"]["columns"]["seller_id"]
    mapping_path = write_mapping(tmp_path / "partial.yaml", files=files)
    with pytest.raises(LeadscoreError, match=r"deals\.csv: column\(s\) not in the mapping: seller_id"):
        import_export(leads_path, load_mapping(mapping_path), tmp_path / "data")
    code, out, err = run(capsys, "audit", str(leads_path), "--mapping", str(mapping_path))
    assert code == 1, err
    assert f"{deals_path}: column(s) not in the mapping: seller_id" in out
    assert "not declared" in next(line for line in out.splitlines() if "seller_id" in line and "│" in line)


def test_the_audit_reads_the_joined_table_and_agrees_with_the_exclusions(export, capsys):
    leads_path, _, mapping_path = export
    code, out, err = run(capsys, "audit", str(leads_path), "--mapping", str(mapping_path))
    assert code == 0, err
    flagged = out.split("flagged:")[1].splitlines()[0]
    for column in ("seller_id (leak)", "business_segment (leak)", "declared_monthly_revenue (leak)"):
        assert column in flagged
    assert "the mapping excludes every column the audit calls a leak" in out


def test_mapping_init_writes_a_mapping_the_audit_accepts_and_the_import_takes(export, tmp_path, capsys):
    leads_path, deals_path, _ = export
    out = tmp_path / "init.yaml"
    code, said, err = run(capsys, "mapping", "init", str(leads_path), str(deals_path), "--out", str(out))
    assert code == 0, err
    assert "3 excluded (3 as leaks)" in said
    text = out.read_text()
    plan = load_mapping(out)
    assert (
        plan.id_column == "mql_id" and plan.label.exists_in == "deals.csv" and plan.files["deals.csv"].key == "mql_id"
    )
    assert plan.times.decided_at == ["won_date", "exported_at"] and plan.times.mql_at == "first_contact_date"
    assert "Select" in plan.missing_values  # the placeholder of two form fields
    assert plan.columns["Employees"].as_ == "company_size" and plan.columns["page_views"].role == "counter"
    deal_roles = plan.files["deals.csv"].columns
    assert all(r.role == "exclude" and r.reason.startswith("the audit calls it a leak") for r in deal_roles.values())
    assert set(deal_roles) == {"seller_id", "business_segment", "declared_monthly_revenue"}
    assert "# guess:" in text and "'s1'" not in text  # guesses marked; the values the audit quotes are not
    code, said, err = run(capsys, "audit", str(leads_path), "--mapping", str(out))
    assert code == 0, err
    code, said, err = run(capsys, "import", str(leads_path), "--mapping", str(out), "--out", str(tmp_path / "data"))
    assert code == 0, err
    assert load_dataset(tmp_path / "data").outcomes["decision"].eq("accepted").sum() == len(pd.read_csv(deals_path))


def test_mapping_init_never_overwrites_and_asks_for_a_label_it_cannot_guess(export, tmp_path, capsys):
    leads_path, _, mapping_path = export
    before = mapping_path.read_text()
    code, _, err = run(capsys, "mapping", "init", str(leads_path), "--out", str(mapping_path))
    assert code == 2 and "already exists" in err and mapping_path.read_text() == before
    code, _, err = run(capsys, "mapping", "init", str(leads_path), "--out", str(tmp_path / "new.yaml"))
    assert code == 2 and "no label column found" in err and "--label" in err
    assert not (tmp_path / "new.yaml").exists()


def test_a_mapping_joining_files_needs_an_id_column(tmp_path):
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping(id_column=None)))
    with pytest.raises(LeadscoreError, match="files: joining files needs id_column"):
        load_mapping(tmp_path / "m.yaml")
