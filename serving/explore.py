"""The exploration hold-out and the feature log's sample: seeded draws anyone can recompute.

Exploration (`LEADSCORE_EXPLORE_SHARE`, 0 = off; `LEADSCORE_EXPLORE_SEED`): a lead below both
thresholds (neither the model nor the rules would send it) is sent to sales anyway when its draw
falls under the share, so that acceptance can be measured on the whole funnel, not only on the
leads the current policy likes. The draw is a hash (BLAKE2b) of the seed, the lead id and the ISO
week of the time the answer speaks for (the lead's `as_of`, else when it is answered), mapped to
[0, 1): the same lead in the same week gets the same draw in every worker and on every retry, and
an auditor recomputes it from the score log (`draw`). The answer's `propensity` is the share in
force for every lead below both thresholds (sent or not): the probability the hold-out sends it,
which inverse propensity weighting needs.

The feature log's sample (`LEADSCORE_FEATURE_LOG_RATE`) is a hash of the lead id alone: a fixed,
uniformly drawn subset of leads, every answer of which is logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from hashlib import blake2b

from pydantic import BaseModel, ConfigDict, Field

from core.tables import utc

SCALE = float(2**64)  # eight bytes of digest, as a fraction of one
EXPLORE_STEP = (
    "sent to sales by the exploration hold-out: {share} of leads below both thresholds are sent so that "
    "accuracy can be measured on the whole funnel"
)
MAX_SHARE = 0.2  # more would spend too much sales time on leads both policies hold back


class Exploration(BaseModel):
    """The hold-out's settings: the share of leads below both thresholds sent to sales anyway."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    share: float = Field(default=0.0, ge=0.0, le=MAX_SHARE, allow_inf_nan=False)
    seed: int = 0


@dataclass(frozen=True)
class Held:
    """One lead's verdict from the hold-out: sent or not, and the propensity (None: not eligible)."""

    explore: bool = False
    propensity: float | None = None


def speaks_for(lead, now: datetime) -> datetime:
    """The time an answer for `lead` (a `serving.schemas.Lead`) speaks for ("as_of throughout"):
    its as_of when it came with one, else `now`, as a UTC instant. The score log's `scored_at`, the
    feature row's, and the week of the hold-out's draw."""
    return now if lead.as_of is None else utc(lead.as_of)


def week(at: datetime) -> str:
    """The ISO week of an instant in UTC (naive = UTC), e.g. "2026-W07"."""
    year, number, _ = utc(at).isocalendar()
    return f"{year}-W{number:02d}"


def draw(seed: int, lead_id: str, at: datetime) -> float:
    """The lead's draw in [0, 1) for the ISO week of `at`."""
    digest = blake2b(f"{seed}\x1f{lead_id}\x1f{week(at)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / SCALE


def held(exploration: Exploration, lead_id: str, at: datetime, below_both: bool) -> Held:
    """Whether the hold-out sends this lead (only one below both thresholds, only when on)."""
    if exploration.share <= 0 or not below_both:
        return Held()
    return Held(draw(exploration.seed, lead_id, at) < exploration.share, exploration.share)


def step(share: float) -> str:
    """The next step of a lead the hold-out sends, saying why."""
    return EXPLORE_STEP.format(share=f"{share:.1%}".replace(".0%", "%"))


def sampled(lead_id: str, rate: float) -> bool:
    """Whether the feature log keeps this lead's feature rows (a fixed share `rate` of lead ids)."""
    if rate >= 1:
        return True
    if rate <= 0:
        return False
    digest = blake2b(lead_id.encode(), digest_size=8, person=b"featurelog").digest()
    return int.from_bytes(digest, "big") / SCALE < rate
