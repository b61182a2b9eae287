"""Lead journeys for the synthetic CRM: activity over time, hand-overs and sales decisions.

An *episode* is one stretch of a lead's life that may end in a hand-over to sales (`mql`).
Recycled leads come back for a second episode. Activity after a hand-over exists too (accepted
leads go on to trials and meetings), which is exactly what a leaky feature would pick up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.contract import DECISIONS, EVENT_TYPES, REASONS
from synthetic import world as w

DAY = 86_400
HOUR = 3_600
T = {name: i for i, name in enumerate(EVENT_TYPES)}
R = {name: i for i, name in enumerate(REASONS)}
D = {name: i for i, name in enumerate(DECISIONS)}
DETAILS = (*w.PAGES, "/pricing", *w.ASSETS, *w.WEBINARS)
# how strongly each event type clusters around the lead's burst of interest (else: uniform)
BURST_AFFINITY = {
    "page_view": 0.5,
    "pricing_page_view": 0.85,
    "content_download": 0.3,
    "webinar_registered": 0.2,
    "webinar_attended": 0.2,
    "email_open": 0.0,
    "email_click": 0.3,
    "form_submit": 0.5,
    "free_trial_signup": 0.9,
    "unsubscribe": 0.0,
}


@dataclass
class Accounts:
    """Every account's traits, as aligned arrays indexed by account number."""

    industry: np.ndarray  # index into world.INDUSTRIES
    region: np.ndarray  # index into world.REGIONS
    intent: np.ndarray  # the account's buying intent, 0..1
    country_pick: np.ndarray  # 0..1, picks a country of the region
    size_pick: np.ndarray  # 0..1, picks a company size in the segment's range
    name: np.ndarray  # index into the names made of world.NAME_PARTS


@dataclass
class People:
    """Every lead's attributes, latent and observed, as aligned arrays (one row per lead)."""

    created: np.ndarray  # seconds since epoch
    frac: np.ndarray  # position in the period, 0..1 (drives drift)
    kind: np.ndarray  # 0 business, 1 personal, 2 spam
    competitor: np.ndarray
    segment: np.ndarray  # index into world.SEGMENTS
    account: np.ndarray  # index into `accounts`
    accounts: Accounts
    industry: np.ndarray
    region: np.ndarray
    seniority: np.ndarray  # index into world.SENIORITIES
    department: np.ndarray
    student: np.ndarray  # as first drawn: a duplicate keeps its own, not its original's
    fit: np.ndarray
    intent: np.ndarray
    curiosity: np.ndarray
    source: np.ndarray  # index into world.SOURCES
    duplicate: np.ndarray  # a later copy of an earlier lead

    @property
    def account_intent(self) -> np.ndarray:
        """The buying intent of each lead's account."""
        return self.accounts.intent[self.account]


@dataclass
class Episodes:
    """Stretches of leads' lives that may end in a hand-over to sales."""

    lead: np.ndarray  # index into People
    start: np.ndarray  # seconds since epoch
    mql: np.ndarray  # hand-over time, -1 if never handed over
    intent: np.ndarray

    def take(self, mask: np.ndarray) -> Episodes:
        """The episodes where `mask` holds."""
        return Episodes(self.lead[mask], self.start[mask], self.mql[mask], self.intent[mask])


@dataclass
class Events:
    """Activity rows: who, when, what, and the page, asset or webinar it concerned."""

    lead: np.ndarray
    ts: np.ndarray
    type: np.ndarray
    detail: np.ndarray  # index into DETAILS, -1 for none

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        """All `parts` in one, in order."""
        return Events(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("lead", "ts", "type", "detail")))


@dataclass
class Decisions:
    """Sales' answer to each handed-over episode."""

    decision: np.ndarray  # index into DECISIONS
    reason: np.ndarray  # index into REASONS, -1 for none
    decided_at: np.ndarray  # seconds since epoch, -1 while open

    @staticmethod
    def concat(parts: list[Decisions]) -> Decisions:
        """All `parts` in one, in order."""
        return Decisions(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("decision", "reason", "decided_at"))
        )


@dataclass
class Window:
    """When each episode's activity happens: from `start` to `stop`, bunched around `burst`."""

    start: np.ndarray
    stop: np.ndarray
    length: np.ndarray  # stop - start, at least an hour
    burst: np.ndarray  # the peak of the lead's interest
    trial_at: np.ndarray  # when a free trial began, if any


def first_episodes(rng: np.random.Generator, people: People, end: int) -> Episodes:
    """Every lead's first episode; the engaged ones are handed over after a delay."""
    n = len(people.created)
    engagement = 0.6 * people.intent + 0.4 * people.curiosity
    hand_p = np.where(people.kind == 2, 0.6, np.clip(0.2 + 0.9 * engagement, 0.0, 0.92))
    delay = (0.5 + rng.gamma(2.0, 5.0, n) * (1.4 - people.intent)) * DAY
    mql = people.created + delay.astype(np.int64)
    handed = (rng.random(n) < hand_p) & (mql < end)
    return Episodes(np.arange(n), people.created.copy(), np.where(handed, mql, -1), people.intent.copy())


def returning_episodes(rng: np.random.Generator, ep: Episodes, decided: Decisions, end: int) -> Episodes:
    """Recycled leads come back to sales 1-5 months after the decision, interest renewed."""
    back = np.flatnonzero(decided.decision == D["recycled"])
    mql = decided.decided_at[back] + (rng.uniform(30, 150, len(back)) * DAY).astype(np.int64)
    keep = mql < end
    back, mql = back[keep], mql[keep]
    intent = np.clip(0.5 * ep.intent[back] + 0.5 * rng.beta(1.2, 2.0, len(back)), 0, 1)
    return Episodes(ep.lead[back], decided.decided_at[back], mql, intent)


def activity(rng: np.random.Generator, people: People, ep: Episodes, end: int) -> tuple[Events, np.ndarray, np.ndarray]:
    """Events before each episode's hand-over (or over 120 days if none), the intent left at that
    time after interest decays from its burst, and whether the lead asked for a demo."""
    student = people.seniority[ep.lead] == w.SENIORITIES.index("student")
    stop = np.where(ep.mql >= 0, ep.mql, np.minimum(end, ep.start + 120 * DAY))
    length = np.maximum(stop - ep.start, HOUR)
    demo, burst, intent_now = _interest(rng, people, ep, student, length, stop)
    counts = _counts(rng, people, ep, student, demo, length)
    trial_at = np.clip(burst - (rng.uniform(0, 5, len(ep.lead)) * DAY).astype(np.int64), ep.start, stop)
    window = Window(ep.start, stop, length, burst, trial_at)
    parts = []
    for name, count in counts.items():
        idx = np.repeat(np.arange(len(ep.lead)), count)
        ts = np.clip(_times(rng, name, idx, window), ep.start[idx], stop[idx])
        kinds = np.full(len(idx), T[name], dtype=np.int8)
        parts.append(Events(ep.lead[idx], ts, kinds, _details(rng, name, student[idx])))
    return Events.concat(parts), intent_now, demo


def _interest(
    rng: np.random.Generator, people: People, ep: Episodes, student, length, stop
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who asks for a demo, when each lead's interest peaks, and what is left of it at `stop`."""
    n = len(ep.lead)
    intent, fit, kind = ep.intent, people.fit[ep.lead], people.kind[ep.lead]
    handed = ep.mql >= 0
    demo = handed & (kind != 2) & (rng.random(n) < 0.01 + 0.5 * intent**1.5 * (0.35 + 0.65 * fit) + 0.03 * student)
    fresh = demo | (rng.random(n) < 0.3 + 0.5 * intent)
    gap = np.minimum(np.where(fresh, rng.exponential(3 * DAY, n), rng.uniform(0.3, 1.0, n) * length), length)
    return demo, stop - gap.astype(np.int64), intent * np.exp(-gap / (21 * DAY))


def _counts(rng: np.random.Generator, people: People, ep: Episodes, student, demo, length) -> dict[str, np.ndarray]:
    """How many events of each type every episode holds, driven by intent, curiosity and fit."""
    n = len(ep.lead)
    intent, fit, curiosity = ep.intent, people.fit[ep.lead], people.curiosity[ep.lead]
    kind, segment = people.kind[ep.lead], people.segment[ep.lead]
    engagement = 0.6 * intent + 0.4 * curiosity
    depth = w.SEGMENT_DEPTH[segment] * np.where(kind == 2, 0.1, 1.0)
    opens = rng.poisson(1.5 + length / (7 * DAY) * 0.8 * (0.3 + engagement))
    regs = rng.poisson(0.1 + 0.8 * curiosity + 0.4 * intent)
    trial = (kind == 0) & (rng.random(n) < (0.04 + 0.35 * intent) * w.SEGMENT_TRIAL[segment])
    return {
        "page_view": rng.poisson((3 + 14 * engagement) * depth),
        "pricing_page_view": rng.poisson((0.05 + 4.5 * intent**2 * (1 - 0.6 * student)) * depth),
        "content_download": rng.poisson((0.2 + 2.5 * curiosity + 0.8 * intent) * depth),
        "webinar_registered": regs,
        "webinar_attended": rng.binomial(regs, 0.3 + 0.4 * intent),
        "email_open": opens,
        "email_click": rng.binomial(opens, 0.08 + 0.3 * intent),
        "form_submit": 1 + rng.poisson((0.2 + 0.5 * engagement) * depth),
        "demo_request": demo.astype(np.int64),
        "free_trial_signup": trial.astype(np.int64),
        "product_active_day": np.where(trial, rng.poisson(1 + 12 * intent * fit), 0),
        "unsubscribe": (rng.random(n) < 0.03 + 0.12 * (1 - engagement)).astype(np.int64),
    }


def _times(rng: np.random.Generator, name: str, idx: np.ndarray, window: Window) -> np.ndarray:
    """When the events of type `name` of episodes `idx` happen (before clipping to the window)."""
    k = len(idx)
    if name == "demo_request":
        return window.stop[idx] - rng.exponential(4 * HOUR, k).astype(np.int64)
    if name == "product_active_day":
        trial_at = window.trial_at[idx]
        return trial_at + (rng.random(k) * (window.stop[idx] - trial_at)).astype(np.int64)
    near = rng.random(k) < BURST_AFFINITY[name]
    around = window.burst[idx] + rng.normal(0, 2 * DAY, k).astype(np.int64)
    anywhere = window.start[idx] + (rng.random(k) * window.length[idx]).astype(np.int64)
    return np.where(near, around, anywhere)


def _details(rng: np.random.Generator, name: str, student: np.ndarray) -> np.ndarray:
    """Which page, asset or webinar each event of type `name` concerned (-1 for none)."""
    k = len(student)
    if name == "page_view":
        page = rng.integers(0, len(w.PAGES), k)
        career = rng.choice([w.PAGES.index("/careers"), w.PAGES.index("/blog/career-advice")], k)
        return np.where(student & (rng.random(k) < 0.4), career, page).astype(np.int16)
    if name == "pricing_page_view":
        return np.full(k, DETAILS.index("/pricing"), dtype=np.int16)
    if name == "content_download":
        return (DETAILS.index(w.ASSETS[0]) + rng.integers(0, len(w.ASSETS), k)).astype(np.int16)
    if name.startswith("webinar"):
        return (DETAILS.index(w.WEBINARS[0]) + rng.integers(0, len(w.WEBINARS), k)).astype(np.int16)
    return np.full(k, -1, dtype=np.int16)


def decide(
    rng: np.random.Generator,
    people: People,
    ep: Episodes,
    intent_now: np.ndarray,
    demo: np.ndarray,
    frac: np.ndarray,
    end: int,
    scale: np.ndarray | None = None,
) -> tuple[Decisions, np.ndarray]:
    """Sales' decision, reason code and decision time for every handed-over episode, and the
    probability that sales accept each one (label noise and forced rejections included). `frac`:
    each hand-over's position in the generated period (1 in a simulated future: no more drift);
    `scale`: a factor on that probability (capped at `ACCEPT_CAP`) where a simulated drift says so."""
    n = len(ep.lead)
    probability, accepted = _accepted(rng, people, ep, intent_now, demo, frac, scale)
    u = rng.random(n)
    reason, forced = _reasons(rng, people, ep.lead, intent_now, u)
    accepted &= forced < 0
    probability = np.where(forced >= 0, 0.0, probability)
    recycle = ((reason == R["not_now"]) & (u < 0.65)) | ((reason == R["no_budget"]) & (rng.random(n) < 0.25))
    decision = np.where(accepted, D["accepted"], np.where(recycle, D["recycled"], D["rejected"]))
    reason = np.where(accepted, -1, reason)
    lag = (0.05 + rng.gamma(2.0, 4.0, n) + 10 * (reason == R["unreachable"])) * DAY
    decided_at = ep.mql + lag.astype(np.int64)
    still_open = decided_at > end
    decided = Decisions(
        np.where(still_open, D["open"], decision),
        np.where(still_open, -1, reason),
        np.where(still_open, -1, decided_at),
    )
    return decided, probability


LABEL_NOISE = 0.03  # the share of decisions flipped: sales are people too
ACCEPT_CAP = 0.95  # the highest acceptance probability a drift's factor may give


def _accepted(
    rng: np.random.Generator, people: People, ep: Episodes, intent_now, demo, frac: np.ndarray, scale=None
) -> tuple[np.ndarray, np.ndarray]:
    """The probability that sales accept each hand-over, and whether they would: fit, intent now,
    the account's intent, a demo request, segment and source, a stricter bar as the period goes on
    (`frac`), label noise; times `scale` (capped) where given."""
    lead = ep.lead
    n = len(lead)
    fit, kind, segment = people.fit[lead], people.kind[lead], people.segment[lead]
    z = (
        -3.0
        + 2.8 * fit
        + 3.2 * intent_now
        + 1.0 * people.account_intent[lead]
        + 2.0 * fit * intent_now
        + 0.8 * demo * fit
        + w.SEGMENT_ACCEPT[segment]
        + w.SOURCE_ACCEPT[people.source[lead]]
        - 0.3 * frac
        - 2.5 * (kind == 1)
        + rng.normal(0, 0.5, n)
    )
    p = 1 / (1 + np.exp(-z))
    draw, flip = rng.random(n), rng.random(n) < LABEL_NOISE
    accepted = (draw < p) ^ flip
    probability = LABEL_NOISE + (1 - 2 * LABEL_NOISE) * p
    if scale is not None:  # drawn from the scaled probability itself (the same draws are used)
        scaled = scale != 1
        probability = np.where(scaled, np.minimum(probability * scale, ACCEPT_CAP), probability)
        accepted = np.where(scaled, draw < probability, accepted)
    return probability, accepted


def _reasons(
    rng: np.random.Generator, people: People, lead: np.ndarray, intent_now, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The reason code a rejection would carry, following its cause, and the reasons that force
    a rejection whatever the lead's merits (spam, competitor, duplicate; -1 for none)."""
    n = len(lead)
    fit, kind, segment = people.fit[lead], people.kind[lead], people.segment[lead]
    low_rank = np.isin(
        people.seniority[lead], [w.SENIORITIES.index("individual_contributor"), w.SENIORITIES.index("intern")]
    )
    cold = np.select([u < 0.45, u < 0.75], [R["not_now"], R["no_need"]], R["no_budget"])
    warm = np.select([u < 0.35, u < 0.7], [R["no_budget"], R["not_now"]], R["no_need"])
    reason = np.select(
        [kind == 1, fit < 0.3, low_rank & (segment > 0) & (rng.random(n) < 0.5), intent_now < 0.3],
        [
            np.where(u < 0.85, R["student_or_personal"], R["bad_fit"]),
            np.where(u < 0.8, R["bad_fit"], R["no_need"]),
            R["no_authority"],
            cold,
        ],
        warm,
    )
    reason = np.where(rng.random(n) < 0.1, R["unreachable"], reason)
    forced = np.select(
        [kind == 2, people.competitor[lead], people.duplicate[lead] & (rng.random(n) < 0.9)],
        [R["spam_or_invalid"], R["competitor"], R["duplicate"]],
        -1,
    )
    return np.where(forced >= 0, forced, reason), forced


def after_handover(rng: np.random.Generator, ep: Episodes, decision: np.ndarray, end: int) -> Events:
    """What leads do after sales took them: accepted ones go on to trials and meetings."""
    accepted = decision == D["accepted"]
    decided = decision != D["open"]
    count = np.where(accepted, rng.poisson(6, len(decision)), np.where(decided, rng.poisson(1.2, len(decision)), 0))
    idx = np.repeat(np.arange(len(decision)), count)
    types_acc = np.array([T[t] for t in ("page_view", "product_active_day", "email_click", "pricing_page_view")])
    types_rej = np.array([T["email_open"], T["unsubscribe"]])
    pick = rng.integers(0, 4, len(idx))
    etype = np.where(accepted[idx], types_acc[pick], types_rej[pick % 2]).astype(np.int8)
    ts = ep.mql[idx] + 60 + (rng.random(len(idx)) * 30 * DAY).astype(np.int64)
    keep = ts <= end
    detail = np.where(etype == T["pricing_page_view"], DETAILS.index("/pricing"), -1).astype(np.int16)
    return Events(ep.lead[idx][keep], ts[keep], etype[keep], detail[keep])
