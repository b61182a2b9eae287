"""Where the comparison's rows come from: one row per hand-over with the model's answer, the rule
score, and what sales decided.

From a data folder: history, each hand-over scored as of its `mql_at` with the registered model,
joined with its decision by (lead, hand-over). From the service's database: live traffic, where
each score in the score log is a hand-over at its `scored_at`; a decision belongs to the lead's
latest score at or before its `mql_at` (when the CRM sent it) or else at or before `decided_at`
(the answer sales acted on); of two decisions landing on one score the latest (decided_at,
received_at, feedback_id) is in force. A lead without a decision counts once, at its latest
score, as open. Scores the rules gave alone (the model was unavailable) have no model opinion and
are left out of the comparison, as are decisions about a lead never scored before them; both
are counted.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.decisions import placed as placed_on
from core.schema import ANSWER, Field, key_of

UTC_NS = "datetime64[ns, UTC]"


def report_columns(fields: tuple[Field, ...] = ANSWER) -> list[str]:
    """The comparison frame's columns: each hand-over's time and source, the answer's fields
    (`core.schema.ANSWER`) and what sales decided."""
    lead_id = key_of(fields).name
    answer = [f.name for f in fields if f.name != lead_id]
    return [lead_id, "handed_over_at", "source", *answer, "decision", "reason"]


COLUMNS = report_columns()


def from_folder(
    data: Path,
    model_uri: str,
    tracking_uri: str | None = None,
    rules: str | None = None,
    with_reasons: bool = True,
    unseen_only: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Every hand-over of a data folder, scored as of its hand-over by the model, and by its rules
    or by the rule config in the YAML file `rules`; joined with its decision by (lead, hand-over).
    With `unseen_only`, only the hand-overs the model never trained on are scored (all of them
    when its run recorded no test period)."""
    from dataclasses import replace

    from features.contract import TIMESTAMP, load_dataset
    from features.defaults import load_rules
    from training import registry
    from training.score import score_dataset

    model = registry.load_model(model_uri, registry.connect(tracking_uri))
    dataset = load_dataset(data, model.contract)
    rule_config = load_rules(rules) if rules else None
    split = run_split(model_uri, tracking_uri)
    if not dataset.outcomes.empty:  # a folder exported after all the served model learnt from is new to it
        split["folder_from"] = dataset.outcomes["mql_at"].min()
        split["after_training"] = split["learnt_to"] is not None and split["folder_from"] > split["learnt_to"]
    if unseen_only and split["unseen_from"] is not None and not dataset.outcomes.empty:
        # a hand-over's features read its lead, its account and their events, never other
        # hand-overs: scoring only the unseen ones gives them the same answers, sooner
        outcomes = dataset.outcomes.merge(dataset.leads[["lead_id", "account_id"]], on="lead_id", how="left")
        first = outcomes.groupby("account_id", dropna=False)["mql_at"].transform("min")
        dataset = replace(dataset, outcomes=dataset.outcomes[(first >= split["unseen_from"]).to_numpy()])
    answer = score_dataset(model, dataset, at_handover=True, reasons=with_reasons, rules=rule_config)
    answer = answer.rename(columns={"as_of": "handed_over_at"}).astype({"handed_over_at": TIMESTAMP})
    handovers = dataset.outcomes[["lead_id", "mql_at", "decision", "reason"]].rename(
        columns={"mql_at": "handed_over_at"}
    )
    handovers = handovers.merge(dataset.leads[["lead_id", "source"]], on="lead_id", how="left")
    frame = answer.merge(handovers, on=["lead_id", "handed_over_at"], how="left", validate="one_to_one")
    frame["source"] = frame["source"].fillna("unknown").astype(str)
    frame["segment"] = frame["segment"].astype(str)
    info = {"model_version": model.version, "source": "history", **split}
    if info["unseen_from"] is not None:
        # training kept each account in the oldest period it appears in: a hand-over is unseen
        # only if its account's first hand-over is in the test period
        first = frame.groupby("account_id")["handed_over_at"].transform("min")
        frame["trained_on"] = (first < info["unseen_from"]).to_numpy()
    extras = [c for c in ("top_reasons", "trained_on") if c in frame]
    return frame.reindex(columns=[*COLUMNS, *extras]), info


def run_split(model_uri: str, tracking_uri: str | None = None) -> dict:
    """How the model's training run split its history: `split_kind` "time" (tested on the newest
    hand-overs, from `unseen_from` on), "random" (a flat snapshot without hand-over times: tested
    on accounts drawn at random), or None when the run is unknown or did not say; and the windows
    the served model learnt from (training/refit.py): `refit` (refit after its evaluation, so
    calibrated on the newest hand-overs after `unseen_from`), `fitted_to` (its ranking),
    `calibrated_from` and `calibrated_to` (its calibration and thresholds), `learnt_to` the newest
    hand-over of either (of the run's data when the run did not record them)."""
    from training import registry

    client = registry.connect(tracking_uri)
    run_id = registry.run_id_of(model_uri, client)
    tags = {}
    if run_id is not None:  # else a model outside the registry
        try:
            tags = client.get_run(run_id).data.tags
        except Exception:  # a run the store no longer has
            tags = {}
    test_from = tags.get("split.test_from")
    unseen_from = pd.Timestamp(test_from) if test_from else None
    served = {k: _stamp(tags.get(f"served.{k}")) for k in ("fitted_to", "calibrated_from", "calibrated_to")}
    refit = unseen_from is not None and tags.get("served.method") == "refit" and served["fitted_to"] is not None
    if refit:
        # the registered model was refit after its evaluation (training/refit.py): its booster
        # learnt from every hand-over up to served.fitted_to, and its calibration and thresholds
        # from the newest ones (served.calibrated_from on)
        unseen_from = max(unseen_from, served["fitted_to"] + pd.Timedelta(microseconds=1))
    windows = [t for t in (served["fitted_to"], served["calibrated_to"]) if t is not None]
    learnt_to = max(windows) if windows else _stamp(tags.get("data.last_handover"))
    split = {"split_kind": tags.get("split.kind"), "unseen_from": unseen_from, "refit": refit}
    return {**split, **served, "learnt_to": learnt_to}


def utc(value) -> pd.Timestamp:
    """A time (text or timestamp, naive read as UTC) in UTC."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def within(when: pd.Series, start=None, end=None) -> pd.Series:
    """Which of the UTC times `when` fall from `start` (inclusive) to before `end` (None: open)."""
    keep = pd.Series(True, index=when.index)
    if start is not None:
        keep &= when >= utc(start)
    if end is not None:
        keep &= when < utc(end)
    return keep


def _stamp(text: str | None) -> pd.Timestamp | None:
    """A run tag's time in UTC, None when the run did not record it."""
    return utc(text) if text else None


def from_store(url: str) -> tuple[pd.DataFrame, dict]:
    """Live traffic from the service's database (a URL, or "default": $LEADSCORE_DB_URL, else
    ./leadscore.db): the score log's hand-overs and the decisions in force (voided and superseded
    left out), joined as the module's docstring says; the info's "funnel" holds every scored lead
    once a week (`live_funnel`), for acceptance by inverse propensity weighting."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from core.errors import LeadscoreError
    from core.store import FeedbackStore, database_url, redacted

    url = database_url(None if url == "default" else url)
    try:
        parsed = make_url(url)
    except Exception:
        raise LeadscoreError(f"--db: '{redacted(url)}' is not a database URL (e.g. sqlite:///leadscore.db)") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).is_file():
        # connecting would create an empty database file there
        raise LeadscoreError(f"{redacted(url)}: no such SQLite file ({parsed.database})")
    store = FeedbackStore(url)
    try:
        logged = store.read_scores()
        decided = store.latest_decisions()
    except (LeadscoreError, SQLAlchemyError) as exc:
        raise LeadscoreError(f"{redacted(url)}: cannot read the score log ({type(exc).__name__})") from None
    finally:
        store.engine.dispose()
    frame, counts = live_handovers(logged, decided)
    counts["funnel"] = live_funnel(logged, decided)
    if frame.empty:
        raise LeadscoreError(f"{redacted(url)}: the score log holds no model scores yet: nothing to compare")
    versions = sorted(str(v) for v in frame["model_version"].dropna().unique())
    info = {"model_version": ", ".join(versions) or None, "source": "live", "split_kind": None, "unseen_from": None}
    return frame, {**info, **counts}


def placed_decisions(logged: pd.DataFrame, decided: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The decisions in force (`decided`) on the score log's rows (`logged`, with its `id`): one per
    score row (`id`, `decision`, `reason`), placed as the module's docstring says, and how many
    could not be placed (a lead never scored before its decision)."""
    logged = _timed(logged)
    decided = decided.assign(lead_id=decided["lead_id"].astype(str))
    for column in ("mql_at", "decided_at", "received_at"):
        decided[column] = pd.to_datetime(decided[column], utc=True).astype(UTC_NS)
    at = decided["mql_at"].fillna(decided["decided_at"])  # the rule of core.decisions.placed
    on = placed_on(decided["lead_id"], at, logged[["id", "lead_id", "scored_at"]], "scored_at")
    placed = decided.assign(id=on["id"], scored_at=on["scored_at"])
    unplaced = int(placed["id"].isna().sum())
    placed = placed.dropna(subset=["id"]).sort_values(["decided_at", "received_at", "feedback_id"], kind="stable")
    placed = placed.drop_duplicates("id", keep="last").astype({"id": logged["id"].dtype})
    return placed[["id", "decision", "reason"]].reset_index(drop=True), unplaced


def _timed(logged: pd.DataFrame) -> pd.DataFrame:
    return logged.assign(
        scored_at=pd.to_datetime(logged["scored_at"], utc=True).astype(UTC_NS), lead_id=logged["lead_id"].astype(str)
    )


def live_handovers(logged: pd.DataFrame, decided: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The comparison rows of a score log (`logged`, with its `id`) and the decisions in force
    (`decided`), and how many rows were left out: {"rules_answered": ..., "unplaced": ...}."""
    logged = _timed(logged)
    placed, unplaced = placed_decisions(logged, decided)
    handed = logged.merge(placed, on="id")
    undecided = logged[~logged["lead_id"].isin(handed["lead_id"])].sort_values(["scored_at", "id"])
    opened = undecided.drop_duplicates("lead_id", keep="last").assign(decision="open", reason=None)
    frame = pd.concat([handed, opened], ignore_index=True)
    rules_answered = frame["probability"].isna()
    frame = frame[~rules_answered].rename(columns={"scored_at": "handed_over_at"})
    frame["source"] = frame["source"].fillna("unknown").astype(str) if "source" in frame else "unknown"
    for column in ("is_mql", "rule_is_mql"):
        frame[column] = frame[column].astype(bool)
    frame = frame.sort_values(["handed_over_at", "lead_id"], kind="stable").reindex(columns=COLUMNS)
    return frame.reset_index(drop=True), {"rules_answered": int(rules_answered.sum()), "unplaced": unplaced}


def live_funnel(logged: pd.DataFrame, decided: pd.DataFrame) -> pd.DataFrame:
    """Every lead the model scored, once a week (`monitoring.ipw.funnel`: the answer a decision
    sits on, else the week's latest), for acceptance on the whole funnel: `week` (its Monday),
    the answer's MQL flags, `explore` and `propensity` when the log keeps them, `handed`,
    `accepted` (1/0, NaN while open or never sent) and `below_both`."""
    from monitoring.ipw import funnel

    logged = _timed(logged)
    placed, _ = placed_decisions(logged, decided)  # on every answer, as the comparison places them
    model = logged[logged["probability"].notna()]
    outcome = placed["decision"].map({"accepted": 1.0, "rejected": 0.0, "recycled": 0.0})
    week = model["scored_at"].dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time
    return funnel(model.assign(week=week), outcome.set_axis(placed["id"]), by="week")
