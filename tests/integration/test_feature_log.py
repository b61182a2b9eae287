"""The feature log beside the score log: /score and /score_batch log score rows at the lead's as_of
("as_of throughout") and, for a sampled share of model answers, the model's input feature row (its
own feature names, never the raw request), read back typed; `prune` deletes exactly the rows
scored before a cut and never a decision."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from core.store import FeedbackStore, decisions, feature_layouts, score_features, scores
from serving.explore import sampled
from tests.conftest import AUTH, _client, score_rows
from tests.live import postgres_database
from tests.waiting import wait_for

AS_OF = datetime(2026, 2, 4, 15, 30, tzinfo=UTC)  # a simulated week's time, long before the test runs
TITLE, DOMAIN = "Chief Zebra Wrangler", "zebra-wrangling-unique.example"  # raw request text to look for
RATE = 0.5


def _lead(i: int, events: bool = True) -> dict:
    lead = {
        "lead_id": f"FL-{i}",
        "job_title": TITLE,
        "email_domain": DOMAIN,
        "company_size": 50 + 37 * i,
        "industry": "software",
        "source": "webinar",
        "as_of": AS_OF.isoformat(),
    }
    if events:
        lead["events"] = [{"ts": (AS_OF - timedelta(days=i % 9, hours=2)).isoformat(), "type": "pricing_page_view"}]
    return lead


@pytest.fixture
def logging_client(monkeypatch, tmp_path, trained):
    monkeypatch.setenv("LEADSCORE_FEATURE_LOG_RATE", str(RATE))
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    with _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}") as client:
        yield client


def _table(tmp_path, table: str) -> list:
    with create_engine(f"sqlite:///{tmp_path / 'feedback.db'}").connect() as connection:
        return list(connection.execute(text(f"select * from {table}")))


def test_answers_log_score_rows_at_as_of_and_sampled_feature_rows_of_the_model(logging_client, tmp_path, trained):
    leads = [_lead(i) for i in range(40)] + [_lead(99, events=False)]  # FL-99: no events, the rules answer
    body = logging_client.post("/score_batch", json={"leads": leads, "reasons": False}, headers=AUTH).json()
    one = logging_client.post("/score", json={"lead": _lead(40)}, headers=AUTH).json()
    answers = {item["result"]["lead_id"]: item["result"] for item in body} | {one["lead_id"]: one}
    assert answers["FL-99"]["scored_by"] == "rules" and answers["FL-0"]["scored_by"] == "model"
    wait_for(lambda: len(_table(tmp_path, "scores")) == 42, 10, every=0.1)
    logged = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}").read_scores()
    assert len(logged) == 42 and set(logged["scored_at"]) == {pd.Timestamp(AS_OF)}  # as_of, not the clock
    assert set(logged["explore"]) == {False} and logged["propensity"].isna().all()  # exploration off

    model_ids = [lead_id for lead_id, a in answers.items() if a["scored_by"] == "model"]
    expected = sorted(lead_id for lead_id in model_ids if sampled(lead_id, RATE))
    assert 8 < len(expected) < 34  # half of 41 model answers, give or take
    wait_for(lambda: len(_table(tmp_path, "score_features")) >= len(expected), 10, every=0.1)
    raw = _table(tmp_path, "score_features")
    assert sorted(row.lead_id for row in raw) == expected  # the predicted sample; no rules answer
    for row in raw:  # never the request: the title and the email domain are no model feature's value
        stored = (row.texts + row.numbers.decode("latin-1")).lower()
        assert TITLE.lower() not in stored and DOMAIN not in stored
    [layout] = _table(tmp_path, "feature_layouts")  # the names once, not in every row
    assert json.loads(layout.names) == list(trained["model"].feature_names) and {row.layout for row in raw} == {
        layout.layout
    }
    assert all(len(row.numbers) == 8 * json.loads(layout.kinds).count("number") for row in raw)

    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    frame = store.read_feature_rows()
    keys = ["lead_id", "scored_at", "model_version", "segment"]  # the model's feature `segment` is the key
    names = [name for name in trained["model"].feature_names if name not in keys]
    assert list(frame.columns) == [*keys, *names]
    assert set(frame["scored_at"]) == {pd.Timestamp(AS_OF)} and str(frame["scored_at"].dtype) == "datetime64[us, UTC]"
    assert set(frame["model_version"]) == {"leadscore/1"}
    kinds = {name: str(frame[name].dtype) for name in names}
    assert set(kinds.values()) <= {"float64", "object"} and "float64" in kinds.values()
    first = expected[0]  # the model's input as it read it
    assert frame.set_index("lead_id").loc[first, "company_size"] == 50 + 37 * int(first.removeprefix("FL-"))
    joined = frame.merge(logged, on=["lead_id", "scored_at", "model_version", "segment"])
    assert len(joined) == len(frame)  # every feature row joins its answer in the score log
    assert store.read_feature_rows(since=AS_OF + timedelta(seconds=1)).empty
    assert len(store.read_feature_rows(model_version="leadscore/1", until=AS_OF)) == len(frame)


CUT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with postgres_database("leadscore_prune") as database:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"


def _at(rows: list[dict], at: datetime) -> list[dict]:
    return [{**row, "scored_at": at} for row in rows]


def test_prune_deletes_exactly_the_rows_scored_before_the_cut_and_never_a_decision(url):
    store = FeedbackStore(url)
    assert store.open(), store.problem
    before = CUT - timedelta(microseconds=1)  # out: scored before the cut, by a microsecond
    after = CUT + timedelta(days=3)
    store.log_scores(_at(score_rows(1, 0), before) + _at(score_rows(1, 1), CUT) + _at(score_rows(1, 2), after))
    # L0: in the cut; L1: at the cut, kept (only rows strictly before go); L2: after, kept
    features = [
        {"lead_id": f"L{i}", "scored_at": at, "model_version": "leadscore/1", "segment": "smb", "features": {"x": i}}
        for i, at in enumerate((before, CUT, after))
    ]
    assert store.log_feature_rows(features) == 3
    # L9 sent a decision without its hand-over's mql_at: its old score row places that decision: kept
    store.log_scores(_at(score_rows(1, 9), CUT - timedelta(days=40)))
    store.add_decision("d-9", "L9", "rejected", "no_budget", decided_at=CUT - timedelta(days=39))
    store.add_decision("d-0", "L0", "accepted", None, decided_at=before, mql_at=before)  # old, dated: never pruned

    assert store.prune(CUT) == {"scores": 1, "score_features": 1}
    assert sorted(store.read_scores()["lead_id"]) == ["L1", "L2", "L9"]
    assert list(store.read_feature_rows()["lead_id"]) == ["L1", "L2"]
    assert store.count(decisions) == 2 and store.count(scores) == 3 and store.count(score_features) == 2
    assert store.prune(CUT) == {"scores": 0, "score_features": 0}  # nothing left before the cut


def test_prune_works_through_many_chunks(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'store.db'}")
    store.log_scores(_at(score_rows(250), CUT - timedelta(days=1)) + _at(score_rows(5, 500), CUT))
    assert store.prune(CUT, chunk=40) == {"scores": 250, "score_features": 0}
    assert store.count(scores) == 5


def test_feature_rows_read_typed_whatever_wrote_them(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'store.db'}")
    at = CUT
    values = [{"n": 3, "c": "x", "e": None}, json.dumps({"n": 2.5, "c": None}), {"n": float("nan"), "c": "y"}]
    rows = [
        {"lead_id": lead, "scored_at": at, "model_version": "v", "segment": "smb", "features": features}
        for lead, features in zip("ABC", values, strict=True)
    ]
    store.log_feature_rows(rows)
    frame = store.read_feature_rows()
    assert frame["n"].dtype == "float64" and frame["n"].tolist()[:2] == [3.0, 2.5] and pd.isna(frame["n"][2])
    assert frame["c"].dtype == object and frame["c"].tolist() == ["x", None, "y"]
    assert frame["e"].isna().all()  # never had a value: no kind known, a number column of NaN
    assert store.read_feature_rows(since=at + timedelta(days=1)).columns.tolist()[:4] == [
        "lead_id",
        "scored_at",
        "model_version",
        "segment",
    ]


def test_feature_rows_that_are_not_objects_are_left_out_and_the_score_rows_still_written(tmp_path):
    """A feature row whose features are not names and values (a JSON text of a list, a plain text)
    is a fault of the feature rows: they are left out, the score rows of the same write are kept."""
    store = FeedbackStore(f"sqlite:///{tmp_path / 'store.db'}")
    for features in ('"not an object"', "[1, 2]", [("n", 1)]):
        row = {"lead_id": "A", "scored_at": CUT, "model_version": "v", "segment": "smb", "features": features}
        assert store.log_scores(score_rows(1), [row]).written == 1
    assert store.count(scores) == 3 and store.count(score_features) == 0


def test_rows_of_several_layouts_read_back_in_time_order(tmp_path):
    """Feature rows of two models (two layouts, with a feature that is text in one and a number in
    the other) and a batch whose text feature has no value: one frame, in time order, each column
    of the kind its values need, one layout per distinct set of names and kinds."""
    url = f"sqlite:///{tmp_path / 'store.db'}"

    def rows(version, at, features):
        return [
            {"lead_id": f"{version}-{i}", "scored_at": at + timedelta(minutes=i), "model_version": version,
             "segment": "smb", "features": f}
            for i, f in enumerate(features)
        ]  # fmt: skip

    first = FeedbackStore(url)
    first.log_feature_rows(
        rows("v1", CUT + timedelta(hours=1), [{"size": 10, "region": "emea"}, {"size": None, "region": "na"}])
    )
    first.log_feature_rows(rows("v2", CUT, [{"region": 3, "visits": 7.5}]))  # earlier, and region a number
    later = FeedbackStore(url)  # another worker: a batch with no region value keeps region a text
    later.log_feature_rows(rows("v1", CUT + timedelta(hours=2), [{"size": 4, "region": None}]))
    assert later.count(feature_layouts) == 2  # v1's names and kinds, v2's

    frame = FeedbackStore(url).read_feature_rows(chunk=2)  # chunks of 2: rows of two layouts in one chunk
    assert list(frame["lead_id"]) == ["v2-0", "v1-0", "v1-1", "v1-0"]
    assert list(frame.columns[4:]) == ["size", "region", "visits"]  # in the order the layouts were first written
    assert frame["region"].dtype == object and frame["region"].tolist() == [3.0, "emea", "na", None]
    assert frame["size"].dtype == "float64" and frame["size"].isna().tolist() == [True, False, True, False]
    assert frame["visits"].tolist()[0] == 7.5 and frame["visits"][1:].isna().all()
    v1 = FeedbackStore(url).read_feature_rows(model_version="v1", since=CUT + timedelta(hours=2))
    assert list(v1["lead_id"]) == ["v1-0"] and v1["size"].tolist() == [4.0]


def test_a_bulk_frame_is_written_as_the_rows_are(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'store.db'}")
    frame = pd.DataFrame(
        {
            "lead_id": ["A", "B", "C"],
            "scored_at": pd.to_datetime(["2026-03-01", "2026-03-02", "2026-03-03"], utc=True),
            "model_version": "v",
            "segment": ["smb", None, "enterprise"],
            "n": [1.5, None, 3.0],
            "flag": [True, False, True],
            "c": ["x", None, "z"],
        }
    )
    assert store.log_feature_frame(frame, chunk=2) == 3
    back = store.read_feature_rows()
    assert back["n"].isna().tolist() == [False, True, False] and back["flag"].tolist() == [1.0, 0.0, 1.0]
    assert back["c"].tolist() == ["x", None, "z"] and back["segment"].tolist() == ["smb", None, "enterprise"]
    assert store.count(feature_layouts) == 1


@pytest.mark.slow  # a real `leadscore monitor` in a subprocess (imports, MLflow, the page): ~20-40 s
def test_the_real_leadscore_monitor_sets_the_gauges(logging_client, tmp_path, trained):
    """The service's own command (`monitor_argv`) on the feature rows and answers it logged, the
    store's URL by environment: the run succeeds and its drift, calibration and alerts are gauges."""
    from serving.gauges import MonitorRunner, exposition, kept, monitor_argv

    leads = [_lead(i) for i in range(200)]
    for start in range(0, len(leads), 100):
        logging_client.post("/score_batch", json={"leads": leads[start : start + 100], "reasons": False}, headers=AUTH)
    wait_for(lambda: len(_table(tmp_path, "scores")) == 200, 20, every=0.2)
    env = {"LEADSCORE_DB_URL": f"sqlite:///{tmp_path / 'feedback.db'}"}  # the service's, as it passes them
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runner = MonitorRunner(monitor_argv("leadscore/1"), tmp_path / "gauges", every=3600, timeout=300, env=env)
    assert runner.run_once() is True, f"{runner.failures} failure(s): see the log"
    state = kept(tmp_path / "gauges")
    assert state.model_version == "leadscore/1"
    assert {g.feature for g in state.gauges.drift_psi}  # the profile's features, as logged
    assert {g.kind for g in state.gauges.calibration_error} <= {"estimated", "realised"}
    shown = exposition(tmp_path / "gauges")
    assert "leadscore_drift_psi{" in shown and "leadscore_monitor_age_seconds" in shown
