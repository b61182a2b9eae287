"""The alerts and the verdict of `leadscore monitor` from hand-made figure tables: each alert fires
just past its threshold and stays quiet just short of it, lines name lead fields, segments and
dates, the verdict gives the command that acts on it, and the exit code follows the alerts."""

from __future__ import annotations

import pandas as pd
import pytest

from core.errors import LeadscoreError
from monitoring.alerts import Figures, evaluate, load_thresholds
from monitoring.verdict import NOTHING, Where, findings

LIMITS = load_thresholds()
W1, W2 = pd.Timestamp("2026-02-02", tz="UTC"), pd.Timestamp("2026-02-09", tz="UTC")


def _drift(rows) -> pd.DataFrame:
    columns = ["period", "feature", "field", "segment", "rows", "psi", "p_adjusted"]
    return pd.DataFrame(rows, columns=columns)


def _calibration(rows) -> pd.DataFrame:
    columns = ["period", "segment", "kind", "n", "ece", "roc_auc", "reference_ece", "reference_auc"]
    return pd.DataFrame(rows, columns=columns)


def _quiet() -> dict:
    """One week of every table, nothing near a threshold."""
    return dict(
        drift=_drift([(W1, "company_size", "company_size", "all", 1000, 0.01, 0.9)]),
        calibration=_calibration([(W1, "all", "realised", 500, 0.02, 0.80, 0.02, 0.80)]),
        fallback=pd.DataFrame({"period": [W1], "rows": [1000], "rules": [10], "share": [0.01], "why": [None]}),
        volume=pd.DataFrame({"period": [W1], "segment": ["all"], "leads": [1000], "mql": [100], "expected": [100.0]}),
    )


def test_the_shipped_thresholds_and_an_override_that_names_its_file(tmp_path):
    mine = tmp_path / "alerts.yaml"
    mine.write_text("drift_psi: 0.5\n", encoding="utf-8")
    assert load_thresholds(mine).drift_psi == 0.5 and load_thresholds(mine).ece_rise == LIMITS.ece_rise
    mine.write_text("drift_psi: 0.5\npsi_max: 3\n", encoding="utf-8")
    with pytest.raises(LeadscoreError, match=r"alerts.yaml: psi_max: Extra inputs are not permitted"):
        load_thresholds(mine)
    mine.write_text("volume_factor: 0.5\n", encoding="utf-8")
    with pytest.raises(LeadscoreError, match="volume_factor: Input should be greater than 1"):
        load_thresholds(mine)


def test_nothing_fires_on_quiet_figures():
    alerts = evaluate(Figures(**_quiet()), LIMITS)
    assert alerts == [] and findings(alerts, Where()) == [NOTHING]


@pytest.mark.parametrize(
    ("psi", "p", "rows", "fires"),
    [(0.25, 0.001, 1000, True), (0.15, 0.001, 1000, False), (0.25, 0.05, 1000, False), (0.25, 0.001, 50, False)],
)
def test_drift_fires_past_psi_and_p_with_enough_rows(psi, p, rows, fires):
    tables = _quiet() | {"drift": _drift([(W1, "company_size", "company_size", "all", rows, psi, p)])}
    assert bool(evaluate(Figures(**tables), LIMITS)) == fires


def test_drift_names_the_lead_fields_the_segments_and_the_first_week():
    drift = _drift(
        [
            (W1, "source", "source", "all", 1000, 1.2, 1e-9),
            (W2, "size_band", "company_size", "smb", 600, 2.31, 1e-9),
            (W2, "size_band", "company_size", "enterprise", 400, 1.9, 1e-9),
            (W2, "size_band", "company_size", "all", 1000, 2.0, 1e-9),
            (W2, "industry", "industry", "all", 1000, 0.05, 0.6),
        ]
    )
    alerts = evaluate(Figures(**(_quiet() | {"drift": drift})), LIMITS)
    assert [a.line for a in alerts] == [
        "ALERT drift: company_size (PSI 2.31 in all segments), source (PSI 1.20 overall) since 2026-02-02"
    ]
    said = findings(alerts, Where(data="data/crm"))
    assert said == [
        "2 features drifted (company_size, source) since 2026-02-02 while the ranking holds: check the CRM export "
        "for a change in them; if the leads really changed, `leadscore retrain --data data/crm --feedback-db default`"
    ]


def test_the_score_drifts_by_psi_alone():
    drift = _drift([(W1, "score", "score", "all", 1000, 0.4, None)])
    assert evaluate(Figures(**(_quiet() | {"drift": drift})), LIMITS)[0].names == ("score",)


@pytest.mark.parametrize(("ece", "n", "fires"), [(0.11, 500, True), (0.06, 500, False), (0.11, 50, False)])
def test_calibration_fires_per_segment_and_says_recalibrate_from_the_week_it_drifted(ece, n, fires):
    rows = [
        (W1, "enterprise", "realised", 500, 0.03, 0.8, 0.02, 0.8),
        (W2, "enterprise", "realised", n, ece, 0.8, 0.02, 0.8),
        (W2, "smb", "realised", 500, 0.02, 0.8, 0.02, 0.8),
    ]
    alerts = evaluate(Figures(**(_quiet() | {"calibration": _calibration(rows)})), LIMITS)
    assert bool(alerts) == fires
    if fires:
        assert alerts[0].line == "ALERT calibration: enterprise (ECE 0.11 from 0.02, 500 decided) since 2026-02-09"
        assert findings(alerts, Where()) == [
            "calibration drift in enterprise (ECE 0.11 from 0.02): "
            "`leadscore recalibrate --since 2026-02-09 --feedback-db default`"
        ]


@pytest.mark.parametrize(("auc", "fires"), [(0.74, True), (0.76, False)])
def test_ranking_fell_means_retrain_with_the_drifted_features(auc, fires):
    rows = [(W1, "all", "realised", 500, 0.02, auc, 0.02, 0.80)]
    drift = _drift([(W1, "source", "source", "all", 1000, 1.2, 1e-9)])
    alerts = evaluate(Figures(**(_quiet() | {"calibration": _calibration(rows), "drift": drift})), LIMITS)
    assert ("ranking" in {a.kind for a in alerts}) == fires
    if fires:
        assert "ALERT ranking: ROC AUC 0.74 from 0.80 (realised) since 2026-02-02" in [a.line for a in alerts]
        assert findings(alerts, Where())[0] == (
            "ranking fell and 1 feature drifted (source) (ROC AUC 0.74 from 0.80): "
            "`leadscore retrain --data DIR --feedback-db default`"
        )


def test_before_decisions_the_estimated_auc_is_judged():
    rows = [(W1, "all", "estimated", 1000, 0.02, 0.70, 0.02, 0.80)]
    alerts = evaluate(Figures(**(_quiet() | {"calibration": _calibration(rows)})), LIMITS)
    assert [a.line for a in alerts] == ["ALERT ranking: ROC AUC 0.70 from 0.80 (estimated) since 2026-02-02"]
    assert "(estimated ROC AUC 0.70 from 0.80)" in findings(alerts, Where())[0]


@pytest.mark.parametrize(("share", "fires"), [(0.06, True), (0.04, False)])
def test_fallback_share(share, fires):
    fallback = pd.DataFrame({"period": [W1], "rows": [1000], "rules": [share * 1000], "share": [share], "why": [None]})
    alerts = evaluate(Figures(**(_quiet() | {"fallback": fallback})), LIMITS)
    assert bool(alerts) == fires
    if fires:
        assert alerts[0].line == "ALERT fallback: the rules answered 6% of 1,000 leads since 2026-02-02"


@pytest.mark.parametrize(("mql", "fires"), [(160, True), (140, False), (60, True), (70, False)])
def test_mql_volume_off_by_a_factor_either_way(mql, fires):
    volume = pd.DataFrame({"period": [W1], "segment": ["all"], "leads": [1000], "mql": [mql], "expected": [100.0]})
    alerts = evaluate(Figures(**(_quiet() | {"volume": volume})), LIMITS)
    assert bool(alerts) == fires
    if mql == 160:
        assert alerts[0].line == (
            "ALERT volume: 160 model MQLs in the 2026-02-02 period, 1.6 times the 100 the capacity thresholds promised"
        )


@pytest.mark.parametrize(("floor", "fires"), [(0.08, False), (0.01, True)])
def test_a_calibration_rise_within_sampling_noise_does_not_fire(floor, fires):
    # 120 decisions of a calibrated model measure an ECE near 0.08 from sampling alone: an ECE of
    # 0.11 against a reference of 0.02 is then noise (0.03 over the floor); with a floor of 0.01 it
    # is drift (0.09 over the reference)
    frame = _calibration([(W2, "enterprise", "realised", 120, 0.11, 0.8, 0.02, 0.8)]).assign(ece_floor=floor)
    limits = LIMITS.model_copy(update={"min_decided": 100})
    alerts = evaluate(Figures(**(_quiet() | {"calibration": frame})), limits)
    assert [a.kind for a in alerts] == (["calibration"] if fires else [])


def test_ranking_fell_with_a_segments_calibration_and_no_drift_means_recalibrate_first():
    rows = [(W1, "all", "realised", 500, 0.02, 0.72, 0.02, 0.78), (W1, "smb", "realised", 200, 0.29, 0.7, 0.05, 0.64)]
    alerts = evaluate(Figures(**(_quiet() | {"calibration": _calibration(rows)})), LIMITS)
    assert {a.kind for a in alerts} == {"calibration", "ranking"}
    assert findings(alerts, Where()) == [
        "calibration drift in smb (ECE 0.29 from 0.05): `leadscore recalibrate --since 2026-02-02 --feedback-db "
        "default`; the ranking fell with it (ROC AUC 0.72 from 0.78) while no input drifted: recalibrate first; "
        "if the ranking stays down, `leadscore retrain --data DIR --feedback-db default`"
    ]


def test_the_recalibrate_command_names_the_monitored_version_when_it_is_not_the_champion():
    # recalibrate acts on @champion unless told: a verdict about another version must say which
    assert Where(model_uri="models:/leadscore/3").recalibrate(W2).endswith("--model-uri models:/leadscore/3")
    assert "--model-uri" not in Where().recalibrate(W2)  # the champion itself: the default is right
