"""The reference profile of a model version: what its inputs, scores and calibration looked like
on data it did not fit on, kept beside it so that monitoring can tell when live traffic departs.

Built at training time on the **test period** of the run, the latest data the evaluated model did
not fit on, in two populations:

- the distributions (feature bins, score histogram, expected MQL share) on EVERY hand-over of the
  test period (from the time split's `test_from`; a flat snapshot: its held-out accounts): the
  population the service will score. The evaluated model's test part (`TrainingData.parts["test"]`)
  drops each hand-over of an account first seen earlier (so that no account is in two parts): it
  keeps about half of the period's hand-overs, the newest accounts, whose account features
  (contacts, account activity) are not those of live traffic;
- the calibration figures on that test part only: they need the evaluated model's honest
  probabilities, which exist only for rows of accounts it never fitted on.

Per segment (smb, mid_market, enterprise, unknown) and for "all" it keeps:

- every feature the model turns into its matrix (its own `feature_names`): numbers in 10 quantile
  bins whose inner edges come from the reference ("all"), right-closed, plus a missing slot ("days
  since" features are missing when the event never happened); categories as the 50 most frequent
  values seen at least `MIN_CATEGORY` times, then "other" (another value the model's fitted
  vocabulary knows), "unseen" (a value the model does not know: it reads it as unknown) and missing;
- the served model's probability in 10 fixed-width bins (`bin_counts("probability", ...)`) and its
  expected MQL share (at or above the segment's threshold), on every hand-over of the period;
- calibration: 10 fixed-width bins of the *evaluated* model's probability (predicted mean, observed
  rate, n), ECE, ROC AUC and acceptance rate. The served model was refit on data that includes the
  test period, so its own figures there would flatter it; the evaluated model's are the honest
  expectation of how a model trained this way does on new leads.

Compact and without personal data: counts and bin edges only, no rows, no lead ids. Categories are
the product's own normalised vocabularies (industry, department, region, country, source, size
band, segment, seniority level parsed from the job title, email type: business/personal/student);
the job title and email domain themselves never enter a feature. The extra categorical columns a
contract declares (`extra_fit_columns`) hold text whose content the product cannot know, so the
profile keeps only their missing share (`private`: every value counts as "other").

Stored as the MLflow artifact `monitoring/profile.json` of the version's run. `leadscore
recalibrate` copies its parent's profile and replaces the calibration part with figures from the
decisions it held out (`Profile.recalibrated`).
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import roc_auc_score

from core.errors import LeadscoreError
from training.metrics import expected_calibration_error

ARTIFACT = "monitoring/profile.json"
ALL = "all"  # the segment of every row
SCORE = "probability"  # the name `bin_counts` knows the score histogram by
QUANTILE_BINS = 10
SCORE_BINS = 10
TOP_CATEGORIES = 50
MIN_CATEGORY = 5  # a value seen fewer times is counted as "other", never named
FORMAT = 1

Kind = Literal["numeric", "categorical"]


class Bins(BaseModel):
    """One feature's (or the score's) reference slots and counts per segment. Numeric slots:
    (-inf, e1], (e1, e2], ..., (ek, inf), missing. Categorical: each category, other, unseen,
    missing."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    edges: list[float] = Field(default_factory=list)  # numeric: inner edges, increasing
    categories: list[str] = Field(default_factory=list)  # categorical: the named slots
    known: list[str] = Field(default_factory=list)  # categorical: further values the model knows ("other")
    private: bool = False  # categorical text of unknown content: no value kept, only the missing share
    counts: dict[str, list[int]] = Field(default_factory=dict)  # segment -> count per slot

    def slots(self, values: pd.Series) -> np.ndarray:
        """Each value's slot index."""
        if self.kind == "numeric":
            numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
            out = np.searchsorted(np.asarray(self.edges, dtype=float), numbers, side="left")
            out[np.isnan(numbers)] = len(self.edges) + 1
            return out
        # each distinct value slotted once (pd.factorize), then every row takes its value's slot
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        named = {c: i for i, c in enumerate(self.categories)}
        other, unseen, missing = len(self.categories), len(self.categories) + 1, len(self.categories) + 2
        known = set(self.known)
        distinct = [named.get(v, other if self.private or v in known else unseen) for v in map(str, uniques)]
        return np.append(np.asarray(distinct, dtype=int), missing)[codes]  # code -1 (missing): the last

    @property
    def size(self) -> int:
        return len(self.edges) + 2 if self.kind == "numeric" else len(self.categories) + 3

    def count(self, values: pd.Series) -> np.ndarray:
        return np.bincount(self.slots(values), minlength=self.size)

    def labels(self) -> list[str]:
        """A name per slot, for tables and pages."""
        if self.kind == "categorical":
            return [*self.categories, "other", "unseen", "missing"]
        edges = [f"{e:.4g}" for e in self.edges]
        if not edges:
            return ["any", "missing"]
        inner = [f"({a}, {b}]" for a, b in itertools.pairwise(edges)]
        return [f"<= {edges[0]}", *inner, f"> {edges[-1]}", "missing"]


class Calibration(BaseModel):
    """One segment's calibration on the reference rows: 10 fixed-width probability bins."""

    model_config = ConfigDict(extra="forbid")

    n: int
    predicted: list[float | None]  # mean predicted probability per bin (None: empty bin)
    observed: list[float | None]  # observed acceptance rate per bin
    counts: list[int]
    ece: float | None
    roc_auc: float | None  # None: one outcome only
    acceptance_rate: float | None
    threshold: float | None  # the served model's MQL threshold for the segment
    expected_mql_share: float | None  # share of the reference rows the served model scores at/above it
    source: str = "test period"  # which decisions these figures come from


class Profile(BaseModel):
    """A model version's reference (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid")

    format: int = FORMAT
    period: dict[str, str | int | None]  # rows, first, last: the reference rows
    segments: list[str]  # "all" first
    inputs: dict[str, Bins]  # feature name -> bins
    score: Bins
    calibration: dict[str, Calibration]  # segment -> figures
    # a recalibrated version moved its scores on purpose: its parent's score histogram is no
    # reference for them (score drift is measured again from the next trained version)
    score_moved: bool = False

    @property
    def features(self) -> list[str]:
        return list(self.inputs)

    def _bins(self, name: str) -> Bins:
        if name == SCORE:
            return self.score
        if name not in self.inputs:
            raise LeadscoreError(f"reference profile: no feature {name!r} (it has {', '.join(self.features[:6])}...)")
        return self.inputs[name]

    def kind(self, name: str) -> Kind:
        return self._bins(name).kind

    def bin_counts(self, name: str, values: pd.Series) -> np.ndarray:
        """Counts of `values` in the reference's slots for `name` (a feature or "probability")."""
        return self._bins(name).count(values)

    def reference_counts(self, name: str, segment: str = ALL) -> np.ndarray:
        """The reference's own counts for `name` in `segment` (zeros for a segment it lacks)."""
        bins = self._bins(name)
        return np.asarray(bins.counts.get(segment, [0] * bins.size), dtype=np.int64)

    def labels(self, name: str) -> list[str]:
        return self._bins(name).labels()

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def load(cls, model: str | int, client: MlflowClient, name: str = "leadscore") -> Profile:
        """The profile of a model version: a version number, models:/NAME/N, models:/NAME@ALIAS."""
        from training.registry import run_id_of

        uri = f"models:/{name}/{model}" if str(model).isdigit() else str(model)
        run_id = run_id_of(uri, client)
        if run_id is None:
            raise LeadscoreError(f"reference profile: no registered model version {uri}")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = client.download_artifacts(run_id, ARTIFACT, tmp)
                return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
        except (MlflowException, OSError):
            raise LeadscoreError(
                f"reference profile: {uri} has none (registered before profiles were kept): retrain to get one"
            ) from None

    def recalibrated(self, calibration: dict[str, Calibration]) -> Profile:
        """This profile with the calibration of the segments in `calibration` replaced, its score
        histogram marked as moved (`score_moved`)."""
        return self.model_copy(update={"calibration": {**self.calibration, **calibration}, "score_moved": True})


def _numeric(values: np.ndarray) -> Bins:
    present = values[~np.isnan(values)]
    if not len(present):
        return Bins(kind="numeric")
    quantiles = np.quantile(present, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1])
    return Bins(kind="numeric", edges=[float(e) for e in np.unique(quantiles)])


def _categorical(values: pd.Series, known: list[str], private: bool) -> Bins:
    if private:
        return Bins(kind="categorical", private=True)
    counts = values.dropna().astype(str).value_counts()
    counts = counts[counts >= MIN_CATEGORY].sort_index().sort_values(ascending=False, kind="stable")
    named = list(counts.index[:TOP_CATEGORIES])
    return Bins(kind="categorical", categories=named, known=sorted(set(known) - set(named)))


def calibration_of(
    y: np.ndarray, probability: np.ndarray, threshold: float | None, served: np.ndarray | None, source: str
) -> Calibration:
    """One segment's calibration figures (`served`: the served model's probabilities, for the
    expected MQL share at `threshold`)."""
    y, probability = np.asarray(y, dtype=float), np.asarray(probability, dtype=float)
    which = np.clip(np.digitize(probability, np.linspace(0, 1, SCORE_BINS + 1)[1:-1]), 0, SCORE_BINS - 1)
    counts = np.bincount(which, minlength=SCORE_BINS)
    mean = lambda v: [float(v[which == b].mean()) if counts[b] else None for b in range(SCORE_BINS)]  # noqa: E731
    n, both = len(y), len(np.unique(y)) == 2
    share = None
    if served is not None and threshold is not None and len(served):
        share = float((np.asarray(served) >= threshold).mean())
    return Calibration(
        n=n,
        predicted=mean(probability),
        observed=mean(y),
        counts=counts.tolist(),
        ece=expected_calibration_error(y, probability) if n else None,
        roc_auc=float(roc_auc_score(y, probability)) if both else None,
        acceptance_rate=float(y.mean()) if n else None,
        threshold=threshold,
        expected_mql_share=share,
        source=source,
    )


def build_profile(
    model,
    features: pd.DataFrame,
    y: np.ndarray,
    evaluated: np.ndarray,
    mql_at: pd.Series | None = None,
    population: pd.DataFrame | None = None,
) -> Profile:
    """The profile of the served `model` (a `LeadModel`): calibration on the evaluated model's
    test rows `features` (the frame the model reads, with `segment`), their labels `y` and the
    evaluated model's probabilities for them; the feature bins, the score histogram and the
    expected MQL shares on `population` (every hand-over of the test period, with `mql_at` their
    times; default: the test rows). See the module's docstring."""
    features = features.reset_index(drop=True)
    population = features if population is None else population.reset_index(drop=True)
    segments_of = population["segment"].astype(str).to_numpy()
    segments = [ALL, *sorted(set(segments_of) | set(features["segment"].astype(str)))]
    masks = {s: np.ones(len(population), bool) if s == ALL else segments_of == s for s in segments}
    private = model.contract.private_columns
    inputs: dict[str, Bins] = {}
    for name in model.feature_names:
        column = population[name]
        if model.spec[name].kind == "category":
            bins = _categorical(column, model.categories.get(name, []), name in private)
        else:
            bins = _numeric(pd.to_numeric(column, errors="coerce").to_numpy(dtype=float))
        slots = bins.slots(column)
        bins.counts = {s: np.bincount(slots[m], minlength=bins.size).tolist() for s, m in masks.items()}
        inputs[name] = bins
    answers = model.answers(population)
    score = Bins(kind="numeric", edges=[round(e, 10) for e in np.linspace(0, 1, SCORE_BINS + 1)[1:-1]])
    slots = score.slots(pd.Series(answers.probability))
    score.counts = {s: np.bincount(slots[m], minlength=score.size).tolist() for s, m in masks.items()}
    tested = features["segment"].astype(str).to_numpy()
    calibration = {}
    for s, m in masks.items():
        threshold = float(model.threshold([s])[0]) if s != ALL else None
        t = np.ones(len(features), bool) if s == ALL else tested == s
        cal = calibration_of(y[t], evaluated[t], threshold, answers.probability[m], "test period")
        if s == ALL:  # the share of all rows at/above each row's own segment threshold
            cal.expected_mql_share = float((answers.probability >= answers.threshold).mean()) if m.any() else None
        calibration[s] = cal
    period = {"rows": len(population), "first": None, "last": None}
    if mql_at is not None and len(mql_at):
        period.update(first=pd.Timestamp(mql_at.min()).isoformat(), last=pd.Timestamp(mql_at.max()).isoformat())
    return Profile(period=period, segments=segments, inputs=inputs, score=score, calibration=calibration)


def log_profile(profile: Profile) -> None:
    """The profile as the active MLflow run's `monitoring/profile.json`."""
    import mlflow

    mlflow.log_dict(json.loads(profile.to_json()), ARTIFACT)
