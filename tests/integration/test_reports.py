"""Model MQLs vs rule MQLs for marketers: the comparison tables (hand-written rows), the notebook
executed on generated history and on a live score log, and the HTML report in a browser."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from reports import compare
from tests.code.test_cli import run

T0 = pd.Timestamp("2025-03-03", tz="UTC")  # a Monday


def _frame(rows) -> pd.DataFrame:
    columns = ["lead_id", "days", "probability", "is_mql", "rule_score", "rule_is_mql", "decision"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["handed_over_at"] = T0 + pd.to_timedelta(frame.pop("days"), unit="D")
    frame["segment"], frame["source"], frame["reason"] = "smb", "webinar", None
    frame.loc[frame["decision"] == "rejected", "reason"] = "bad_fit"
    return compare.prepare(frame)


FRAME = _frame(
    [
        ("a", 0, 0.9, True, 90, True, "accepted"),  # both agree, accepted
        ("b", 1, 0.7, True, 20, False, "accepted"),  # model only, accepted
        ("c", 2, 0.2, False, 80, True, "rejected"),  # rules only, rejected
        ("d", 8, 0.1, False, 10, False, "rejected"),  # neither; the next week
        ("e", 9, 0.8, True, 85, True, "open"),  # both, not decided yet: out of every rate
    ]
)


def test_overlap_groups_weeks_and_open_leads():
    assert FRAME["group"].tolist() == ["both", "model only", "rules only", "neither", "both"]
    assert FRAME["week"].dt.strftime("%Y-%m-%d").tolist() == ["2025-03-03"] * 3 + ["2025-03-10"] * 2
    assert np.isnan(FRAME.loc[4, "accepted"])
    volume = compare.volume_by_week(FRAME)
    assert volume.loc["2025-03-03", ["rule MQLs", "model MQLs", "both", "model only", "rules only"]].tolist() == [
        2,
        2,
        1,
        1,
        1,
    ]


def test_acceptance_leaves_open_leads_out_and_gives_an_interval():
    rates = compare.acceptance(FRAME).set_index("who")
    assert rates.loc["model MQLs", ["leads", "decided", "accepted"]].tolist() == [3, 2, 2]
    assert rates.loc["rule MQLs", "rate"] == 0.5
    assert rates.loc["rule MQLs", "low"] < 0.5 < rates.loc["rule MQLs", "high"]
    assert compare.rejection_reasons(FRAME).loc["bad_fit"].to_dict() == {"rules only": 1.0, "neither": 1.0}


def test_at_equal_volume_each_method_sends_its_top_k_a_week():
    table = compare.at_equal_volume(FRAME, per_week=1)
    # week 1: model picks a (0.9), rules pick a (90); week 2: model picks e (open), rules pick e
    assert table.loc["model", "sent"] == 2 and table.loc["model", "accepted"] == 1
    table = compare.at_equal_volume(FRAME, per_week=2)
    # week 1: model a + b (both accepted), rules a + c (one accepted)
    assert table.loc["model", "accepted"] == 2 and table.loc["rules", "accepted"] == 1


def test_calibration_in_words_and_threshold_for_a_target_rate():
    lines = compare.calibration_in_words(FRAME)
    assert lines[-1] == "Of leads the model scored 80%-100%, 100% were accepted (1 decided)."
    cut = compare.threshold_for_rate(FRAME, 1.0)
    assert cut["threshold"] == 0.7 and cut["acceptance"] == 1.0


def test_history_is_scored_as_of_each_hand_over(trained):
    frame, info = compare.from_folder(trained["data"], "models:/leadscore@champion", trained["uri"])
    from training.score import score_folder

    batch = score_folder(trained["data"], "models:/leadscore@champion", at_handover=True, tracking_uri=trained["uri"])
    np.testing.assert_allclose(frame["probability"], batch["probability"])
    assert info["model_version"] == "leadscore/1" and info["unseen_from"] is not None
    assert frame["top_reasons"].str.len().min() > 0


def _report(path) -> str:
    text = path.read_text()
    assert "<h2" in text and "Volume" in text and "Quality" in text
    assert text.count("<table") >= 6 and text.count("data:image/png;base64") >= 2
    assert "from reports import" not in text and "<script src=" not in text  # no code, nothing fetched
    return text


def test_compare_writes_a_report_from_history(capsys, trained, tmp_path):
    out = tmp_path / "report.html"
    code, _, err = run(
        capsys, "compare", "--data", str(trained["data"]), "--tracking-uri", trained["uri"], "--out", str(out)
    )
    assert code == 0, err
    text = _report(out)
    assert "Only hand-overs the model never saw in training" in text and "Of leads the model scored" in text
    _in_a_browser(out)


def test_compare_writes_a_report_from_the_live_score_log(capsys, tmp_path):
    from core.store import FeedbackStore

    url = f"sqlite:///{tmp_path / 'live.db'}"
    store = FeedbackStore(url)
    rng = np.random.default_rng(0)
    start = datetime(2025, 9, 1, tzinfo=UTC)
    rows = []
    for i in range(400):
        p = float(rng.uniform())
        rule = float(rng.uniform(0, 100))
        at = start + timedelta(hours=int(rng.integers(0, 24 * 35)))
        rows.append(
            dict(
                lead_id=f"L{i}",
                scored_at=at,
                model_version="leadscore/3",
                probability=p,
                is_mql=p > 0.5,
                rule_score=rule,
                rule_is_mql=rule > 60,
                scored_by="model",
                segment="smb" if i % 2 else "enterprise",
                source="webinar" if i % 3 else "paid_search",
            )
        )
        if i % 4:  # a quarter still open
            accepted = rng.uniform() < p
            store.add_decision(
                f"f{i}",
                f"L{i}",
                "accepted" if accepted else "rejected",
                None if accepted else "bad_fit",
                at + timedelta(days=2),
            )
    store.log_scores(rows)
    out = tmp_path / "live.html"
    code, _, err = run(capsys, "compare", "--db", url, "--out", str(out))
    assert code == 0, err
    page = _report(out)
    assert "leadscore/3" in page
    assert "paid_search" in page and "webinar" in page  # acceptance by source on live traffic


def test_compare_on_a_mistyped_database_path_creates_nothing(capsys, tmp_path):
    missing = tmp_path / "typo.db"
    code, _, err = run(capsys, "compare", "--db", f"sqlite:///{missing}", "--out", str(tmp_path / "r.html"))
    assert code == 2 and "no such SQLite file" in err
    assert not missing.exists()


def test_compare_says_what_is_wrong(capsys, tmp_path):
    code, _, err = run(capsys, "compare", "--out", str(tmp_path / "r.html"))
    assert code == 2 and "either --data" in err
    code, _, err = run(capsys, "compare", "--data", str(tmp_path), "--out", str(tmp_path / "r.pdf"))
    assert code == 2 and ".html" in err


def _in_a_browser(report) -> None:
    """Open the report in headless Chromium: the tables and charts must be in the rendered page."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the browser check is skipped")
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count("<table") >= 6 and dom.count("<img") >= 2 and "Model MQLs vs rule MQLs" in dom
