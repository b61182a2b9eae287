"""What a service worker writes to its log, and how.

- leadscore's own lines (`leadscore.*` loggers) at INFO and above: the model served, a model
  swap ("champion moved v3 → v4"), the store going down and coming back, the score log's losses.
- A refused request is one INFO line: `refused POST /score 400: lead.company_size: Input should be
  greater than or equal to 0`.
  BentoML logs every 4xx it answers at ERROR with the exception's traceback, and pydantic's
  message there repeats what was sent (`input_value=...`: an email typed into a job title, a
  person's name in a note). `Refusals` turns those records into the one line, naming the fields
  and what was wrong with them, never a value. A 5xx keeps its ERROR line and traceback.
- `LEADSCORE_LOG_FORMAT=json`: one JSON object per line (time, level, logger, message, the
  BentoML component, the traceback when there is one) for a log pipeline; Python warnings of the
  libraries become such lines too. BentoML's supervising
  process (`[cli]` lines: the start-up banner) is configured by BentoML before leadscore runs and
  stays plain text.

`configure` runs when a worker's service starts, after BentoML has configured logging, and
works on the handlers that exist then (BentoML's, MLflow's and the root's).
"""

from __future__ import annotations

import logging

from bentoml.exceptions import BentoMLException
from pydantic import ValidationError
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

REFUSED_LOGGER = "leadscore.refused"  # the logger name refused requests are reported under
MAX_PROBLEMS = 5  # fields named per refused request; the rest counted
# attributes BentoML's log filter adds to every record, left out of the JSON (component is kept)
BENTOML_EXTRAS = ("levelname_bracketed", "trace_msg", "request_id", "service_name")


def problems(exc: ValidationError) -> str:
    """Where and what is wrong, per field: pydantic's location and message, never the input."""
    errors = exc.errors(include_url=False, include_context=False)
    named = [f"{'.'.join(str(part) for part in e['loc']) or 'body'}: {_message(e)}" for e in errors[:MAX_PROBLEMS]]
    more = len(errors) - MAX_PROBLEMS
    return "; ".join(named) + (f" (and {more} more)" if more > 0 else "")


def _message(error: dict) -> str:
    """pydantic's message; a validator's own message that quotes the value sent has it cut out."""
    message, sent = error["msg"], error.get("input")
    if isinstance(sent, str) and len(sent) >= 3 and sent in message:
        message = message.replace(sent, "…")
    return message


def refusal(exc: BaseException | None) -> tuple[int, str] | None:
    """The status and one-line reason of a request refused for what it sent (a 4xx), or None."""
    if isinstance(exc, ValidationError):
        return 400, problems(exc)  # BentoML answers a body that does not validate with a 400
    if isinstance(exc, BentoMLException) and int(exc.error_code) < 500:
        # leadscore's own refusals: messages that name the field and never repeat lead text
        return int(exc.error_code), (str(exc).splitlines() or [""])[0][:300]
    return None


class Refusals(logging.Filter):
    """Turns BentoML's ERROR record with a traceback for a refused request ("Exception on PATH
    [METHOD]") into one INFO line without the traceback or any value sent."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.exc_info:
            return True
        refused = refusal(record.exc_info[1])
        if refused is None:
            return True
        status, why = refused
        where = record.args if isinstance(record.args, tuple) and len(record.args) == 2 else ("?", "request")
        path, method = where
        record.levelno, record.levelname, record.name = logging.INFO, "INFO", REFUSED_LOGGER
        record.msg, record.args = "refused %s %s %d: %s", (method, path, status, why)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        if hasattr(record, "levelname_bracketed"):  # BentoML's filter ran before ours on this record
            record.levelname_bracketed = "[INFO]"
        return True


def json_formatter() -> JsonFormatter:
    return JsonFormatter(
        ["asctime", "levelname", "name", "message"],
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "traceback"},
        reserved_attrs=[*RESERVED_ATTRS, *BENTOML_EXTRAS],
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def handlers() -> list[logging.Handler]:
    """Every handler attached to a logger now (the root's, BentoML's, MLflow's...), once each."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    found: dict[int, logging.Handler] = {}
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            found.setdefault(id(handler), handler)
    return list(found.values())


def configure(log_format: str = "text", targets: list[logging.Handler] | None = None) -> None:
    """Set up a worker's logging: leadscore's INFO lines, refusals in one line, and the format
    (`ServiceSettings.log_format`: text, or json)."""
    logging.getLogger("leadscore").setLevel(logging.INFO)
    if log_format == "json":
        logging.captureWarnings(True)  # Python warnings (a library's) as log records: JSON lines too
    for handler in handlers() if targets is None else targets:
        if not any(isinstance(f, Refusals) for f in handler.filters):
            handler.filters.insert(0, Refusals())  # before BentoML's, which brackets the level
        if log_format == "json":
            handler.setFormatter(json_formatter())
