"""The promotion gate: a trained model becomes `@champion` only if the test period shows it ranks.

Three checks on the test period (hand-overs the model never learnt from; a random hold-out for a
flat snapshot), in order; the first that fails keeps `@champion` where it is (the previous
champion, or the rules when there is none, go on answering):

1. **better than chance**: the lower end of a 95% bootstrap interval of the model's ROC AUC is
   above 0.5. A model that gives every lead (nearly) the same probability, or ranks at random,
   fails, the first model of a registry included;
2. **not worse than the rule score**, where the rules fire (their score varies on the test
   period): the upper end of a 95% interval of ROC AUC (model) - ROC AUC (rules), both on the
   same resampled hand-overs, is at least 0. The model may tie with the rules within the data's
   uncertainty; it fails only when the data show it ranks worse;
3. **not worse than the current champion** on the test hand-overs the champion never learnt from
   (ROC AUC and log-loss within the tolerances of `GateConfig`; `training.train.champion_comparison`
   gives the figures).

The bootstrap (`scipy.stats.bootstrap`, percentile intervals, 1,000 resamples, a fixed seed so a
run repeats) resamples accepted and rejected hand-overs separately (stratified, as pROC does: each
resample keeps both outcomes), and ROC AUC is the Mann-Whitney U statistic over the pairs
(`scipy.stats.mannwhitneyu`), ties counted half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap, mannwhitneyu
from sklearn.metrics import roc_auc_score

from training.settings import GateConfig

CONFIDENCE = 0.95
RESAMPLES = 1_000
SEED = 20240624  # the bootstrap's: the same data give the same intervals and the same decision
MIN_EACH = 10  # accepted and rejected test hand-overs, each, below which no interval says anything


@dataclass(frozen=True)
class GateResult:
    promote: bool
    reason: str


@dataclass(frozen=True)
class Ranking:
    """How the model ranks the test period's hand-overs, with 95% bootstrap intervals; the rule
    figures are None when the rule score is one value there (the rules do not fire)."""

    rows: int
    roc_auc: float
    low: float
    high: float
    rule_roc_auc: float | None = None
    difference_low: float | None = None
    difference_high: float | None = None
    too_few: str | None = None  # why the test period cannot tell (too few of one outcome); no interval then

    def metrics(self) -> dict[str, float]:
        if self.too_few is not None:
            return {}
        """The intervals as run metrics."""
        out = {"model_roc_auc_low": self.low, "model_roc_auc_high": self.high}
        if self.rule_roc_auc is not None:
            out.update(roc_auc_difference_low=self.difference_low, roc_auc_difference_high=self.difference_high)
        return out

    def verdict(self) -> GateResult:
        """Checks 1 and 2 of the module's docstring, with the figures in words."""
        if self.too_few is not None:
            return GateResult(False, f"cannot tell whether it ranks better than chance: {self.too_few}")
        interval = f"95% interval {self.low:.4f} to {self.high:.4f}"
        auc = f"ROC AUC {self.roc_auc:.4f} ({interval}, {self.rows:,} test hand-overs)"
        if not self.low > 0.5:
            return GateResult(
                False,
                f"does not rank better than chance on the test period: {auc}; the lower end must be above 0.5 "
                "(see the training notes for what to try)",
            )
        if self.rule_roc_auc is None:
            return GateResult(True, f"ranks better than chance: {auc}; the rule score does not vary there")
        versus = (
            f"the rule score's {self.rule_roc_auc:.4f} (difference {self.roc_auc - self.rule_roc_auc:+.4f}, "
            f"95% interval {self.difference_low:+.4f} to {self.difference_high:+.4f})"
        )
        if self.difference_high < 0:
            return GateResult(False, f"ranks worse than the rule score on the test period: {auc} vs {versus}")
        return GateResult(True, f"ranks better than chance and not worse than the rules: {auc} vs {versus}")


def _auc(score: np.ndarray, accepted: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """ROC AUC of `score` over the (resampled) indices of accepted and rejected hand-overs (last axis)."""
    u = mannwhitneyu(score[accepted], score[rejected], axis=-1, method="asymptotic").statistic
    return u / (accepted.shape[-1] * rejected.shape[-1])


def ranking(y: np.ndarray, probability: np.ndarray, rule_scores: np.ndarray) -> Ranking:
    """The model's ROC AUC on the test period, and its difference from the rule score's where
    the rules fire, each with a stratified, paired bootstrap interval."""
    y = np.asarray(y)
    probability, rule_scores = np.asarray(probability, dtype=float), np.asarray(rule_scores, dtype=float)
    accepted, rejected = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if min(len(accepted), len(rejected)) < MIN_EACH:
        few = (
            f"the test period holds {len(accepted):,} accepted and {len(rejected):,} rejected hand-over(s); "
            f"at least {MIN_EACH} of each are needed (train on a longer history)"
        )
        return Ranking(len(y), float("nan"), float("nan"), float("nan"), too_few=few)
    fires = np.ptp(rule_scores) > 0

    def statistic(a: np.ndarray, r: np.ndarray, axis: int = -1) -> np.ndarray:
        model = _auc(probability, a, r)
        return np.stack([model, model - _auc(rule_scores, a, r)]) if fires else model

    interval = bootstrap(
        (accepted, rejected),
        statistic,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        batch=50,
        random_state=np.random.default_rng(SEED),
    ).confidence_interval
    low, high = np.atleast_1d(interval.low), np.atleast_1d(interval.high)
    model_auc = float(roc_auc_score(y, probability))
    if not fires:
        return Ranking(len(y), model_auc, float(low[0]), float(high[0]))
    rule_auc = float(roc_auc_score(y, rule_scores))
    return Ranking(len(y), model_auc, float(low[0]), float(high[0]), rule_auc, float(low[1]), float(high[1]))


def against_champion(challenger: dict[str, float], champion: dict[str, float] | None, config: GateConfig) -> GateResult:
    """Check 3: the challenger is not worse than the champion on the newest period."""
    if champion is None:
        return GateResult(True, "no champion yet")
    auc_drop = champion["roc_auc"] - challenger["roc_auc"]
    loss_rise = challenger["log_loss"] - champion["log_loss"]
    if auc_drop > config.max_auc_drop:
        return GateResult(False, f"ROC AUC {challenger['roc_auc']:.4f} vs champion {champion['roc_auc']:.4f}")
    if loss_rise > config.max_log_loss_rise:
        return GateResult(False, f"log-loss {challenger['log_loss']:.4f} vs champion {champion['log_loss']:.4f}")
    return GateResult(
        True,
        f"ROC AUC {challenger['roc_auc']:.4f} (champion {champion['roc_auc']:.4f}), "
        f"log-loss {challenger['log_loss']:.4f} (champion {champion['log_loss']:.4f})",
    )


def decide(
    ranked: Ranking, compared: tuple[dict[str, float], dict[str, float], str] | str | None, config: GateConfig
) -> GateResult:
    """The gate's decision: checks 1 and 2 (`Ranking.verdict`), then the champion comparison
    (`training.train.champion_comparison`'s answer); the reason says the champion's part first, then the ranking."""
    ranks = ranked.verdict()
    if not ranks.promote:
        return GateResult(False, f"{ranks.reason}; @champion stays where it is")
    if compared is None:
        return GateResult(True, f"no champion yet; {ranks.reason}")
    if isinstance(compared, str):
        return GateResult(False, f"{compared}; {ranks.reason}")
    champion, challenger, where = compared
    versus = against_champion(challenger, champion, config)
    return GateResult(versus.promote, f"{versus.reason}, {where}; {ranks.reason}")
