"""Calendar features of the hand-over (month, weekday, hour), asked for in a flat export's mapping
and computed from the scoring time only, on the business's clock."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from features import buying
from features.build import KEYS, build_features, feature_names
from features.contract import FIT_CATEGORICAL, FIT_NUMERIC, ContractConfig, folder_config, load_dataset
from features.settings import FeatureConfig
from tests.code.test_cli import run

EMPTY_EVENTS = pd.DataFrame({"lead_id": [], "ts": pd.to_datetime([], utc=True), "type": []})


def _leads(n: int) -> pd.DataFrame:
    frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)], "account_id": [f"A{i}" for i in range(n)]})
    frame["created_at"] = pd.Timestamp("2025-01-01", tz="UTC")
    for column in (*FIT_CATEGORICAL, *FIT_NUMERIC):  # a lead with no fit attributes given
        frame[column] = None
    return frame


def test_calendar_features_are_read_from_the_as_of_time_on_the_business_clock():
    contract = ContractConfig(calendar=["month", "weekday", "hour"], timezone="Europe/Berlin")
    rows = _leads(3).assign(
        mql_at=pd.to_datetime(
            [
                # Sunday 23:30 UTC, but Berlin moved to summer time that night: Monday 01:30 there
                "2025-03-30T23:30:00Z",
                # New Year's Eve 23:59 UTC is already 00:59 on 1 January in Berlin: month january
                "2025-12-31T23:59:00Z",
                # the same lead scored at noon UTC in winter: 13:00 in Berlin, a Wednesday
                "2025-01-15T12:00:00Z",
            ],
            utc=True,
        )
    )
    features = build_features(rows, EMPTY_EVENTS, "mql_at", FeatureConfig(), contract)
    assert features["handover_weekday"].tolist() == ["monday", "thursday", "wednesday"]
    assert features["handover_month"].tolist() == ["march", "january", "january"]
    assert features["handover_hour"].tolist() == [1.0, 0.0, 13.0]
    # the features are the spec's, in its order, and the month and weekday are categories
    names = feature_names(FeatureConfig(), contract)
    assert [n for n in names if n.startswith("handover_")] == ["handover_month", "handover_weekday", "handover_hour"]
    assert list(features.columns[len(KEYS) :]) == [*names, *buying.columns(FeatureConfig())]


def test_calendar_depends_on_the_scoring_time_only():
    """Point in time: the same lead scored at two times gets each time's calendar, whatever
    happened in between (nothing but the as-of time is read)."""
    contract = ContractConfig(calendar=["weekday"])
    lead = _leads(1)
    monday = build_features(lead, EMPTY_EVENTS, pd.Timestamp("2025-06-02T09:00Z"), FeatureConfig(), contract)
    friday = build_features(lead, EMPTY_EVENTS, pd.Timestamp("2025-06-06T09:00Z"), FeatureConfig(), contract)
    assert monday["handover_weekday"].item() == "monday" and friday["handover_weekday"].item() == "friday"


def _export(tmp_path, calendar: list[str] | None, with_times: bool = True):
    """A flat export with hand-over times; leads handed over on a Monday are accepted more often."""
    rng = np.random.default_rng(3)
    n = 600
    handed = pd.Timestamp("2025-01-06T08:00Z") + pd.to_timedelta(rng.integers(0, 200 * 24, n), unit="h")
    won = rng.random(n) < np.where(handed.weekday == 0, 0.7, 0.2)
    frame = pd.DataFrame(
        {
            "Id": [f"P{i}" for i in range(n)],
            "Won": np.where(won, "1", "0"),
            "Handed over": handed.strftime("%Y-%m-%d %H:%M"),
            "Job": rng.choice(["student", "engineer"], n),
        }
    )
    path = tmp_path / "export.csv"
    frame.to_csv(path, sep=";", index=False)
    times = {"exported_at": "2025-09-01T00:00:00Z"}
    if with_times:
        times["mql_at"] = "Handed over"
        times["decided_at"] = "Handed over"
    if calendar:
        times |= {"calendar": calendar, "timezone": "America/New_York"}
    columns = {"Job": {"role": "fit", "as": "job"}}
    if not with_times:
        columns["Handed over"] = {"role": "exclude", "reason": "not used"}
    mapping = {
        "source": "test",
        "id_column": "Id",
        "label": {"column": "Won", "positive": ["1"], "negative": ["0"]},
        "times": times,
        "columns": columns,
    }
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(mapping))
    return path, tmp_path / "mapping.yaml"


def test_import_with_calendar_features_trains_on_them(capsys, tmp_path):
    path, mapping = _export(tmp_path, ["month", "weekday", "hour"])
    out = tmp_path / "data"
    code, _, err = run(capsys, "import", str(path), "--mapping", str(mapping), "--out", str(out))
    assert code == 0, err
    contract = folder_config(out)
    assert contract.calendar == ["month", "weekday", "hour"] and contract.timezone == "America/New_York"
    data = load_dataset(out, contract)
    features = build_features(data.outcomes.merge(data.leads), data.events, "mql_at", FeatureConfig(), contract)
    local = pd.to_datetime(data.outcomes["mql_at"], utc=True).dt.tz_convert("America/New_York")
    assert (features["handover_hour"].to_numpy() == local.dt.hour.to_numpy()).all()
    accepted = data.outcomes["decision"].eq("accepted").to_numpy()
    mondays = features["handover_weekday"].eq("monday").to_numpy()
    assert accepted[mondays].mean() > accepted[~mondays].mean() + 0.3  # the signal the features carry


def test_calendar_without_handover_times_is_a_one_line_error(capsys, tmp_path):
    path, mapping = _export(tmp_path, ["weekday"], with_times=False)
    code, _, err = run(capsys, "import", str(path), "--mapping", str(mapping), "--out", str(tmp_path / "o"))
    assert code == 2 and "calendar: needs mql_at" in err and "Traceback" not in err
