"""Company sizes from exports (issue #24): numbers and bands become `company_size`, so leads land in
segments; what cannot be read is counted and named by row, never echoed."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract import ContractConfig, folder_config, load_dataset
from features.fit import fit_features
from features.settings import FeatureConfig
from features.sizes import read_size
from tests.code.test_cli import run
from tests.data.b2b_export import write_export, write_mapping


def _segment(size: int | None) -> str:
    leads = {"company_size": pd.Series([size], dtype="Int64")} | {
        name: pd.Series([None], dtype=object)
        for name in ("email_domain", "job_title", "seniority", "department", "industry", "country", "region", "source")
    }
    return fit_features(leads, FeatureConfig(), ContractConfig())["segment"][0]


@pytest.mark.parametrize(
    ("text", "size", "segment"),
    [
        ("1-10", 1, "smb"),
        ("51-200", 51, "smb"),
        ("201-500", 201, "mid_market"),
        ("200 - 499", 200, "mid_market"),
        ("501-1000", 501, "mid_market"),
        ("1001-5000", 1001, "enterprise"),
        ("1K-5K", 1000, "enterprise"),
        ("10,001+", 10001, "enterprise"),
        ("5001 to 10000", 5001, "enterprise"),
        ("500 or more", 500, "mid_market"),
        ("<10", 1, "smb"),
        ("1,200", 1200, "enterprise"),
        ("1.5k", 1500, "enterprise"),
        ("1200.0", 1200, "enterprise"),
        ("150 employees", 150, "smb"),
    ],
)
def test_numbers_and_bands_read_as_their_lower_bound_in_the_right_segment(text, size, segment):
    assert read_size(text) == size
    assert _segment(read_size(text)) == segment


@pytest.mark.parametrize("text", ["about fifty", "12.5", "1.200", "500-100", "n/a", "-5"])
def test_what_is_not_a_size_is_not_guessed(text):
    assert read_size(text) is None


def test_an_export_with_numbers_and_bands_imports_into_every_segment(capsys, tmp_path):
    leads_path, _ = write_export(tmp_path)
    leads = pd.read_csv(leads_path, dtype=str)
    leads.loc[[4, 9], "Employees"] = ["lots", "Jane Doe"]  # unreadable: counted, named by row, never echoed
    leads.to_csv(leads_path, index=False)
    mapping_path = write_mapping(tmp_path / "mapping.yaml")
    code, out, err = run(
        capsys, "import", str(leads_path), "--mapping", str(mapping_path), "--out", str(tmp_path / "d")
    )
    assert code == 0, err
    said = " ".join(out.split())
    assert "column 'Employees': 2 value(s) not read as a company size" in said and "rows 5, 10" in said
    assert "lots" not in out + err and "Jane Doe" not in out + err
    data = load_dataset(tmp_path / "d")
    segments = fit_features(data.leads, FeatureConfig(), folder_config(tmp_path / "d"))["segment"]
    counts = pd.Series(segments).value_counts()
    assert counts["unknown"] == 2 and {"smb", "mid_market", "enterprise"} <= set(counts.index)
    assert counts[["smb", "mid_market", "enterprise"]].min() >= 50


def test_company_size_cannot_be_a_counter(tmp_path):
    from core.errors import LeadscoreError
    from features.flat import load_mapping

    path = write_mapping(tmp_path / "m.yaml", columns={"Employees": {"role": "counter", "as": "company_size"}})
    with pytest.raises(
        LeadscoreError, match=r"\['company_size'\] are profile columns of the contract: give them role fit"
    ):
        load_mapping(path)
