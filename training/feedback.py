"""Sales decisions from the service's feedback store, as outcomes rows for retraining.

Retraining places every stored decision on its hand-over first (one without `mql_at`: its lead's
latest hand-over in the history at or before the decision, `core.decisions.with_status`), then
takes the latest decision per placed hand-over (corrections supersede earlier ones, with or
without `mql_at`; voided decisions are left out), and checks every row with the rules the
service's door applies (`core.decisions.decision_problems`). A row that breaks them is skipped and
named by its feedback_id: one bad stored decision never stops a retrain. `log_feedback` records
what was merged on the MLflow run (metrics, a dataset input with its digest, a CSV artifact that
`leadscore retrain --decisions` reads back), so that the run can be rebuilt.

`Counts` says what became of the decisions, for retrain and recalibrate alike: read, merged,
labelled (became training or calibration labels) and every rule that left some out, each counted
where that rule is applied (`training/labels.py` for the label policy and maturity; here for the
placing, the checks and corrections; `training/recalibrate.py` for "newer than the model" and the
score log), with the date the young ones mature. The console, the MLflow run (metrics
`feedback_*`) and the version's description say the same.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import pandas as pd

from core.decisions import decision_problems, with_status
from features.contract import TIMESTAMP, ContractConfig, Dataset
from training.labels import EXCLUDED, LABELLED, TOO_YOUNG, fates
from training.settings import LabelPolicy

OUTCOME_COLUMNS = ("lead_id", "mql_at", "decision", "reason", "decided_at")
ARTIFACT = "feedback/decisions.csv"


def _day(when) -> str:
    return f"{pd.Timestamp(when):%Y-%m-%d}"


@dataclass(frozen=True)
class Counts:
    """What became of the decisions a command read, by rule (see the module's docstring)."""

    read: int = 0  # decision rows read (every status)
    merged: int = 0  # in force and placed on a hand-over: what the label rules saw
    labelled: int = 0  # became labels
    too_young: int = 0  # younger than mature_after_days before the newest decision
    not_newer: int = 0  # on hand-overs the model already learnt from (recalibrate)
    unresolved: int = 0  # no hand-over to place it on, an unknown lead, or no score by the model
    skipped: int = 0  # broke the decision rules
    superseded: int = 0  # replaced by a later decision for the same hand-over (corrections)
    excluded: int = 0  # the label policy's `exclude` (a reason such as duplicate)
    before_since: int = 0  # on hand-overs before --since
    matures: tuple[str, str] | None = None  # the first and last date the young ones mature on
    mature_after_days: int = 14
    learnt_through: str | None = None  # the newest hand-over the model learnt from, when it counts
    since: str | None = None

    def metrics(self) -> dict[str, float]:
        """The run's `feedback_*` metrics."""
        names = ("read", "merged", "labelled", "too_young", "not_newer", "unresolved", "skipped", "superseded")
        return {f"feedback_{n}": float(getattr(self, n)) for n in (*names, "excluded", "before_since")}

    def tags(self) -> dict[str, str]:
        """The dates the counts speak of, as run tags."""
        out = {"feedback.mature_after_days": str(self.mature_after_days)}
        if self.matures:
            out["feedback.matures"] = " to ".join(dict.fromkeys(self.matures))
        return out

    def young(self) -> str:
        """The too-young rule in words, with the date(s) they mature on."""
        if not self.too_young:
            return ""
        first, last = self.matures or ("?", "?")
        when = f"on {first}" if first == last else f"from {first} to {last}"
        return (
            f"{self.too_young:,} too young (they mature {when}: mature_after_days={self.mature_after_days} "
            "before the newest decision)"
        )

    def reasons(self) -> list[str]:
        """Each rule that left decisions out, with its count and what would let them in."""
        out = [self.young()] if self.too_young else []
        if self.not_newer and self.learnt_through is None:  # a flat snapshot's model counts leads
            out.append(f"{self.not_newer:,} not newer than the model (of leads it learnt from)")
        elif self.not_newer:
            out.append(
                f"{self.not_newer:,} not newer than the model (on hand-overs up to {self.learnt_through}, the newest "
                "the model learnt from: only decisions on later hand-overs test its calibration)"
            )
        if self.before_since:
            out.append(f"{self.before_since:,} before --since {self.since} (an earlier --since takes them)")
        if self.excluded:
            out.append(f"{self.excluded:,} excluded by the label policy (labels: exclude)")
        if self.unresolved:
            out.append(f"{self.unresolved:,} unresolved (no hand-over or score to place them on, or an unknown lead)")
        if self.skipped:
            out.append(f"{self.skipped:,} skipped as invalid")
        if self.superseded:
            out.append(f"{self.superseded:,} superseded by a correction")
        return out

    def sentence(self) -> str:
        """ "48 merged, 0 labelled: 48 too young (they mature on ...)"."""
        why = self.reasons()
        return f"{self.merged:,} merged, {self.labelled:,} labelled" + (f": {'; '.join(why)}" if why else "")

    def rows(self) -> list[tuple[str, str]]:
        """(rule, count) for the console's table."""
        return [(f.name.replace("_", " "), f"{getattr(self, f.name):,}") for f in fields(self)[:10]]


def counts_of(fate: pd.Series, mql_at: pd.Series, policy: LabelPolicy, **given) -> Counts:
    """`Counts` of rows whose label fate (`training.labels.fates`) is `fate`, the young ones
    maturing `mature_after_days` after their hand-over; `given`: the other rules' counts."""
    young = mql_at[(fate == TOO_YOUNG).to_numpy()]
    days = pd.Timedelta(days=policy.mature_after_days)
    matures = (_day(young.min() + days), _day(young.max() + days)) if len(young) else None
    return Counts(
        labelled=int((fate == LABELLED).sum()),
        too_young=len(young),
        excluded=int((fate == EXCLUDED).sum()),
        matures=matures,
        mature_after_days=policy.mature_after_days,
        **given,
    )


def merge_outcomes(outcomes: pd.DataFrame, extra: pd.DataFrame | None) -> pd.DataFrame:
    """The history's outcomes with new decisions replacing the outcomes of the hand-overs they decide."""
    if extra is None or not len(extra):
        return outcomes
    merged = pd.concat([outcomes, extra], ignore_index=True)
    return merged.drop_duplicates(["lead_id", "mql_at"], keep="last")


def with_counts(summary: FeedbackSummary, dataset: Dataset, extra: pd.DataFrame, policy: LabelPolicy):
    """`summary` with its `counts`: the label rules applied to the history with `extra` (every new
    decision, the summary's among them) merged, as the retrain will apply them."""
    merged = merge_outcomes(dataset.outcomes, extra)
    fate = fates(merged, policy)
    keys = pd.MultiIndex.from_frame(merged[["lead_id", "mql_at"]].astype({"lead_id": str}))
    ours = pd.MultiIndex.from_frame(summary.decisions[["lead_id", "mql_at"]].astype({"lead_id": str}))
    mine = keys.isin(ours)
    counts = counts_of(
        fate["fate"][mine],
        merged["mql_at"][mine],
        policy,
        read=summary.read,
        merged=summary.merged,
        unresolved=summary.unknown_lead + summary.no_handover,
        skipped=len(summary.skipped),
        superseded=summary.superseded,
    )
    return replace(summary, counts=counts)


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
    read: int = 0  # decision rows read (every status)
    counts: Counts | None = None  # what became of them (`with_counts`, once the label rules ran)

    @property
    def merged(self) -> int:
        return len(self.decisions)

    @property
    def outcomes(self) -> pd.DataFrame:
        """The merged decisions as contract outcomes rows."""
        return self.decisions[list(OUTCOME_COLUMNS)]

    def metrics(self) -> dict[str, float]:
        if self.counts is not None:
            return self.counts.metrics()
        return {
            "feedback_read": float(self.read),
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
        read=len(frame),
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
    if summary.counts is not None:
        mlflow.set_tags(summary.counts.tags())
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
