"""What became of the decisions (`training.feedback.Counts`): each rule counted where it drops
rows, on a hand-made set, and the words the console and the version's description use."""

from __future__ import annotations

import pandas as pd

from training.feedback import Counts
from training.recalibrate import labelled
from training.settings import LabelPolicy
from training.versions import description

T = pd.Timestamp("2026-02-01", tz="UTC")


def _outcomes() -> pd.DataFrame:
    rows = [
        # labelled: decided, and a hand-over 30 and 20 days before the newest decision (14 needed)
        ("a", T - pd.Timedelta(days=30), "accepted", None),
        ("b", T - pd.Timedelta(days=20), "rejected", "no_budget"),
        # too young: hand-overs 3 and 1 days before the newest decision; they mature 14 days on
        ("c", T - pd.Timedelta(days=3), "accepted", None),
        ("d", T - pd.Timedelta(days=1), "rejected", "bad_fit"),
        # excluded by the label policy (duplicate: exclude), however old
        ("e", T - pd.Timedelta(days=40), "rejected", "duplicate"),
        ("f", T - pd.Timedelta(days=40), "rejected", "spam_or_invalid"),
        # before --since (2025-12-01): not counted by the other rules
        ("g", T - pd.Timedelta(days=90), "accepted", None),
        ("h", T - pd.Timedelta(days=80), "rejected", "bad_fit"),
    ]
    frame = pd.DataFrame(rows, columns=["lead_id", "mql_at", "decision", "reason"])
    return frame.assign(decided_at=T)  # the newest decision: T


def test_each_rule_counted_once_where_it_drops_rows():
    rows, counts = labelled(_outcomes(), LabelPolicy(), pd.Timestamp("2025-12-01", tz="UTC"), read=8, merged=8)
    assert sorted(rows["lead_id"]) == ["a", "b"] and list(rows.sort_values("lead_id")["label"]) == [1, 0]
    assert (counts.labelled, counts.too_young, counts.excluded, counts.before_since) == (2, 2, 2, 2)
    # the young mature mature_after_days after their hand-over: Jan 29 + 14 and Jan 31 + 14
    assert counts.matures == ("2026-02-12", "2026-02-14")
    assert counts.metrics()["feedback_too_young"] == 2.0 and counts.metrics()["feedback_before_since"] == 2.0


def test_the_issue_example_reads_right():
    """48 decisions on the newest hand-overs: merged, none a label, and why, with the date."""
    counts = Counts(read=49, merged=48, labelled=0, too_young=48, matures=("2026-03-04", "2026-03-04"))
    line = counts.sentence()
    assert line.startswith("48 merged, 0 labelled: 48 too young (they mature on 2026-03-04")
    assert "mature_after_days=14 before the newest decision" in line
    # the version's description says the same, from the tags the run kept
    tags = {f"feedback.{k[9:]}": str(int(v)) for k, v in counts.metrics().items()} | counts.tags()
    assert "48 merged, 0 labelled: 48 too young (they mature on 2026-03-04" in description(tags)


def test_not_newer_and_unresolved_name_the_date_and_the_rule():
    counts = Counts(merged=533, not_newer=530, unresolved=3, learnt_through="2025-12-16 18:37")
    said = "; ".join(counts.reasons())
    assert "530 not newer than the model (on hand-overs up to 2025-12-16 18:37" in said
    assert "3 unresolved" in said
