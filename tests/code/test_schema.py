"""One definition of an answer (`core.schema.ANSWER`): a field added there reaches the MLflow
signature, the Spark score schema, the score-log table (also of a database made before it), the
report's columns and the API's answer, each derived from it by construction."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import MetaData, create_engine, inspect

from core.schema import ACCOUNT, ANSWER, LEAD, Field
from core.store import migrate, scores_table
from features.contract import FIT_CATEGORICAL, FIT_NUMERIC, ContractConfig, leads_schema
from reports.compare import report_columns
from serving.schemas import Lead, answer_model
from training.pyfunc import signature
from training.spark import score_schema

NEW = Field("days_to_first_touch", "double", "Days until sales first touched the lead.")
WIDER = (*ANSWER, NEW)
# an account field: flat in every table, inside the API answer's `account` object
OWNERS = Field("account_owner_count", "long", "Sales owners of the account.", path=("account", "owners"))


def test_an_account_field_is_a_column_of_every_table_and_a_member_of_the_api_account():
    fields = (*ANSWER, OWNERS)
    model = SimpleNamespace(categories={}, contract=ContractConfig(), feature_names=["company_size"])
    assert "account_owner_count" in signature(model, fields).outputs.input_names()
    assert "`account_owner_count` long" in score_schema(fields)
    assert "account_owner_count" in scores_table(MetaData(), fields).columns
    api = answer_model(fields)
    assert "account_owner_count" not in api.model_fields
    assert "owners" in api.model_fields["account"].annotation.model_fields


def test_the_answer_key_is_the_field_marked_key_wherever_it_stands():
    """A table of answers is joined on its key: the Spark schema and the score log find it by its
    mark, not by its place."""
    moved = (*ANSWER[1:], ANSWER[0])
    assert score_schema(moved).startswith("lead_id string, as_of timestamp")
    assert scores_table(MetaData(), moved).columns["lead_id"].nullable is False
    assert report_columns(moved)[0] == "lead_id"


def test_a_new_answer_field_reaches_every_place_an_answer_is_written():
    model = SimpleNamespace(categories={}, contract=ContractConfig(), feature_names=["company_size"])
    outputs = signature(model, WIDER).outputs.input_names()
    assert outputs == [f.name for f in WIDER]
    assert "`days_to_first_touch` double" in score_schema(WIDER)
    assert "days_to_first_touch" in scores_table(MetaData(), WIDER).columns
    assert "days_to_first_touch" in report_columns(WIDER)
    assert "days_to_first_touch" in answer_model(WIDER).model_fields


def test_a_score_log_made_before_the_field_gets_it_with_its_rows(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    old = MetaData()
    scores_table(old).create(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO scores (lead_id, scored_at, grade, is_mql, rule_score, rule_is_mql, rule_threshold, "
            "segment, scored_by) VALUES ('L1', '2026-01-01', 'B', 1, 50, 0, 60, 'smb', 'model')"
        )
    new = MetaData()
    scores_table(new, WIDER)
    assert migrate(engine, new) == ["scores.days_to_first_touch"]
    assert "days_to_first_touch" in {c["name"] for c in inspect(engine).get_columns("scores")}
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT lead_id, days_to_first_touch FROM scores").all() == [("L1", None)]


def test_every_answer_and_lead_field_is_where_it_is_defined():
    top = [f.name for f in ANSWER if not f.path]
    assert list(answer_model().model_fields)[: len(top) + 1] == [*top, "account"]
    account = answer_model().model_fields["account"].annotation
    assert list(account.model_fields) == [f.path[1] for f in ACCOUNT]
    assert [n for n in Lead.model_fields if n in {f.name for f in LEAD}] == [f.name for f in LEAD]
    assert set(leads_schema(ContractConfig()).columns) == {f.name for f in LEAD}
    assert set(FIT_CATEGORICAL) | set(FIT_NUMERIC) == {f.name for f in LEAD if f.fit}
    bounded = Lead.model_json_schema()["properties"]["company_size"]["anyOf"][0]
    assert (bounded["minimum"], bounded["maximum"]) == (0, 10_000_000)
