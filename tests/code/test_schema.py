"""One definition of an answer (`core.schema.ANSWER`): a field added there reaches the MLflow
signature, the Spark score schema, the score-log table (also of a database made before it), the
report's columns and the API's answer, each derived from it by construction."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import MetaData, create_engine, inspect

from core.schema import ANSWER, LEAD, Field
from core.store import migrate, scores_table
from features.contract import FIT_CATEGORICAL, FIT_NUMERIC, ContractConfig, leads_schema
from reports.compare import report_columns
from serving.schemas import Lead, answer_model
from training.pyfunc import signature
from training.spark import score_schema

NEW = Field("days_to_first_touch", "double", "Days until sales first touched the lead.")
WIDER = (*ANSWER, NEW)


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
    assert list(answer_model().model_fields)[: len(ANSWER)] == [f.name for f in ANSWER]
    assert [n for n in Lead.model_fields if n in {f.name for f in LEAD}] == [f.name for f in LEAD]
    assert set(leads_schema(ContractConfig()).columns) == {f.name for f in LEAD}
    assert set(FIT_CATEGORICAL) | set(FIT_NUMERIC) == {f.name for f in LEAD if f.fit}
    bounded = Lead.model_json_schema()["properties"]["company_size"]["anyOf"][0]
    assert (bounded["minimum"], bounded["maximum"]) == (0, 10_000_000)
