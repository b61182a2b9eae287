"""Sales decisions from the service's feedback store, as outcomes rows for retraining.

Retraining reads the latest decision per hand-over (`FeedbackStore.latest_decisions`; corrections
have superseded earlier ones, voided decisions are left out), gives a decision without `mql_at` to
its lead's latest hand-over at or before the decision, and checks every row with the rules the
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

from core.decisions import decision_problems, placed
from features.contract import TIMESTAMP, ContractConfig, Dataset

OUTCOME_COLUMNS = ("lead_id", "mql_at", "decision", "reason", "decided_at")
ARTIFACT = "feedback/decisions.csv"
LATEST_FIRST = ["decided_at", "received_at", "feedback_id"]  # the hand-over rule's order


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
    """The store's latest decision per hand-over merged against a data folder's history. One read
    of the history (`FeedbackStore.decisions()`; its "latest" rows are `latest_decisions()`), so
    that the merged and the superseded counts come from the same moment."""
    stored = store.decisions()
    superseded = int((stored["status"] == "superseded").sum())
    latest = stored[stored["status"] == "latest"].reset_index(drop=True)
    return decisions_as_outcomes(latest, dataset, contract, superseded, source)


def decisions_as_outcomes(
    latest: pd.DataFrame, dataset: Dataset, contract: ContractConfig, superseded: int = 0, source: str = ""
) -> FeedbackSummary:
    """Outcomes rows for the latest stored decisions (`latest_decisions()`'s shape). A decision
    without `mql_at` belongs to its lead's latest hand-over at or before the decision; rows that
    break the decision rules are skipped by feedback_id; of two decisions that land on the same
    hand-over, the later one (decided_at, received_at, feedback_id) supersedes the other."""
    frame = latest.copy()
    for column in ("mql_at", "decided_at", "received_at"):
        if column in frame:
            frame[column] = _instants(frame[column])
    known = frame[frame["lead_id"].isin(dataset.leads["lead_id"])]
    known = _resolve_handovers(known, dataset.outcomes)
    placed = known[known["mql_at"].notna()]
    problems = decision_problems(placed, contract)
    bad = problems.notna()
    skipped = dict(zip(placed.loc[bad, "feedback_id"].astype(str), problems[bad], strict=True))
    good = placed[~bad].sort_values([c for c in LATEST_FIRST if c in placed], kind="stable")
    merged = good.drop_duplicates(["lead_id", "mql_at"], keep="last")
    rows = merged[["feedback_id", *OUTCOME_COLUMNS]].reset_index(drop=True)
    return FeedbackSummary(
        source=source,
        decisions=rows.astype({"feedback_id": "str", "lead_id": "str", "decision": "str"}),
        stored=len(latest),
        superseded=superseded + len(good) - len(merged),
        skipped=skipped,
        unknown_lead=len(frame) - len(known),
        no_handover=len(known) - len(placed),
    )


def _instants(values: pd.Series) -> pd.Series:
    """UTC instants in the contract's unit (microseconds: years 1 to 9999 fit)."""
    return pd.to_datetime(values, utc=True, errors="coerce").astype(TIMESTAMP)


def _resolve_handovers(known: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """`mql_at` filled for decisions without it: the lead's latest hand-over at or before
    `decided_at` (left empty when there is none)."""
    known = known.copy()
    asked = known["mql_at"].isna() & known["decided_at"].notna()
    if not asked.any():
        return known
    handovers = outcomes[["lead_id", "mql_at"]].astype({"mql_at": TIMESTAMP})
    on = placed(known.loc[asked, "lead_id"], known.loc[asked, "decided_at"], handovers, "mql_at")
    known.loc[asked, "mql_at"] = on["mql_at"].astype(known["mql_at"].dtype)
    return known


def skipped_lines(summary: FeedbackSummary, limit: int = 20) -> list[str]:
    """One line per skipped decision, at most `limit`, then how many more."""
    lines = [f"skipped feedback_id {fid!r}: {problem}" for fid, problem in list(summary.skipped.items())[:limit]]
    if len(summary.skipped) > limit:
        lines.append(f"and {len(summary.skipped) - limit:,} more skipped decision(s)")
    return lines


def log_feedback(summary: FeedbackSummary, tmp: Path) -> None:
    """On the active MLflow run: the feedback metrics, the merged decisions as a CSV artifact
    (`feedback/decisions.csv`, times in UTC) and as the run's "feedback" dataset input (with the
    digest MLflow computes), its source the artifact when MLflow can read that location back."""
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.log_metrics(summary.metrics())
    folder, name = ARTIFACT.split("/")
    path = tmp / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    summary.decisions.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    mlflow.log_artifact(str(path), folder)
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
