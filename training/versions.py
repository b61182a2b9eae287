"""What each registered version is: its description and tags in the registry, and the listing
`leadscore models` prints.

A training run records what it learnt from (the data fingerprint), how the model did on the test
period, the gate's decision and the decisions merged from the feedback store, as the run's tags and
metrics. `describe_version` copies them onto the registered version, as tags and a one-paragraph
description, so the registry (and the MLflow UI's model page) tells them without opening the run.
`versions` reads them back for every version, from the run when a version predates these notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from core.errors import LeadscoreError

if TYPE_CHECKING:  # training.feedback brings pandas and the decision rules: imported where counts are read
    from training.feedback import Counts

# the feedback counts a run keeps (`training.feedback.Counts`), as version tags feedback.NAME
FEEDBACK = ("read", "merged", "labelled", "too_young", "not_newer", "unresolved", "skipped", "superseded", "excluded")

# version tag <- the run's tag (the data fingerprint and the gate's decision)
RUN_TAGS = {
    "data.sha256": "data.sha256",
    "data.leads": "data.leads",
    "data.outcomes": "data.outcomes",
    "data.first_handover": "data.first_handover",
    "data.last_handover": "data.last_handover",
    "gate.promote": "gate.promote",
    "gate.reason": "gate.reason",
    "feedback.matures": "feedback.matures",
    "feedback.mature_after_days": "feedback.mature_after_days",
}
# version tag <- the run's metric (the test period's figures, the feedback merged)
RUN_METRICS = {
    "test.roc_auc": "model_roc_auc",
    "test.log_loss": "model_log_loss",
    "test.rule_roc_auc": "rule_roc_auc",
    "test.account_roc_auc": "account_roc_auc",
    "test.account_ece": "account_ece",
    "test.account_best_lead_roc_auc": "account_best_lead_roc_auc",
    **{f"feedback.{n}": f"feedback_{n}" for n in FEEDBACK},
}


# a recalibration run (training/recalibrate.py): what it recalibrated, and its log-loss on the newest decisions
RECALIBRATED = "recalibration.of"
LATER_LOG_LOSS = "later.log_loss"  # version tag <- the run's `later_log_loss_after`


def notes(client: MlflowClient, run_id: str | None) -> dict[str, str]:
    """The version tags a run's records give (empty when the run is gone). A recalibration run's
    version takes its parent's test-period figures (the map moves probabilities, not their order:
    ROC AUC is the parent's; the parent's log-loss is of the probabilities before the map) and its
    own log-loss on the newest decisions after the map, `later.log_loss`."""
    if not run_id:
        return {}
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return {}
    tags, metrics = run.data.tags, run.data.metrics
    out = {key: tags[source] for key, source in RUN_TAGS.items() if tags.get(source)}
    for key, source in RUN_METRICS.items():
        if source in metrics:
            value = metrics[source]
            out[key] = str(int(value)) if key.startswith("feedback.") else f"{value:.6f}"
    if tags.get(RECALIBRATED):
        out = {**_parent_notes(client, tags[RECALIBRATED]), **out, RECALIBRATED: tags[RECALIBRATED]}
        if "later_log_loss_after" in metrics:
            out[LATER_LOG_LOSS] = f"{metrics['later_log_loss_after']:.6f}"
    return out


def _parent_notes(client: MlflowClient, parent: str) -> dict[str, str]:
    """The figures and data of the version a recalibration recalibrated ("NAME/VERSION"), when the
    registry still has it: its tags, else its run's records (the gate's tags are the recalibration's own)."""
    name, _, number = parent.partition("/")
    if not number.isdigit():
        return {}
    try:
        found = client.get_model_version(name, number)
    except MlflowException:
        return {}
    kept = {**notes(client, found.run_id), **found.tags}
    return {k: v for k, v in kept.items() if k.startswith(("test.", "data."))}


def description(tags: dict[str, str]) -> str:
    """One paragraph saying what the version is, from its tags."""
    parts = []
    if "test.roc_auc" in tags:
        rules = f" (rule score {float(tags['test.rule_roc_auc']):.4f})" if "test.rule_roc_auc" in tags else ""
        parts.append(
            f"Test period: ROC AUC {float(tags['test.roc_auc']):.4f}{rules}, "
            f"log-loss {float(tags['test.log_loss']):.4f}."
        )
    if "data.sha256" in tags:
        span = f" from {tags['data.first_handover'][:10]} to {tags['data.last_handover'][:10]}"
        parts.append(
            f"Trained on {int(tags['data.leads']):,} leads and {int(tags['data.outcomes']):,} hand-overs"
            f"{span if 'data.first_handover' in tags else ''} (data sha256 {tags['data.sha256'][:12]})."
        )
    if "feedback.labelled" in tags:
        parts.append(f"Sales decisions: {_counts(tags).sentence()}.")
    elif "feedback.merged" in tags:
        parts.append(
            f"{int(tags['feedback.merged']):,} sales decisions merged from the feedback store "
            f"({tags.get('feedback.superseded', '0')} superseded, {tags.get('feedback.skipped', '0')} skipped)."
        )
    if RECALIBRATED in tags:
        later = f" Log-loss after the new map on the newest decisions: {float(tags[LATER_LOG_LOSS]):.4f}."
        parts.insert(
            0,
            f"{tags[RECALIBRATED]} recalibrated: its ranking and test-period figures (the log-loss before "
            f"the new map).{later if LATER_LOG_LOSS in tags else ''}",
        )
    if "gate.promote" in tags:
        verdict = "promoted to @champion" if tags["gate.promote"] == "True" else "left as @challenger"
        parts.append(f"Gate: {verdict}: {tags.get('gate.reason', '')}.")
    return " ".join(parts)


def _counts(tags: dict[str, str]) -> Counts:
    """The feedback counts a version's tags keep."""
    from training.feedback import Counts

    given = {n: int(tags[f"feedback.{n}"]) for n in FEEDBACK if f"feedback.{n}" in tags}
    matures = tags.get("feedback.matures")
    if matures:
        first, _, last = matures.partition(" to ")
        given["matures"] = (first, last or first)
    return Counts(**given, mature_after_days=int(tags.get("feedback.mature_after_days", "14")))


def gate_decision(tags: dict[str, str]) -> str:
    """The gate's decision as it said it: "passed", "not compared" (it could not compare with the
    champion, so it did not promote) or "refused"; "-" when not recorded."""
    if tags.get("gate.promote") == "True":
        return "passed"
    if tags.get("gate.promote") == "False":
        return "not compared" if tags.get("gate.reason", "").startswith("not compared") else "refused"
    return "-"


def describe_version(client: MlflowClient, name: str, version: str, run_id: str) -> dict[str, str]:
    """Copy what run `run_id` recorded onto registered version `version`: tags and a description.
    Returns the tags."""
    tags = notes(client, run_id)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.update_model_version(name, version, description=description(tags))
    return tags


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as `leadscore models` shows it."""

    version: str
    aliases: tuple[str, ...]
    registered: datetime
    roc_auc: float | None
    log_loss: float | None
    account_roc_auc: float | None  # the account answer's, on the test period's account windows
    account_ece: float | None
    later_log_loss: float | None  # a recalibrated version's, on the newest decisions after its map
    recalibrated_from: str  # "NAME/VERSION" for a recalibrated version, else ""
    gate: str  # `gate_decision`: passed, not compared, refused, -
    reason: str
    handovers: int | None
    sha256: str
    feedback_merged: int | None
    description: str


def _number(tags: dict[str, str], key: str, kind=float):
    return kind(float(tags[key])) if key in tags else None


def versions(client: MlflowClient, name: str, limit: int = 20) -> list[VersionInfo]:
    """The newest `limit` versions of model `name`, newest first."""
    try:
        found = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"], max_results=limit)
    except MlflowException as exc:
        raise LeadscoreError(f"cannot list the versions of model {name}: {str(exc).splitlines()[0]}") from None
    if not found:
        raise LeadscoreError(f"no registered model named {name} (train one first: leadscore train)")
    aliases: dict[str, list[str]] = {}  # the versions found by a search do not carry their aliases
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for v in found:
        tags = dict(v.tags) if "test.roc_auc" in v.tags else {**notes(client, v.run_id), **v.tags}
        rows.append(
            VersionInfo(
                version=str(v.version),
                aliases=tuple(sorted(aliases.get(str(v.version), []))),
                registered=datetime.fromtimestamp(v.creation_timestamp / 1000, UTC),
                roc_auc=_number(tags, "test.roc_auc"),
                log_loss=_number(tags, "test.log_loss"),
                account_roc_auc=_number(tags, "test.account_roc_auc"),
                account_ece=_number(tags, "test.account_ece"),
                later_log_loss=_number(tags, LATER_LOG_LOSS),
                recalibrated_from=tags.get(RECALIBRATED, ""),
                gate=gate_decision(tags),
                reason=tags.get("gate.reason", ""),
                handovers=_number(tags, "data.outcomes", int),
                sha256=tags.get("data.sha256", ""),
                feedback_merged=_number(tags, "feedback.merged", int),
                description=v.description or description(tags),
            )
        )
    return rows
