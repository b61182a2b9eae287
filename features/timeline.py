"""Point-in-time queries over events: counts, last time and decayed sums as of any timestamp.

Events are grouped by an integer *segment* (a lead, a lead and event type, an account) and
sorted by time. Every question "as of t" becomes a binary search for the key (segment, t), so
one lead scored in a request and a million leads scored in a batch run the same code, each row
with its own as-of time, and no event after it is ever seen: an event at exactly `as_of` counts,
one a microsecond later does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class Clock:
    """Ranks of all distinct known times, so that (segment, time) packs into one int64 key."""

    def __init__(self, times: np.ndarray):
        order = np.argsort(times)
        ordered = times[order]
        new = np.ones(len(ordered), dtype=bool)
        new[1:] = ordered[1:] != ordered[:-1]
        self.times = ordered[new]
        self.size = len(self.times) + 1
        self.known_ranks = np.empty(len(times), dtype=np.int64)
        self.known_ranks[order] = np.cumsum(new)  # the rank of each time given, without a search

    def rank(self, at: np.ndarray) -> np.ndarray:
        """1 + index of the last known time <= at (0 when every known time is later)."""
        return np.searchsorted(self.times, at, side="right")


class Timeline:
    """Events of many segments, sorted by (segment, time), with optional decayed sums.

    Queries take `rank = clock.rank(at)` so that a batch computes each time's rank once; they are
    fastest when the queried keys come in ascending order.
    """

    def __init__(self, clock: Clock, segment: np.ndarray, ts: np.ndarray, rank=None, weight=None, half_life=None):
        self.clock = clock
        key = segment.astype(np.int64) * clock.size + (clock.rank(ts) if rank is None else rank)
        order = np.argsort(key)
        self.key = key[order]
        self.segment = segment[order]
        self.ts = ts[order]
        self.half_life = half_life
        if half_life is not None:
            w = np.ones(len(order)) if weight is None else np.asarray(weight, dtype=float)[order]
            self.decayed_at_event = _decayed_prefix(self.segment, self.ts, w, half_life)

    def start(self, segment: np.ndarray) -> np.ndarray:
        """Position of each segment's first event."""
        return np.searchsorted(self.key, segment.astype(np.int64) * self.clock.size, side="right")

    def stop(self, segment: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """Position just past each segment's last event at or before the ranked time."""
        return np.searchsorted(self.key, segment.astype(np.int64) * self.clock.size + rank, side="right")

    def last(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Time of the last event in [start, stop); NaN where the range is empty."""
        found = stop > start
        out = np.full(len(start), np.nan)
        out[found] = self.ts[stop[found] - 1]
        return out

    def decayed(self, start: np.ndarray, stop: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Sum of weight * 0.5 ** (age / half_life) over the events in [start, stop), seen at `at`."""
        found = stop > start
        out = np.zeros(len(start))
        i = stop[found] - 1
        out[found] = self.decayed_at_event[i] * np.exp2(-(at[found] - self.ts[i]) / self.half_life)
        return out


def _decayed_prefix(segment: np.ndarray, ts: np.ndarray, weight: np.ndarray, half_life: float) -> np.ndarray:
    """For each event, the decayed sum of its segment's events up to it, as seen at its time.

    Written as 2**(-(t_k - r)/h) * cumsum(w_i * 2**((t_i - r)/h)) with r the segment's last time:
    every term is at most its weight and the running sum restarts in each segment, so nothing
    overflows and no large total is ever subtracted from a small one.
    """
    if len(ts) == 0:
        return np.zeros(0)
    sizes = np.diff(np.concatenate([[0], np.flatnonzero(np.diff(segment)) + 1, [len(ts)]]))
    group = np.repeat(np.arange(len(sizes)), sizes)
    exponent = (ts - ts[np.cumsum(sizes) - 1][group]) / half_life
    terms = weight * np.exp2(exponent)
    if len(sizes) <= 64:  # a request's few segments: one exact cumsum each
        ends = np.cumsum(sizes)
        running = np.concatenate([terms[e - n : e].cumsum() for e, n in zip(ends, sizes, strict=True)])
    else:
        running = pd.Series(terms).groupby(group).cumsum().to_numpy()
    return running * np.exp2(-exponent)


def first_per_day(timeline: Timeline, day_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment, time and time rank of the first event of each (segment, day) in a timeline."""
    day = timeline.ts // day_us
    first = np.ones(len(day), dtype=bool)
    first[1:] = (timeline.segment[1:] != timeline.segment[:-1]) | (day[1:] != day[:-1])
    return timeline.segment[first], timeline.ts[first], timeline.key[first] % timeline.clock.size
