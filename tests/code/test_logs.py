"""The service's log lines: a refused request is one INFO line naming fields, never what was sent;
a failure of ours keeps its ERROR line and traceback; LEADSCORE_LOG_FORMAT=json gives JSON lines."""

from __future__ import annotations

import io
import json
import logging

import pytest
from bentoml.exceptions import BentoMLException
from pydantic import ValidationError

from serving.logs import configure
from serving.schemas import Lead
from serving.settings import load_settings

EMAIL, NAME = "jane.doe@example.com", "Jane Doe"


@pytest.fixture
def logged():
    """A logger like BentoML's request logger, with a handler like BentoML's writing to a buffer;
    `text()` is what it wrote."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.bentoml.http_app")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, handler, buffer.getvalue
    logger.removeHandler(handler)


def _refused_by_validation() -> ValidationError:
    """What BentoML catches for a lead whose contacts are an email address and with a note naming
    a person (pydantic's own message repeats both)."""
    try:
        Lead.model_validate({"lead_id": "L1", "contacts": f"{NAME} <{EMAIL}>", "note": f"call {NAME}"})
    except ValidationError as exc:
        assert EMAIL in str(exc)  # what the traceback used to carry
        return exc
    raise AssertionError("the lead validated")


def _log_exception(logger: logging.Logger, exc: BaseException) -> None:
    """BentoML's log_exception: ERROR with the traceback, the path and the method as arguments."""
    try:
        raise exc
    except BaseException:
        logger.error("Exception on %s [%s]", "/score", "POST", exc_info=True)


def test_a_refused_request_is_one_info_line_without_what_was_sent(logged):
    logger, handler, text = logged
    configure("text", [handler])
    _log_exception(logger, _refused_by_validation())
    lines = text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("INFO refused POST /score 400: ")
    assert "contacts: Input should be a valid list" in lines[0] and "note: Extra inputs are not permitted" in lines[0]
    assert EMAIL not in text() and NAME not in text() and "Traceback" not in text()


def test_leadscores_own_refusals_say_their_message_and_status(logged):
    logger, handler, text = logged
    configure("text", [handler])
    _log_exception(logger, BentoMLException("lead.job_title: contains a NUL character", error_code=422))
    _log_exception(logger, BentoMLException("feedback_id f-1: already stored with another decision", error_code=409))
    assert text().splitlines() == [
        "INFO refused POST /score 422: lead.job_title: contains a NUL character",
        "INFO refused POST /score 409: feedback_id f-1: already stored with another decision",
    ]


def test_a_failure_of_ours_keeps_its_error_and_traceback(logged):
    logger, handler, text = logged
    configure("text", [handler])
    _log_exception(logger, RuntimeError("the scorer broke"))
    _log_exception(logger, BentoMLException("upstream down", error_code=503))
    assert text().count("ERROR Exception on /score [POST]") == 2 and text().count("Traceback") == 2


def test_json_lines(logged):
    logger, handler, text = logged
    configure("json", [handler])
    _log_exception(logger, _refused_by_validation())
    logger.info("champion moved %s → %s", "v1", "v2")
    _log_exception(logger, RuntimeError("the scorer broke"))
    records = [json.loads(line) for line in text().splitlines()]
    assert [r["level"] for r in records] == ["INFO", "INFO", "ERROR"]
    assert records[0]["message"].startswith("refused POST /score 400: contacts: Input should be a valid list")
    assert records[0]["logger"] == "leadscore.refused"
    assert records[1]["message"] == "champion moved v1 → v2" and records[1]["logger"] == logger.name
    assert "Traceback" in records[2]["traceback"] and "time" in records[2]
    assert EMAIL not in text()


def test_a_message_that_repeats_the_value_sent_does_not_repeat_it(logged):
    from pydantic import BaseModel, field_validator

    class Note(BaseModel):
        text: str

        @field_validator("text")
        @classmethod
        def _careless(cls, value: str) -> str:
            raise ValueError(f"not a note: {value}")

    logger, handler, text = logged
    configure("text", [handler])
    try:
        Note(text=f"call {NAME}")
    except ValidationError as exc:
        _log_exception(logger, exc)
    assert text() == "INFO refused POST /score 400: text: Value error, not a note: …\n"


def test_configuring_twice_adds_one_filter(logged):
    _, handler, _ = logged
    configure("text", [handler])
    configure("text", [handler])
    assert len(handler.filters) == 1


def test_the_log_format_setting(monkeypatch):
    monkeypatch.setenv("LEADSCORE_API_KEY", "k")
    assert load_settings().log_format == "text"
    monkeypatch.setenv("LEADSCORE_LOG_FORMAT", "json")
    assert load_settings().log_format == "json"
    monkeypatch.setenv("LEADSCORE_LOG_FORMAT", "yaml")
    with pytest.raises(Exception, match="LEADSCORE_LOG_FORMAT='yaml'"):
        load_settings()
