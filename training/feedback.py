"""Sales decisions from the service's feedback store, as outcomes rows for retraining.

Retraining places every stored decision on its hand-over first (one without `mql_at`: its lead's
latest hand-over in the history at or before the decision, `core.decisions.with_status`), then
takes the latest decision per placed hand-over (corrections supersede earlier ones, with or
without `mql_at`; voided decisions are left out), and checks every row with the rules the
service's door applies (`core.decisions.decision_problems`). A row that breaks them is skipped and
named by its feedback_id: one bad stored decision never stops a retrain. `log_feedback` records
what was merged on the MLflow run (metrics, a dataset input with its digest, a CSV artifact that
`leadscore retrain --decisions` reads back), so that the run can be rebuilt.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.decisions import decision_problems, with_status
from features.contract import TIMESTAMP, ContractConfig, Dataset

OUTCOME_COLUMNS = ("lead_id", "mql_at", "decision", "reason", "decided_at")
ARTIFACT = "feedback/decisions.csv"


@dataclass(frozen=True, eq=False)
class FeedbackSummary:
    """What a retrain took from the feedback store and what it left out, and why."""

    source: str  # the store, its URL without password
    decisions: pd.DataFrame  # merged: one row per hand-over, feedback_id and the outcomes columns
    stored: int  # latest decisions read (one per hand-over key, voided ones left out)
    superseded: int  # decisions a later one for the same hand-over replaced
    skipped: dict[str, str] = field(default_factory=dict)  # feedback_id -> its first problem
    unknown_lead: int = 0  # for leads not in the history
    no_handover: int = 0  # for leads without a hand-over at or before the decision

    @property
    def merged(self) -> int:
        return len(self.decisions)

    @property
    def outcomes(self) -> pd.DataFrame:
        """The merged decisions as contract outcomes rows."""
        return self.decisions[list(OUTCOME_COLUMNS)]

    def metrics(self) -> dict[str, float]:
        return {
            "feedback_merged": float(self.merged),
            "feedback_superseded": float(self.superseded),
            "feedback_skipped": float(len(self.skipped)),
        }


def read_store(store, dataset: Dataset, contract: ContractConfig, source: str) -> FeedbackSummary:
    """The store's decisions placed on a data folder's hand-overs, the latest per hand-over merged.
    One read of the stored history, so that the merged and the superseded counts come from the
    same moment."""
    from sqlalchemy import select

    from core.tables import decisions

    return decisions_as_outcomes(store.read(select(decisions)), dataset, contract, source)


def handovers(dataset: Dataset) -> pd.DataFrame:
    """The history's hand-overs (lead_id, mql_at), where stored decisions without mql_at are placed."""
    return dataset.outcomes[["lead_id", "mql_at"]].astype({"lead_id": str})


def decisions_as_outcomes(
    stored: pd.DataFrame, dataset: Dataset, contract: ContractConfig, source: str = ""
) -> FeedbackSummary:
    """Outcomes rows for the decisions in force among `stored` (the store's decision rows, any
    status they carry worked out again): each placed on its hand-over in the history first, then
    the latest of each hand-over taken; those that break the decision rules are skipped by
    feedback_id."""
    frame = with_status(
        stored.drop(columns=["handover", "status", "superseded_by"], errors="ignore"), handovers(dataset)
    )
    latest = frame[frame["status"] == "latest"].copy()
    for column in ("decided_at", "handover"):
        latest[column] = _instants(latest[column])
    known = latest[latest["lead_id"].isin(dataset.leads["lead_id"])]
    placed = known[known["handover"].notna()].assign(mql_at=lambda f: f["handover"])
    problems = decision_problems(placed, contract)
    bad = problems.notna()
    skipped = dict(zip(placed.loc[bad, "feedback_id"].astype(str), problems[bad], strict=True))
    merged = placed[~bad].sort_values(["lead_id", "mql_at"], kind="stable")
    rows = merged[["feedback_id", *OUTCOME_COLUMNS]].reset_index(drop=True)
    return FeedbackSummary(
        source=source,
        decisions=rows.astype({"feedback_id": "str", "lead_id": "str", "decision": "str"}),
        stored=len(latest),
        superseded=int((frame["status"] == "superseded").sum()),
        skipped=skipped,
        unknown_lead=len(latest) - len(known),
        no_handover=len(known) - len(placed),
    )


def _instants(values: pd.Series) -> pd.Series:
    """UTC instants in the contract's unit (microseconds: years 1 to 9999 fit)."""
    return pd.to_datetime(values, utc=True, errors="coerce").astype(TIMESTAMP)


def skipped_lines(summary: FeedbackSummary, limit: int = 20) -> list[str]:
    """One line per skipped decision, at most `limit`, then how many more."""
    lines = [f"skipped feedback_id {fid!r}: {problem}" for fid, problem in list(summary.skipped.items())[:limit]]
    if len(summary.skipped) > limit:
        lines.append(f"and {len(summary.skipped) - limit:,} more skipped decision(s)")
    return lines


def log_feedback(summary: FeedbackSummary, tmp: Path) -> None:
    """On the active MLflow run: the feedback metrics, the merged decisions as a CSV artifact
    (`feedback/decisions.csv`, times in UTC) and, when there are any, as the run's "feedback"
    dataset input (with the digest MLflow computes), its source the artifact when MLflow can read
    that location back."""
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.log_metrics(summary.metrics())
    folder, name = ARTIFACT.split("/")
    path = tmp / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    summary.decisions.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    mlflow.log_artifact(str(path), folder)
    if summary.decisions.empty:  # nothing merged: the metrics and the header-only CSV say so; MLflow
        return  # cannot take the digest of an empty table (NotImplementedError), and has nothing to digest
    tags = {"store": summary.source} if summary.source else None
    with warnings.catch_warnings():  # MLflow's notices about its own code, not meant for leadscore's users
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted in multiple ways")
        warnings.filterwarnings("ignore", "Starting with pandas version 4.0 all arguments of all")  # its digest
        try:
            dataset = mlflow.data.from_pandas(
                summary.decisions, source=mlflow.get_artifact_uri(ARTIFACT), name="feedback"
            )
        except MlflowException:  # e.g. a tracking server's mlflow-artifacts: location
            dataset = mlflow.data.from_pandas(summary.decisions, name="feedback")
    mlflow.log_input(dataset, context="feedback", tags=tags)
