"""Spark parity: the same features and scores as one machine, from the same code (marked `spark`;
`make test-spark` installs the extra and runs them; CI runs them)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed: `make test-spark` installs it")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 or newer on the PATH", allow_module_level=True)

from features.build import build_features, rows_to_score
from features.contract import ContractConfig, load_dataset
from features.defaults import load_rules
from features.rules import rule_score
from features.settings import FeatureConfig
from leadscore_cli import main
from synthetic.generate import generate, write_dataset

pytestmark = pytest.mark.spark
KEY = ["lead_id", "as_of"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`leadscore ARGV`: exit code, stdout, stderr."""
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return info.value.code, out, err


@pytest.fixture(scope="module")
def spark():
    from features.spark import session

    session_ = session("local[2]")
    yield session_
    session_.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark") / "data"
    write_dataset(generate(4_000, seed=5), folder, "parquet")
    return folder


def assert_same_rows(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    """Same columns in the same order, same rows (by lead and as-of), same values: numbers to
    1e-9, text exactly (missing = missing)."""
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    expected = expected.sort_values(KEY, ignore_index=True)
    actual = actual.sort_values(KEY, ignore_index=True)
    for name in expected.columns:
        a, b = expected[name], actual[name]
        if name == "as_of":
            assert (pd.to_datetime(a, utc=True) == pd.to_datetime(b, utc=True)).all()
        elif a.dtype.kind in "fiub" or b.dtype.kind in "fiub":
            np.testing.assert_allclose(b.astype(float), a.astype(float), rtol=1e-9, atol=1e-9, err_msg=name)
        else:
            assert (
                a.astype(object).where(a.notna(), None).tolist() == b.astype(object).where(b.notna(), None).tolist()
            ), name


def _local_features(data, as_of, at_handover):
    dataset = load_dataset(data)
    rows, when = rows_to_score(dataset, as_of, at_handover)
    table = build_features(rows, dataset.events, when, FeatureConfig(), ContractConfig(), population=dataset.leads)
    scored = rule_score(table, load_rules())
    table["rule_score"], table["rule_is_mql"] = scored.score, scored.is_mql
    return table


@pytest.mark.parametrize("at_handover", [True, False], ids=["at-handover", "as-of"])
def test_spark_features_equal_the_single_machine_features_row_for_row(spark, data, at_handover):
    """Several buckets of accounts (7 for 4,000 leads): account features still see every
    contact of their account, as on one machine."""
    from features.spark import spark_features

    as_of = None if at_handover else pd.Timestamp("2025-09-01T00:00:00Z")
    expected = _local_features(data, as_of, at_handover)
    frame = spark_features(spark, str(data), as_of, at_handover, FeatureConfig(), ContractConfig(), load_rules(), 7)
    actual = frame.toPandas()
    assert len(expected) > 1_000
    assert_same_rows(expected, actual)


def test_spark_tables_of_a_catalog_schema_give_the_same_features(spark, data):
    """`--data catalog:SCHEMA` reads the schema's leads, events and outcomes tables (here the
    session's temporary views) instead of Parquet files."""
    from features.spark import spark_features

    for name in ("leads", "events", "outcomes"):
        spark.read.parquet(str(data / f"{name}.parquet")).createOrReplaceTempView(name)
    config, contract, rules = FeatureConfig(), ContractConfig(), load_rules()
    from_files = spark_features(spark, str(data), None, True, config, contract, rules).toPandas()
    from_tables = spark_features(spark, "catalog:", None, True, config, contract, rules).toPandas()
    assert_same_rows(from_files, from_tables)
    spark.catalog.dropTempView("events")  # events are optional: a schema without them still scores
    assert spark_features(spark, "catalog:", None, True, config, contract, rules).count() == len(from_files)


def test_spark_scores_equal_in_process_scores(spark, trained, tmp_path):
    from features.spark import spark_features
    from training.score import score_folder
    from training.spark import spark_scores

    model = trained["model"]
    expected = score_folder(
        trained["data"], "models:/leadscore@champion", at_handover=True, tracking_uri=trained["uri"]
    )
    features = spark_features(spark, str(trained["data"]), None, True, model.feature_config, model.contract, None)
    actual = spark_scores(features, model).toPandas()
    assert_same_rows(expected, actual)
    assert set(actual["model_version"]) == {model.version}


def test_cli_features_and_scores_on_spark(data, trained, tmp_path, monkeypatch, capsys):
    """`--engine spark` writes Parquet folders that read back as the single-machine tables."""
    out = tmp_path / "features.parquet"
    code, stdout, err = run(
        capsys,
        "features",
        "--data",
        str(data),
        "--out",
        str(out),
        "--at-handover",
        "--engine",
        "spark",
        "--master",
        "local[2]",
    )
    assert code == 0, err
    assert "built on Spark" in stdout
    assert_same_rows(_local_features(data, None, True), pd.read_parquet(out))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    scores, local = tmp_path / "scores.parquet", tmp_path / "local.parquet"
    common = ["--data", str(trained["data"]), "--as-of", "2025-10-01T00:00:00Z"]
    code, stdout, err = run(capsys, "score", *common, "--out", str(scores), "--engine", "spark", "--master", "local[2]")
    assert code == 0, err
    assert run(capsys, "score", *common, "--out", str(local))[0] == 0
    expected = pd.read_parquet(local)
    assert_same_rows(expected, pd.read_parquet(scores))
    assert f": {len(expected):,} leads scored by leadscore/" in stdout


def test_a_contract_error_on_spark_is_the_one_line_error_of_one_machine(data, tmp_path, capsys):
    """A bad value found in a Spark task: exit 2, one `error:` line naming file, column and
    lead (not a row number: Spark has no file order), no traceback, no output left behind."""
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    leads = pd.read_parquet(bad / "leads.parquet")
    leads.loc[leads.index[10], "company_size"] = -5
    leads.to_parquet(bad / "leads.parquet")
    out = tmp_path / "features.parquet"
    code, stdout, err = run(capsys, "features", "--data", str(bad), "--out", str(out), "--engine", "spark")
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: {bad}/leads.parquet, column 'company_size': expected a whole number of employees >= 0; "
        f"1 row(s) fail: lead_id '{leads.loc[leads.index[10], 'lead_id']}'"
    ]
    assert "Traceback" not in err + stdout
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_spark_reads_parquet_and_says_so_for_csv(tmp_path, capsys):
    write_dataset(generate(200, seed=1), tmp_path / "csv", "csv")
    data = str(tmp_path / "csv")
    code, _, err = run(capsys, "features", "--data", data, "--out", str(tmp_path / "f.parquet"), "--engine", "spark")
    assert code == 2 and "--engine spark reads Parquet; convert the table to" in err
    code, _, err = run(capsys, "features", "--data", data, "--out", str(tmp_path / "f.csv"), "--engine", "spark")
    assert code == 2 and "--engine spark writes Parquet" in err
