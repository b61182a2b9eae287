"""The MLflow model: one `PythonModel` holding the whole path from lead rows to the answer.

Input (one row per lead) is either feature rows as `leadscore features` writes them, or contract
`leads` columns plus `as_of` and, optionally, each lead's events as a JSON list in `events_json`
(`[{"ts": "...", "type": "pricing_page_view"}, ...]`), from which it builds the features itself.
Output: probability, score, grade, is_mql and threshold, the rule score next to it, the segment
and the model version. MLflow's schema check takes times without an offset: pass `as_of` and
`created_at` in UTC with the offset dropped (`.dt.tz_localize(None)`), which the model reads as UTC,
and numbers as floats. `leadscore score` and the service use the model directly, without this
check. Text columns stay text end to end: no pandas categories reach MLflow's schema check or
LightGBM.
"""

from __future__ import annotations

import json
import logging

import mlflow
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types import ColSpec, Schema

from core.errors import LeadscoreError
from core.schema import ANSWER, LEAD, Field
from features.build import build_features, row_columns, table_columns
from training.answer import predict
from training.model import LeadModel


class LeadscorePyfunc(mlflow.pyfunc.PythonModel):
    def __init__(self, model: LeadModel):
        self.model = model

    def features(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Feature rows for the input: used as they are, or built from contract columns."""
        if set(self.model.feature_names) <= set(rows.columns) and "segment" in rows.columns:
            return rows
        if "as_of" not in rows.columns:
            raise LeadscoreError("input: give feature rows, or lead rows with an as_of column")
        rows = rows.copy()
        if "created_at" not in rows.columns:
            rows["created_at"] = rows["as_of"]
        if "account_id" not in rows.columns:
            rows["account_id"] = rows["lead_id"]
        for name in row_columns(self.model.contract):
            if name not in rows.columns:  # optional lead fields: missing, as in a data folder
                rows[name] = None
        rows["created_at"] = pd.to_datetime(rows["created_at"], utc=True)
        events = _events(rows)
        return build_features(rows, events, "as_of", self.model.feature_config, self.model.contract)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """The answers of the input rows; each row's account answer reads the rows given of the same
        account and time (send an account's leads together; `leadscore score` reads every contact)."""
        return predict(self.model, self.features(model_input)).reset_index(drop=True)


def _events(rows: pd.DataFrame) -> pd.DataFrame:
    if "events_json" not in rows.columns:
        return pd.DataFrame({"lead_id": [], "ts": pd.Series(dtype="datetime64[us, UTC]"), "type": []})
    records = []
    for lead_id, text in zip(rows["lead_id"], rows["events_json"], strict=True):
        if isinstance(text, str) and text.strip():
            try:
                records.extend({"lead_id": lead_id, **event} for event in json.loads(text))
            except (json.JSONDecodeError, TypeError):
                raise LeadscoreError(f"events_json of lead {lead_id}: not a JSON list of events") from None
    frame = pd.DataFrame(records, columns=["lead_id", "ts", "type"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


def signature(model: LeadModel, answer: tuple[Field, ...] = ANSWER) -> ModelSignature:
    """Every input column is optional except lead_id: feature rows or contract rows both fit. Lead
    columns come from `core.schema.LEAD` (numbers as doubles: MLflow's check refuses a long with a
    missing value), the output from `core.schema.ANSWER`."""
    categorical = set(model.categories) | {"size_band", "segment", "seniority", "email_type"}
    extra = model.contract.extra_fit_columns
    kinds = {f.name: "double" if f.kind == "long" else f.kind for f in LEAD}
    kinds.update({name: "string" if kind == "categorical" else "double" for name, kind in extra.items()})
    columns = [ColSpec("string", "lead_id")]
    for name in row_columns(model.contract):
        if name != "lead_id":
            columns.append(ColSpec(kinds.get(name, "double"), name, required=False))
    columns += [ColSpec("datetime", "as_of", required=False), ColSpec("string", "events_json", required=False)]
    seen = {c.name for c in columns}
    kinds = table_columns(model.feature_config, model.contract) if hasattr(model, "feature_config") else {}
    for name in [*model.feature_names, *(n for n in kinds if n not in model.feature_names)]:
        if name not in seen:
            text = name in categorical or kinds.get(name) == "text"
            columns.append(ColSpec("string" if text else "double", name, required=False))
            seen.add(name)
    outputs = Schema([ColSpec(f.kind, f.name, required=not f.nullable) for f in answer])
    return ModelSignature(inputs=Schema(columns), outputs=outputs)


def input_example(features: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """A few feature rows, text as text; times in UTC without an offset, as MLflow's schema wants
    (the model reads any time without an offset as UTC)."""
    example = features.head(n).copy()
    example["as_of"] = pd.to_datetime(example["as_of"], utc=True).dt.tz_localize(None)
    return example


def requirements() -> list[str]:
    """Pinned versions of what the model needs at load time, from this environment."""
    from importlib.metadata import version

    names = ("lightgbm", "scikit-learn", "pandas", "numpy", "pandera", "pyarrow", "pydantic", "pyyaml", "mlflow",
             "venn-abers")  # fmt: skip
    return [f"{n}=={version(n)}" for n in names]


def environment() -> dict:
    """The model's conda environment: this Python and `requirements()`. Given whole, MLflow writes
    it as it is (and the same requirements.txt) instead of looking up the version of pip, which a
    uv environment does not have ("Failed to resolve installed pip version")."""
    import platform

    pip = {"pip": requirements()}
    return {
        "name": "leadscore",
        "channels": ["conda-forge"],
        "dependencies": [f"python={platform.python_version()}", "pip", pip],
    }


class _Pickled(logging.Filter):
    """MLflow's notice that a `python_model` object is saved with CloudPickle (leadscore loads only
    the models it logged itself; `mlflow.pyfunc`'s other messages pass)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passing a Python object as `python_model`")


def log_model(model: LeadModel, name: str, example: pd.DataFrame | None = None) -> str:
    """Log `model` to the active run (with its signature, `example` rows as the input example and
    pinned requirements), registered under `name`; returns the registered version."""
    notices, pickled = logging.getLogger("mlflow.pyfunc"), _Pickled()
    notices.addFilter(pickled)
    try:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LeadscorePyfunc(model),
            signature=signature(model),
            input_example=input_example(example) if example is not None else None,
            conda_env=environment(),
            registered_model_name=name,
        )
    finally:
        notices.removeFilter(pickled)
    return str(info.registered_model_version)
