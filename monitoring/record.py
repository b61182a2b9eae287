"""The figures of a `monitor` run outside the page: the JSON file (every table, the alerts, the
verdict and the `gauges` the service turns into Prometheus gauges) and MLflow metrics on the
monitored model version (its LoggedModel when it has one, in a run "monitor <version> <date>"
tagged with the version). An unreachable tracking store never fails the command: it is said."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

import pandas as pd

from monitoring.alerts import Alert, Figures

TABLES = ("drift", "calibration", "grades", "fallback", "volume", "acceptance")


def latest(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the newest period of a figure table."""
    if table.empty or "period" not in table:
        return table
    return table[table["period"] == table["period"].max()]


def gauges(figures: Figures, alerts: list[Alert], min_decided: int = 100) -> dict:
    """The newest period's figures as the service's gauges (common.md): drift PSI per lead field
    (its largest feature) and segment, calibration error per segment (realised where decisions
    matured, and CBPE's estimate), the fallback share, the number of alerts firing. Only what the
    alerts would judge, from the newest period that has it: drift with enough rows (a week just
    begun gives PSI of several units from a handful of leads), realised calibration on
    `min_decided` decisions or more."""
    judged = figures.drift
    if len(judged) and "note" in judged:
        judged = judged[judged["note"].fillna("") == ""]
    drift = latest(judged)  # the newest period with enough rows to judge (a week just begun has few)
    psi = drift.groupby(["field", "segment"])["psi"].max().reset_index() if len(drift) else drift
    calibration = figures.calibration
    if len(calibration):
        enough = (calibration["kind"] != "realised") | (calibration["n"] >= min_decided)
        calibration = latest(calibration[enough].dropna(subset=["ece"]))
    fallback = latest(figures.fallback)
    return {
        "drift_psi": [{"feature": r.field, "segment": r.segment, "value": float(r.psi)} for r in psi.itertuples()],
        "calibration_error": [
            {"segment": r.segment, "kind": r.kind, "value": float(r.ece)} for r in calibration.itertuples()
        ],
        "fallback_share": float(fallback["share"].iloc[0]) if len(fallback) else None,
        "alerts_firing": len(alerts),
    }


def _plain(value):
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def as_json(
    figures: Figures, alerts: list[Alert], verdict: list[str], version: str | None, window: dict, min_decided: int = 100
) -> dict:
    """Everything a run found, as JSON-ready values (times ISO 8601 UTC, NaN as null)."""
    tables = {}
    for name in TABLES:
        frame = getattr(figures, name)
        tables[name] = [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
    return {
        "model_version": version,
        "computed_at": datetime.now(UTC).isoformat(),
        "window": {k: _plain(v) for k, v in window.items()},
        "verdict": verdict,
        "alerts": [{"kind": a.kind, "line": a.line, "since": _plain(a.since), "names": list(a.names)} for a in alerts],
        "notes": figures.notes,
        "figures": tables,
        "gauges": gauges(figures, alerts, min_decided),
    }


def write_json(summary: dict, path) -> None:
    """The summary at `path`, written whole (a reader never sees half a file)."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")
    partial.replace(path)


def metrics(summary: dict) -> dict[str, float]:
    """The gauges as flat MLflow metric names: monitor.psi.<field>.<segment>, monitor.ece.<kind>.
    <segment>, monitor.fallback_share, monitor.alerts."""
    gauges_ = summary["gauges"]
    out = {f"monitor.psi.{g['feature']}.{g['segment']}": g["value"] for g in gauges_["drift_psi"]}
    out |= {f"monitor.ece.{g['kind']}.{g['segment']}": g["value"] for g in gauges_["calibration_error"]}
    if gauges_["fallback_share"] is not None:
        out["monitor.fallback_share"] = gauges_["fallback_share"]
    out["monitor.alerts"] = float(gauges_["alerts_firing"])
    return {re.sub(r"[^\w./ -]", "_", k): v for k, v in out.items()}  # MLflow's allowed characters


def log_to_mlflow(summary: dict, version: str | None, tracking_uri: str | None) -> str:
    """Log the metrics on the model version; what was done, in words (never raises)."""
    if version is None:
        return "MLflow: no model version to log the figures on"
    try:
        import mlflow

        from training import registry

        client = registry.existing(tracking_uri)
        name, _, number = version.partition("/")
        model_id = getattr(client.get_model_version(name, number), "model_id", None)
        experiment = registry.experiment_id(client, f"{name}-monitoring")
        run = client.create_run(experiment, run_name=f"monitor {version} {datetime.now(UTC):%Y-%m-%d}",
                                tags={"model_version": version, "leadscore.kind": "monitor"})  # fmt: skip
        values = metrics(summary)
        with registry.logging_to(client):
            mlflow.log_metrics(values, run_id=run.info.run_id, model_id=model_id, synchronous=True)
        client.set_terminated(run.info.run_id)
    except Exception as exc:  # the tracking store down, a version it does not know: say so, carry on
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return f"MLflow: figures not logged ({first})"
    where = f"logged model {model_id}" if model_id else "its run"
    return f"MLflow: {len(values)} figures logged on {version} ({where}, run {run.info.run_id})"
