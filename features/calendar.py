"""Calendar features of the scoring time: the month, weekday and hour a lead is handed over.

They are read from the as-of time of each row and nothing else (the hand-over when training, the
request's time when serving), so they are point-in-time by construction. Month and weekday are
words (categories: "march", "monday"), the hour a number 0-23, all on the business's clock
(`ContractConfig.timezone`), so that "handed over on a Monday morning" means the same in every
season (daylight saving time included).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import names
from features.arrays import Columns
from features.contract import ContractConfig

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
KINDS = {"month": "category", "weekday": "category", "hour": "number"}


def calendar_features(at: np.ndarray, contract: ContractConfig) -> Columns:
    """The contract's calendar features for as-of times `at` (UTC microseconds, one per row)."""
    if not contract.calendar:
        return {}
    local = pd.DatetimeIndex(pd.to_datetime(np.asarray(at, dtype=np.int64), unit="us", utc=True)).tz_convert(
        contract.timezone
    )
    values = {
        "month": np.asarray(MONTHS, dtype=object)[local.month.to_numpy() - 1],
        "weekday": np.asarray(WEEKDAYS, dtype=object)[local.day_of_week.to_numpy()],
        "hour": local.hour.to_numpy().astype(float),
    }
    return {names.calendar(part): values[part] for part in contract.calendar}
