"""The simulated future of a generated world (no service): time-consistent, new ids, the
end-of-history mix when stationary, each drift doing what its spec says, the same seed the same weeks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import LeadscoreError
from synthetic import world as w
from synthetic.drift import parse
from synthetic.future import WARM_UP_WEEKS, continue_world, default_start, read_history
from synthetic.generate import generate, write_dataset
from synthetic.manifest import World

FROM = "2026-01-15"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    write_dataset(generate(3_000, seed=5), out, "parquet")
    World(seed=5, leads=3_000, start="2024-01-01", days=730, format="parquet").write(out)
    return out


def _future(folder, drift: str | None = None, seed: int = 1, leads: int = 1_500):
    history = read_history(folder)
    return history, continue_world(
        World.read(folder),
        history,
        weeks=4,
        drain_weeks=1,
        leads_per_week=leads,
        seed=seed,
        start=default_start(history),
        drift=parse(drift),
    )


def test_the_future_is_time_consistent_and_its_ids_are_new(folder):
    history, future = _future(folder)
    truth, events = future.truth, future.events
    assert future.start > history.last and (truth["scored_at"] >= future.start).all()
    scored = truth[truth["candidate"]].set_index("lead_id")["scored_at"]
    mine = events[events["lead_id"].isin(scored.index)]
    assert (mine["ts"] <= mine["lead_id"].map(scored)).all()  # a scored lead's events: up to its as_of
    # the history's leads still active when it was cut go on (they are new leads' account contacts)
    older = events[events["lead_id"].isin(history.leads["lead_id"])]
    assert len(older) and (older["ts"] > history.last).all() and older["ts"].max() <= future.end
    assert (
        not older["lead_id"]
        .isin(history.leads.loc[history.leads["created_at"] < history.last - 120 * 86_400, "lead_id"])
        .any()
    )
    assert (truth["decided_at"] > truth["scored_at"]).all()
    assert not set(truth["lead_id"]) & set(history.leads["lead_id"]) and truth["lead_id"].is_unique
    accounts = future.leads["account_id"].to_pandas()
    # as many join accounts the CRM knows as in the history's own last weeks (a steady funnel)
    leads, weeks = history.leads, (WARM_UP_WEEKS + 4) * 7 * 86_400
    first = leads.groupby("account_id")["created_at"].transform("min")
    recent = leads["created_at"] > leads["created_at"].max() - weeks
    known = (first[recent] <= leads["created_at"].max() - weeks).mean()
    assert abs(accounts.isin(leads["account_id"]).mean() - known) < 0.08, known


def test_the_funnel_is_already_running_when_the_simulation_starts(folder):
    _, future = _future(folder)
    truth = future.truth.assign(created=future.people.created)  # seconds, in `leads` order
    early = truth["created"] < future.start  # arrived in the weeks before the first simulated one
    assert early.any() and truth.loc[early, "candidate"].all()  # kept only when they raise their hand in the run
    raised = truth[truth["candidate"]].assign(age=lambda t: (t["scored_at"] - t["created"]) / 86_400)
    first, last = raised[raised["week"] == 0], raised[raised["week"] == 3]
    # the first week's hand-raisers are as many and as old as a steady funnel's (the last week's):
    # without the earlier arrivals none would be older than a week and there would be far fewer
    assert abs(len(first) / len(last) - 1) < 0.15, (len(first), len(last))
    assert (first["age"] > 21).mean() > 0.05
    assert abs((first["age"] > 14).mean() - (last["age"] > 14).mean()) < 0.06
    # and recycled leads come back, months after they arrived (about a tenth of a steady funnel's)
    assert (first["age"] > 60).mean() > 0.05 and (last["age"] > 60).mean() > 0.05


def test_a_stationary_future_keeps_the_end_of_history_mix(folder):
    _, future = _future(folder)
    business = future.people.kind == 0
    segments = (
        np.bincount(future.people.segment[business & ~future.people.competitor], minlength=3)
        / (business & ~future.people.competitor).sum()
    )
    assert np.abs(segments - w.SEGMENT_SHARE_END).max() < 0.03  # 6,000 leads: sd ~0.007
    sources = np.bincount(future.people.source[business], minlength=len(w.SOURCES)) / business.sum()
    assert np.abs(sources - w.SOURCE_SHARE_END).max() < 0.03


def test_each_drift_does_what_its_spec_says(folder):
    _, plain = _future(folder)
    _, drifted = _future(folder, f"from={FROM},company_size=0.1;from={FROM},source=webinar")
    after = drifted.truth["scored_at"].to_numpy() >= 0  # all leads; split by arrival below
    created = drifted.leads["created_at"].to_pandas() >= pd.Timestamp(FROM, tz="UTC")
    assert (drifted.truth.loc[created.to_numpy(), "source"] == "webinar").all()
    assert (drifted.truth.loc[~created.to_numpy(), "source"] != "webinar").any() and after.all()
    sizes, base = drifted.leads["company_size"].to_pandas(), plain.leads["company_size"].to_pandas()
    late = created & base.notna()
    assert (sizes[late] == np.maximum(1, np.round(base[late] * 0.1))).all() and sizes[~created].equals(base[~created])

    _, doubled = _future(folder, f"from={FROM},accept=enterprise:2")
    moment = plain.truth["scored_at"] >= pd.Timestamp(FROM, tz="UTC").timestamp()
    hit = moment & (plain.truth["segment"] == "enterprise")
    ratio = doubled.truth.loc[hit, "accept_probability"] / plain.truth.loc[hit, "accept_probability"]
    capped = np.minimum(2 * plain.truth.loc[hit, "accept_probability"], 0.95)
    assert np.allclose(doubled.truth.loc[hit, "accept_probability"], np.where(ratio > 0, capped, 0))
    assert np.allclose(doubled.truth.loc[~hit, "accept_probability"], plain.truth.loc[~hit, "accept_probability"])


def test_the_same_seed_gives_the_same_weeks(folder):
    _, a = _future(folder, leads=200)
    _, b = _future(folder, leads=200)
    _, c = _future(folder, leads=200, seed=2)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert a.leads.equals(b.leads) and not a.truth["scored_at"].equals(c.truth["scored_at"])


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("company_size=0.1", "from=DATE is missing"),
        ("from=2026-02-01,accept=huge:2", "accept='huge:2'"),
        ("from=2026-02-01,source=fax", "part 1"),
        ("from=2026-02-01,company_size=0.1;from=soon,source=webinar", "part 2"),
        ("from=NaT,company_size=2", "from='NaT' is not a date"),  # pandas reads it as a missing time
    ],
)
def test_a_bad_drift_spec_is_one_line_naming_the_part(spec, named):
    with pytest.raises(LeadscoreError, match="--drift") as caught:
        parse(spec)
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_a_folder_without_a_manifest_is_refused_naming_the_file(tmp_path):
    with pytest.raises(LeadscoreError, match=r"world\.json: not found"):
        World.read(tmp_path)


def test_a_start_inside_the_history_is_refused_before_any_request(folder):
    from synthetic.crm import CRM
    from synthetic.simulate import Options, simulate

    crm = CRM("http://127.0.0.1:9", "key")  # a port nothing listens on: the refusal must come first
    with pytest.raises(LeadscoreError, match=r"--start 2020-01-01: the folder's history runs to"):
        simulate(
            folder, crm, Options(weeks=1, start=int(pd.Timestamp("2020-01-01", tz="UTC").timestamp())), parse(None)
        )
