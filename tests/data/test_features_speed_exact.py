"""Exactness of the fast feature paths: every speedup against a result computed another way.

The features of a synthetic CRM (events shuffled, so they are sorted here) are checked column by
column against a plain reference written below, one row at a time from the definitions: for a
batch as of one time, for hand-overs each as of its own time, and for leads scored alone as the
service scores them. Counts, flags and states must be equal, other numbers within 1e-12. The
helpers each speedup rests on are checked against numpy's and pandas' own answers, on inputs small
(a request's strategy) and large (a batch's).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features import arrays, names
from features.arrays import to_columns
from features.build import PEOPLE, build_features, feature_columns, feature_names, row_columns
from features.contract import ContractConfig, _parse_timestamps, among, leads_schema
from features.fit import CATEGORICAL, RANK, _seniority_rules, normal
from features.settings import FeatureConfig
from features.tables import read_table
from synthetic.generate import generate

DAY = 86_400 * 1_000_000
AS_OF = "2025-10-01T00:00:00Z"
INTS = ("n_", "has_", "trial_started", "unsubscribed", "account_contacts", "account_engaged", "buying_", "icp_")


@pytest.fixture(scope="module")
def crm():
    """A 1,500-lead CRM (about 30,000 events, shuffled) and its hand-overs, with events and
    creation times exactly at, and a microsecond either side of, every window's edge."""
    tables = {name: table.to_pandas() for name, table in generate(1_500, seed=23).items()}
    leads, outcomes = tables["leads"], tables["outcomes"]
    leads["created_at"] = leads["created_at"].dt.as_unit("us")
    handovers = outcomes[["lead_id", "mql_at"]].merge(leads, on="lead_id")
    events = tables["events"].astype({"lead_id": str, "type": str})
    events["ts"] = events["ts"].dt.as_unit("us")
    rng, config = np.random.default_rng(6), FeatureConfig()
    days = {0, *config.windows_days, config.active_days_window_days, config.engaged_window_days}
    edges = [pd.Timedelta(days=d) + pd.Timedelta(microseconds=u) for d in days for u in (-1, 0, 1)]
    at = [pd.Timestamp(AS_OF)] * 150 + list(handovers["mql_at"].iloc[:150])
    who = [*leads["lead_id"].sample(150, random_state=5), *handovers["lead_id"].iloc[:150]]
    extra = pd.DataFrame(
        {
            "lead_id": np.repeat(who, len(edges)),
            "ts": [when - edge for when in at for edge in edges],
            "type": rng.choice(ContractConfig().event_types, len(who) * len(edges)),
        }
    )
    # contacts whose last event is exactly at the engaged window's edge, or a microsecond inside it
    quiet = leads["lead_id"].sample(80, random_state=9)
    edge = pd.Timestamp(AS_OF) - pd.Timedelta(days=config.engaged_window_days)
    events = events[~(events["lead_id"].isin(quiet) & (events["ts"] > edge - pd.Timedelta(days=1)))]
    last = pd.DataFrame(
        {"lead_id": quiet, "ts": edge + pd.to_timedelta(np.arange(80) % 2, unit="us"), "type": "page_view"}
    )
    events = pd.concat([events, extra, last], ignore_index=True).sample(frac=1.0, random_state=1)
    born = leads.sample(60, random_state=8).index  # known exactly at the as-of time, or a microsecond later
    leads.loc[born, "created_at"] = pd.Timestamp(AS_OF) + pd.to_timedelta(np.arange(60) % 2, unit="us")
    handovers = outcomes[["lead_id", "mql_at"]].merge(leads, on="lead_id")
    return leads, events.reset_index(drop=True), handovers


def _micros(values) -> np.ndarray:
    return pd.to_datetime(pd.Series(values), utc=True).dt.as_unit("us").astype("int64").to_numpy()


class Reference:
    """The features by their definitions, one row at a time, with plain Python and pandas."""

    def __init__(self, people: pd.DataFrame, events: pd.DataFrame, config: FeatureConfig, contract: ContractConfig):
        self.config, self.types = config, contract.event_types
        self.people = people.drop_duplicates("lead_id", keep="last").set_index("lead_id")
        self.created = dict(zip(self.people.index, _micros(self.people["created_at"]), strict=True))
        known = events[events["type"].isin(self.types) & events["lead_id"].isin(self.people.index)]
        known = known.assign(ts=_micros(known["ts"])).sort_values(["lead_id", "ts"])
        self.events = {lead: (g["ts"].to_numpy(), g["type"].to_numpy()) for lead, g in known.groupby("lead_id")}
        level = _seniority_rules(tuple((lvl, tuple(p)) for lvl, p in config.seniority_patterns.items()))
        given = self.people["seniority"].where(self.people["seniority"].notna(), self.people["job_title"])
        self.level = {lead: (level(v) if pd.notna(v) else None) for lead, v in given.items()}

    def lead(self, lead: str, at: int) -> dict[str, float]:
        """The engagement columns of `lead` as of `at` (UTC microseconds)."""
        config, half_life = self.config, self.config.half_life_days * DAY
        ts, kinds = self.events.get(lead, (np.zeros(0, np.int64), np.zeros(0, object)))
        seen = ts <= at
        ts_all, ts, kinds = ts, ts[seen], kinds[seen]
        out: dict[str, float] = {}
        for t in self.types:
            mine = ts[kinds == t]
            for w in config.windows_days:
                out[names.count(t, w)] = float(np.sum(mine > at - w * DAY))
            out[names.of_event(names.DECAYED, t)] = sum(0.5 ** ((at - x) / half_life) for x in mine)
            out[f"last_{t}"] = float(mine.max()) if len(mine) else np.nan
            if t == "product_active_day":
                out[names.PRODUCT_DAYS] = float(len(mine))
        for t in config.recency_events:
            out[names.of_event(names.DAYS_SINCE, t)] = (at - out[f"last_{t}"]) / DAY
        out[names.LAST_ACTIVITY] = (at - ts.max()) / DAY if len(ts) else np.nan
        weights = [config.engagement_weights.get(k, 0.0) for k in kinds]
        out["engagement_decayed"] = sum(w * 0.5 ** ((at - x) / half_life) for w, x in zip(weights, ts, strict=True))
        for w in config.windows_days:
            out[names.windowed(names.EVENTS, w)] = float(np.sum(ts > at - w * DAY))
        first = pd.Series(ts_all).groupby(ts_all // DAY).min()  # each UTC day's first event
        span = config.active_days_window_days
        out[names.windowed(names.ACTIVE_DAYS, span)] = float(((first > at - span * DAY) & (first <= at)).sum())
        longest = max(config.windows_days)
        opens, clicks = out[names.count("email_open", longest)], out[names.count("email_click", longest)]
        out[names.windowed(names.CLICK_RATE, longest)] = min(clicks / opens, 1.0) if opens > 0 else np.nan
        for flag, t in names.FLAGS.items():
            out[flag] = float(not np.isnan(out[f"last_{t}"]))
        return {k: v for k, v in out.items() if not k.startswith("last_")}

    def account(self, account: str, at: int) -> dict[str, float]:
        """The account columns of `account` as of `at`."""
        config, half_life = self.config, self.config.half_life_days * DAY
        window, roles = config.engaged_window_days * DAY, config.buying_group.roles
        contacts = engaged = decayed = 0.0
        top, best = -np.inf, [0] * len(roles)
        for lead, person in self.people[self.people["account_id"] == account].iterrows():
            if self.created[lead] > at:
                continue
            ts, kinds = self.events.get(lead, (np.zeros(0, np.int64), np.zeros(0, object)))
            seen = ts <= at
            contacts += 1
            weights = [config.engagement_weights.get(k, 0.0) for k in kinds[seen]]
            decayed += sum(w * 0.5 ** ((at - x) / half_life) for w, x in zip(weights, ts[seen], strict=True))
            active = bool(np.any(ts[seen] > at - window))
            engaged += active
            rank = RANK.get(self.level[lead], np.nan) if self.level[lead] else np.nan
            if active and rank > top:
                top = rank
            for j, role in enumerate(roles):
                if self._fills(person, self.level[lead], role):
                    best[j] = max(best[j], 1 + active)
        out = {
            "account_contacts": contacts,
            names.windowed(names.ENGAGED_CONTACTS, config.engaged_window_days): engaged,
            "account_engagement_decayed": decayed,
            "account_top_engaged_seniority": top if np.isfinite(top) else np.nan,
        }
        out.update({names.role(r.name): float(b) for r, b in zip(roles, best, strict=True)})
        out[names.COMPLETENESS] = sum(b == 2 for b in best) / len(roles)
        return out

    @staticmethod
    def _fills(person: pd.Series, level: str | None, role) -> bool:
        if role.seniorities and level not in role.seniorities:
            return False
        if not (role.departments or role.titles):
            return True
        department = normal(person["department"]) if pd.notna(person["department"]) else None
        title = person["job_title"] if pd.notna(person["job_title"]) else None
        in_department = department is not None and department in {normal(d) for d in role.departments}
        titled = title is not None and any(re.search(p, str(title), re.IGNORECASE) for p in role.titles)
        return in_department or titled


def _fit_reference(row: pd.Series, config: FeatureConfig, level: str | None) -> dict[str, object]:
    """The fit columns the speedups touched, by their definitions."""
    size = float(row["company_size"]) if pd.notna(row["company_size"]) else np.nan

    def band(pairs) -> str:
        fitting = [(minimum, name) for name, minimum in pairs if not np.isnan(size) and minimum <= size]
        return max(fitting)[1] if fitting else "unknown"

    out = {
        "size_band": band([(b.name, b.min_employees) for b in config.size_bands]),
        "segment": band(list(config.segments.items())),
    }
    text = {n: normal(row[n]) if pd.notna(row[n]) else None for n in CATEGORICAL}
    icp = config.icp
    tests = {
        "icp_industry": text["industry"] in icp.industries,
        "icp_segment": out["segment"] in icp.segments,
        "icp_region": text["region"] in icp.regions,
        "icp_seniority": level in icp.seniorities,
        "icp_department": text["department"] in icp.departments,
    }
    out.update({k: float(v) for k, v in tests.items()})
    out["icp_matches"] = float(sum(tests.values()))
    domain = str(row["email_domain"]).strip().lower() if pd.notna(row["email_domain"]) else None
    kind = (
        "unknown"
        if domain is None
        else "competitor"
        if domain in config.competitor_domains
        else "personal"
        if domain in config.personal_email_domains
        else "student"
        if domain.endswith(tuple(config.student_email_suffixes))
        else "business"
    )
    out["email_type"] = kind
    out["is_student"] = float(level == "student" or kind == "student")
    out["seniority_rank"] = RANK.get(level, np.nan) if level else np.nan
    return out


def _check(frame: pd.DataFrame, rows: pd.DataFrame, at: np.ndarray, reference: Reference) -> None:
    """Every engagement, account and touched fit column of `frame` equals the reference's."""
    config = reference.config
    for i, (_, row) in enumerate(rows.iterrows()):
        want = {**reference.lead(row["lead_id"], at[i]), **reference.account(row["account_id"], at[i])}
        want.update(_fit_reference(row, config, reference.level.get(row["lead_id"])))
        got = frame.iloc[i]
        for name, value in want.items():
            if isinstance(value, str) or name.startswith(INTS):  # text, counts, flags, states: equal
                assert got[name] == value, (row["lead_id"], name, got[name], value)
            else:
                assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-300, nan_ok=True), (row["lead_id"], name)


def test_a_batch_as_of_one_time_equals_the_reference(crm):
    leads, events, _ = crm
    rows = leads.sample(400, random_state=2)  # a sample of the batch: the batch itself is 1,500 rows
    frame = build_features(leads, events, AS_OF).loc[rows.index]
    reference = Reference(leads, events, FeatureConfig(), ContractConfig())
    _check(frame, rows, np.full(len(rows), _micros([AS_OF])[0]), reference)


def test_handovers_each_as_of_its_own_time_equal_the_reference(crm):
    leads, events, handovers = crm
    frame = build_features(handovers, events, "mql_at", population=leads)
    sample = np.random.default_rng(3).choice(len(handovers), 400, replace=False)
    reference = Reference(leads, events, FeatureConfig(), ContractConfig())
    _check(frame.iloc[sample], handovers.iloc[sample], _micros(handovers["mql_at"].iloc[sample]), reference)


def test_leads_alone_as_the_service_scores_them_equal_the_reference(crm):
    """One lead with its account's contacts and their events, as column arrays of Python objects
    (`feature_columns` as the service calls it), and the same through the pandas front."""
    leads, events, handovers = crm
    config, contract = FeatureConfig(), ContractConfig()
    reference = Reference(leads, events, config, contract)
    for i in np.random.default_rng(4).choice(len(handovers), 60, replace=False):
        row = handovers.iloc[[i]]
        colleagues = leads[leads["account_id"] == row["account_id"].iloc[0]]
        own = events[events["lead_id"].isin(colleagues["lead_id"])]
        at = _micros(row["mql_at"])
        columns = feature_columns(
            to_columns(row, row_columns(contract)),
            at,
            to_columns(own, ("lead_id", "ts", "type")),
            config,
            contract,
            to_columns(colleagues, PEOPLE),
        )
        _check(pd.DataFrame({k: pd.Series(v, dtype=v.dtype) for k, v in columns.items()}), row, at, reference)
        _check(build_features(row, own, "mql_at", population=colleagues), row, at, reference)


def test_the_columns_are_the_spec_s_in_order(crm):
    leads, events, _ = crm
    frame = build_features(leads.head(3), events.head(50), AS_OF)
    assert list(frame.columns[3 : 3 + len(feature_names())]) == feature_names()
    assert frame["has_pricing_view"].dtype == np.int8 and frame["account_id"].dtype == "str"


@pytest.mark.parametrize("n", [7, 600, 20_000])
def test_order_by_is_numpy_s_stable_lexicographic_order(n):
    rng = np.random.default_rng(n)
    lead, ts = rng.integers(0, max(n // 20, 2), n), rng.integers(-(2**62), 2**62, n)
    kind = rng.integers(0, 12, n).astype(np.uint8)
    assert np.array_equal(arrays.order_by(lead, ts, kind), np.lexsort((kind, ts, lead)))
    assert np.array_equal(arrays.order_by(kind), np.argsort(kind, kind="stable"))
    order = np.lexsort((ts, lead))
    found = arrays.order_by(lead[order], ts[order])
    assert found is None if n > arrays.SMALL else np.array_equal(found, np.arange(n))


@pytest.mark.parametrize("n", [40, 5_000])
def test_codes_of_ids_equal_pandas_own(n):
    rng = np.random.default_rng(n)
    ids = np.array([f"L{i}" for i in rng.integers(0, n // 3, n)], dtype=object)
    ids[rng.integers(0, n, n // 10)] = None
    keep, code = arrays.last_codes(ids)
    assert np.array_equal(keep, arrays.unique_last(ids))
    assert np.array_equal(code, arrays.codes(ids, ids[keep]))
    found, distinct = arrays.encode(ids)
    assert [distinct[c] for c in found] == list(ids) and len(distinct) == len(set(ids))
    text = pd.array(ids, dtype="str")
    vocabulary = np.array([f"L{i}" for i in range(n // 3)], dtype=object)
    assert np.array_equal(arrays.codes(text, vocabulary), pd.Index(vocabulary).get_indexer(ids))


@pytest.mark.parametrize("n", [40, 5_000])
def test_text_read_as_arrow_strings_gives_what_the_same_objects_give(n):
    rng = np.random.default_rng(n)
    ids = np.array([f"L{i}" for i in rng.integers(0, n // 3, n)], dtype=object)
    ids[rng.integers(0, n, n // 10)] = None
    other = np.array([f"x{i % 7}" for i in range(n)], dtype=object)
    text, more = pa.array(ids, type=pa.large_string()), pa.array(other, type=pa.large_string())
    assert list(arrays.objects(text)) == list(ids)
    assert np.array_equal(arrays.missing(text), arrays.missing(ids))
    assert list(arrays.per_value(text, str.lower, default="?")) == list(arrays.per_value(ids, str.lower, default="?"))
    assert list(arrays.objects(arrays.coalesce(text, more))) == list(arrays.coalesce(ids, other))
    assert list(arrays.objects(arrays.join(text, more))) == list(np.concatenate([ids, other]))
    positions = rng.integers(0, n, 50)
    assert list(arrays.objects(arrays.take(text, positions))) == list(ids[positions])
    for fast, slow in ((arrays.last_codes(text), arrays.last_codes(ids)), (arrays.encode(text), arrays.encode(ids))):
        assert [list(a) for a in fast] == [list(b) for b in slow]  # one order: sums alike to the last bit
    keep, code = arrays.last_codes(text)
    assert list(ids[keep][code]) == list(ids) and sorted(keep) == sorted(arrays.unique_last(ids))
    rows = [text, ids, more]
    want = [f"{a}|{b}|{c}" for a, b, c in zip(ids, ids, other, strict=True)]
    assert list(arrays.per_row(rows, lambda a, b, c: f"{a}|{b}|{c}")) == want
    assert list(arrays.per_row([ids, ids, other], lambda a, b, c: f"{a}|{b}|{c}")) == want


@pytest.mark.parametrize("n", [30, 3_000])
def test_per_value_and_missing_give_the_same_for_one_value_or_many(n):
    values = np.array(["a", None, np.nan, "b", pd.NA, " A "] * (n // 6), dtype=object)
    assert list(arrays.missing(values)) == [arrays.is_missing(v) for v in values]
    assert list(arrays.per_value(values, str.upper, default="?")) == [
        "?" if arrays.is_missing(v) else v.upper() for v in values
    ]


def test_membership_checks_by_arrow_equal_pandas_isin():
    rng = np.random.default_rng(5)
    values = pd.Series([f"L{i}" for i in rng.integers(0, 500, 5_000)] + [None], dtype="str")
    allowed = pd.Series([f"L{i}" for i in range(0, 500, 3)], dtype="str")
    assert np.array_equal(among(values, allowed).to_numpy(), values.isin(set(allowed)).to_numpy())


def test_parquet_is_read_as_pandas_reads_it_with_text_as_text(tmp_path):
    frame = pd.DataFrame(
        {
            "lead_id": pd.Series(["a", None, "c"], dtype="str"),
            "kind": pd.Categorical(["x", "y", None]),
            "ts": pd.to_datetime(["2024-01-01", None, "2024-02-01"], utc=True),
            "n": [1.0, None, 3.0],
        }
    )
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    read = read_table(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read, pd.read_parquet(tmp_path / "t.parquet").astype({"kind": "str"}))
    assert read["kind"].dtype == "str" and read["lead_id"].dtype == "str"
    table = pq.read_table(tmp_path / "t.parquet")
    assert pa.types.is_dictionary(table.schema.field("kind").type)  # as written by pandas: read as text above


def test_times_already_read_as_times_equal_the_same_times_parsed_from_text():
    stamps = ["2024-03-10T12:00:00Z", "2024-03-10T13:00:00+01:00", None, "2024-03-10T12:00:00.000001"]
    text = pd.DataFrame({"created_at": pd.Series(stamps, dtype=object)})
    parsed, bad = _parse_timestamps(text, leads_schema(ContractConfig()))
    typed = pd.DataFrame({"created_at": pd.to_datetime(pd.Series(stamps), utc=True, format="ISO8601")})
    again, none = _parse_timestamps(typed, leads_schema(ContractConfig()))
    pd.testing.assert_series_equal(parsed["created_at"], again["created_at"])
    assert bad.empty and none.empty
    naive = pd.DataFrame({"created_at": pd.to_datetime(["2024-03-10 12:00:00"])})
    assert _parse_timestamps(naive, leads_schema(ContractConfig()))[0]["created_at"].iloc[0] == pd.Timestamp(stamps[0])


def test_missing_values_are_one_value_and_people_one_order_whatever_the_size():
    """None, NaN and pd.NA are one missing value for a request's dict as for a batch's hashing, and
    the people of a request come in the batch's order (ascending last position), so an account's
    sums add in the same order either way."""
    few = np.array(["a", None, float("nan"), pd.NA, "b", "a", float("nan")], dtype=object)
    many = np.tile(few, 100)  # 700 values: the batch's strategy
    code, distinct = arrays.encode(few)
    assert code.tolist() == [0, 1, 1, 1, 2, 0, 1] and list(distinct) == ["a", None, "b"]
    assert arrays.encode(many)[0].tolist() == code.tolist() * 100
    keep, code = arrays.last_codes(few)
    assert keep.tolist() == [4, 5, 6] and code.tolist() == [1, 2, 2, 2, 0, 1, 2]
    keep_many, code_many = arrays.last_codes(many)
    assert keep_many.tolist() == [697, 698, 699] and code_many.tolist() == code.tolist() * 100
    ids = np.array(["L3", "L1", "L3", "L2"], dtype=object)
    assert [list(x) for x in arrays.last_codes(ids)] == [list(x) for x in arrays.last_codes(pa.array(ids))]


def test_a_table_written_reads_back_with_its_types_and_a_folder_of_parts_reads(tmp_path):
    """Parquet is written without dictionary columns (each row group encodes its own values) but
    with pandas' types, and read as large strings: whole numbers with gaps stay whole numbers,
    flags stay flags; a folder of part files (Spark's output) reads as one table."""
    from features.tables import write_table

    frame = pd.DataFrame(
        {
            "lead_id": pd.Series(["a", "b", None], dtype="category"),
            "n": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
        }
    )
    write_table(frame, tmp_path / "t.parquet")
    back = read_table(tmp_path / "t.parquet")
    assert str(back["n"].dtype) == "Int64" and str(back["b"].dtype) == "boolean"
    assert back["lead_id"].tolist()[:2] == ["a", "b"] and back["lead_id"].isna().tolist() == [False, False, True]
    parts = tmp_path / "leads.parquet"
    parts.mkdir()
    for i in range(2):
        pq.write_table(pa.table({"lead_id": [f"L{i}"], "x": [float(i)]}), parts / f"part-{i}.parquet")
    assert sorted(read_table(parts)["lead_id"]) == ["L0", "L1"]
