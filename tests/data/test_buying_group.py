"""The buying group, point in time: which roles of a deal an account has known and engaged as of a
time, and what sales and marketing read about the missing ones.

One account A, as of 2024-03-10 12:00 UTC; the engaged window is the default 30 days. Each
hand-written person says why it fills a role, and whether it counts as of that time.
"""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from features import names
from features.build import build_features, feature_names
from features.buying import columns, describe
from features.settings import FeatureConfig

AS_OF = pd.Timestamp("2024-03-10T12:00:00Z")
DAY = pd.Timedelta(days=1)
CONFIG = FeatureConfig()


def _people(*rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["lead_id", "account_id", "created_at", "job_title", "department"])
    for column in ("email_domain", "seniority", "industry", "country", "region", "source"):
        frame[column] = None
    frame["company_size"] = 800.0
    return frame


PEOPLE = _people(
    # finance and decision maker: a director (seniority from the title) in finance, known since
    # January, who attended a webinar 10 days before as_of: engaged
    ("fin", "A", AS_OF - 70 * DAY, "Finance Director", "Finance"),
    # technical: an engineer known since January whose only event is 40 days old, outside the
    # 30-day window: known but quiet
    ("eng", "A", AS_OF - 70 * DAY, "Software Engineer", "Engineering"),
    # champion: a marketing manager created one day AFTER as_of: not known yet, so no champion
    ("mkt", "A", AS_OF + DAY, "Marketing Manager", "Marketing"),
)
EVENTS = pd.DataFrame(
    {
        "lead_id": ["fin", "eng", "mkt"],
        "ts": [AS_OF - 10 * DAY, AS_OF - 40 * DAY, AS_OF - 5 * DAY],  # mkt's visit: before it was known
        "type": ["webinar_attended", "page_view", "pricing_page_view"],
    }
)


def _row(people: pd.DataFrame = PEOPLE, events: pd.DataFrame = EVENTS, lead: str = "fin") -> pd.Series:
    frame = build_features(people[people["lead_id"] == lead], events, AS_OF, population=people)
    return frame.iloc[0]


def test_each_role_is_unknown_quiet_or_engaged_as_of_the_rows_time():
    row = _row()
    assert row[names.role("finance")] == 2  # fin: known, webinar 10 days ago
    assert row[names.role("decision_maker")] == 2  # fin again: a director counts whatever the department
    assert row[names.role("technical")] == 1  # eng: known, nothing in the last 30 days
    assert row[names.role("champion")] == 0  # mkt: created after as_of
    assert row[names.COMPLETENESS] == pytest.approx(0.5)  # 2 of 4 roles known and engaged
    # "engaged" is what account_engaged_contacts counts: fin only (mkt is not known yet)
    assert row["account_engaged_contacts_30d"] == 1


def test_the_columns_follow_the_model_features_and_are_none_of_them():
    frame = build_features(PEOPLE.head(1), EVENTS, AS_OF, population=PEOPLE)
    assert list(frame.columns[-len(columns(CONFIG)) :]) == columns(CONFIG)
    assert not set(columns(CONFIG)) & set(feature_names())


def test_the_champion_counts_once_known():
    later = build_features(PEOPLE.head(1), EVENTS, AS_OF + 2 * DAY, population=PEOPLE).iloc[0]
    # two days later mkt is known (created 1 day after AS_OF); its visit, 3 days before the new
    # time, counts once mkt exists: engaged
    assert later[names.role("champion")] == 2


def test_missing_roles_and_the_next_step_in_words():
    row = _row()
    words, steps = describe({name: [row[name]] for name in columns(CONFIG)}, CONFIG)
    champion = CONFIG.buying_group.roles[1]
    assert words == [
        [champion.missing, "someone technical (engineering or IT): known but not engaged in the last 30 days"]
    ]
    assert steps == [champion.step]  # the first role missing, in the configured order
    # every role known and engaged: nothing missing, and the group's own step
    assert describe({name: [2.0] for name in columns(CONFIG)}, CONFIG) == ([[]], [CONFIG.buying_group.complete_step])


def test_a_title_alone_fills_a_role():
    people = _people(
        # finance by its title alone: "CFO", no department, known, active yesterday
        ("cfo", "B", AS_OF - 70 * DAY, "CFO", None),
        # no role: a student with no department
        ("stu", "B", AS_OF - 70 * DAY, "PhD student", None),
    )
    events = pd.DataFrame({"lead_id": ["cfo"], "ts": [AS_OF - DAY], "type": ["page_view"]})
    row = _row(people, events, lead="stu")
    assert row[names.role("finance")] == 2 and row[names.role("decision_maker")] == 2
    assert row[names.role("technical")] == 0 and row[names.role("champion")] == 0


def _role(**changes) -> dict:
    role = CONFIG.buying_group.roles[3].model_dump()
    return {**role, **changes}


@pytest.mark.parametrize(
    ("role", "named"),
    [
        (_role(budget="yes"), "budget"),  # an unknown field
        (_role(seniorities=["boss"]), "boss"),  # not a seniority level
        (_role(titles=["cfo("]), "cfo("),  # not a regular expression
        (_role(name="Finance Team"), "name"),  # not an identifier
    ],
)
def test_a_bad_role_is_named(role, named):
    with pytest.raises(ValidationError, match=r"buying_group\.roles\.0") as info:
        FeatureConfig.model_validate({"buying_group": {"roles": [role]}})
    assert named in str(info.value)


def test_roles_need_distinct_names():
    role = _role()
    with pytest.raises(ValidationError, match=r"\['finance'\] appear more than once"):
        FeatureConfig.model_validate({"buying_group": {"roles": [role, role]}})


def test_a_bad_pattern_in_a_config_file_is_one_line_naming_it(tmp_path):
    from core.errors import LeadscoreError
    from features.defaults import load_features_config

    path = tmp_path / "features.yaml"
    path.write_text("buying_group:\n  roles:\n    - {name: finance, label: x, missing: y, step: z, titles: ['[']}\n")
    with pytest.raises(LeadscoreError) as info:
        load_features_config(path)
    assert "buying_group.roles.0.titles" in str(info.value) and "\n" not in str(info.value)
