"""Spark parity: the same features, scores and account rows as one machine, from the same code
(marked `spark`; `make test-spark` installs the extra and runs them; CI runs them)."""

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
ACCOUNT_KEY = ["account_id", "as_of"]  # an account row (`training.answer.account_rows`)


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


def assert_same_rows(expected: pd.DataFrame, actual: pd.DataFrame, key: list[str] = KEY) -> None:
    """Same columns in the same order, same rows (by `key`: lead and as-of), same values: numbers
    to 1e-9, text exactly (missing = missing)."""
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    expected = expected.sort_values(key, ignore_index=True)
    actual = actual.sort_values(key, ignore_index=True)
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


@pytest.mark.parametrize("at_handover", [True, False], ids=["at-handover", "as-of"])
def test_spark_scores_and_account_rows_equal_the_single_machine_ones(spark, trained, tmp_path, at_handover):
    """Scores in 5 buckets of whole accounts, account rows in 3 other buckets: each lead's account
    answer still reads every contact of its account, and the account rows are those of one machine."""
    from features.spark import write_parquet
    from training.answer import account_rows
    from training.score import score_folder
    from training.spark import spark_accounts, spark_scores

    model, data = trained["model"], trained["data"]
    as_of = None if at_handover else pd.Timestamp("2025-10-01T00:00:00Z")
    expected = score_folder(data, "models:/leadscore@champion", as_of, at_handover, tracking_uri=trained["uri"])
    out = str(tmp_path / "scores.parquet")
    write_parquet(spark_scores(spark, str(data), model, as_of, at_handover, buckets=5), out)
    actual = pd.read_parquet(out)
    assert_same_rows(expected, actual)
    assert set(actual["model_version"]) == {model.version}

    accounts = spark_accounts(spark.read.parquet(out), buckets=3).toPandas()
    assert_same_rows(account_rows(expected), accounts, ACCOUNT_KEY)
    if not at_handover:  # one scoring time: accounts with several leads scored, each answered once
        assert (accounts["leads"] > 1).sum() > 100
        assert not accounts.duplicated(ACCOUNT_KEY).any()


def test_a_bucket_without_a_handover_scores_no_rows(trained):
    """Spark may hand a task accounts none of whose leads was handed over: it scores no rows (with
    the score columns) instead of failing as a data folder without outcomes does."""
    from features.build import PEOPLE, row_columns
    from features.spark import BUCKET, HANDOVER
    from training.spark import bucket_scores, score_layout

    model = trained["model"]
    leads = pd.read_parquet(trained["data"] / "leads.parquet").head(50)
    people = leads[list(dict.fromkeys([*row_columns(model.contract), *PEOPLE]))].assign(**{HANDOVER: pd.NaT, BUCKET: 0})
    events = pd.DataFrame({"lead_id": pd.Series(dtype=object), "ts": pd.Series(dtype="datetime64[us, UTC]")})
    events = events.assign(type=pd.Series(dtype=object), **{BUCKET: pd.Series(dtype="int64")})
    scores = bucket_scores(people, events, None, True, model)
    assert scores.empty and list(scores.columns) == [name for name, _ in score_layout()]


def test_cli_features_on_spark(data, tmp_path, capsys):
    """`features --engine spark` writes a Parquet folder that reads back as the single-machine table."""
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


def test_cli_scores_and_account_rows_on_spark(trained, tmp_path, monkeypatch, capsys):
    """`score --engine spark --accounts` writes the scores and the account rows as two Parquet
    folders that read back as the single machine's files, and says the same of them."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    common = ["score", "--data", str(trained["data"]), "--as-of", "2025-10-01T00:00:00Z"]
    on_spark = ["--out", str(tmp_path / "scores.parquet"), "--accounts", str(tmp_path / "accounts.parquet")]
    code, spark_out, err = run(capsys, *common, *on_spark, "--engine", "spark", "--master", "local[2]")
    assert code == 0, err
    local = ["--out", str(tmp_path / "local.parquet"), "--accounts", str(tmp_path / "local-accounts.parquet")]
    code, local_out, err = run(capsys, *common, *local)
    assert code == 0, err
    expected = pd.read_parquet(tmp_path / "local.parquet")
    assert_same_rows(expected, pd.read_parquet(tmp_path / "scores.parquet"))
    accounts = pd.read_parquet(tmp_path / "local-accounts.parquet")
    assert_same_rows(accounts, pd.read_parquet(tmp_path / "accounts.parquet"), ACCOUNT_KEY)
    assert f": {len(expected):,} leads scored by leadscore/" in spark_out
    # the same lines as one machine's (accounts, then leads), but for the files' names
    said = [line.split(": ", 1)[1] for line in spark_out.splitlines() if ": " in line]
    assert said == [line.split(": ", 1)[1] for line in local_out.splitlines() if ": " in line]
    assert said[0].startswith(f"{len(accounts):,} accounts; model MQAs ")


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
    accounts = tmp_path / "accounts.csv"  # refused before any model is loaded or Spark started
    code, _, err = run(
        capsys,
        "score",
        "--data",
        data,
        "--out",
        str(tmp_path / "s.parquet"),
        "--accounts",
        str(accounts),
        "--engine",
        "spark",
    )
    assert code == 2 and f"--accounts {accounts}: --engine spark writes Parquet" in err
