"""`leadscore rules init`: a rules file to start from, for a flat export's mapping.

The default rules read the demo CRM's event features, which a flat export does not have: on such
data every rule score is 0. The starter lists one rule per column the mapping keeps (fit columns
as conditions, counters per unit) and per calendar feature, each worth 0 points with a comment,
so a marketer only has to give points and a threshold. With the export at hand, each fit rule
names the column's commonest values, written as the feature table writes them (lower case, blanks
as underscores), and numeric rules start at the column's median.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from features import names
from features.fit import normalise
from features.flat import Mapping

HEADER = """\
# A starting point for the rule score (features/rules.py), written by `leadscore rules init` for
# {source}
# Every rule is worth 0 points: give points to what sales value, remove what they do not, then set
# the MQL threshold. Train with: leadscore train --data DIR --rules FILE
#   in: [values]        -> `points` once when the lead's value is one of them
#   at_least / at_most  -> `points` once when the number is in range
#   per_unit: true      -> `points` times the value, capped at max_points
# Values are as the feature table writes them: lower case, blanks as underscores.
"""
FOOTER = """\
cap: 100
floor: 0
# A lead is a rule MQL when its score reaches its segment's threshold ('default' for all others).
thresholds: {default: 50}
"""


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1_000, sort_keys=False).strip()


def _rule(name: str, feature: str, description: str, condition: dict) -> str:
    body = {"name": name, "feature": feature, "points": 0, **condition, "description": description}
    return f"  - {_flow(body)}"


def _common(values: pd.Series, n: int = 5) -> list[str]:
    counts = pd.Series(normalise(values.to_numpy(dtype=object))).dropna().value_counts()
    return [str(v) for v in counts.index[:n]]


def starter_rules(mapping: Mapping, export: pd.DataFrame | None = None) -> str:
    """The starter rules file's text for `mapping` (and the `export`'s values, when given)."""
    lines = [HEADER.format(source=mapping.source), "rules:"]
    if export is not None:
        export = export.mask(export.isin(mapping.missing_values))
    fit = [(c, r) for c, r in mapping.columns.items() if r.role == "fit"]
    counters = [(c, r) for c, r in mapping.columns.items() if r.role == "counter"]
    if fit:
        lines.append("  # --- fit: who the lead is (the mapping's fit columns)")
    for column, role in fit:
        feature = mapping.target(column)
        if role.kind == "numeric":
            start = float(pd.to_numeric(export[column], errors="coerce").median()) if export is not None else 0.0
            start = 0.0 if np.isnan(start) else start
            lines.append(_rule(f"{feature}_high", feature, f"{column} is high", {"at_least": start}))
        else:
            common = _common(export[column]) if export is not None else []
            if common:
                lines.append(f"  # {column}: commonest values {', '.join(common)}")
            lines.append(_rule(f"{feature}_match", feature, f"{column} is one we want", {"in": common[:1]}))
    if counters:
        lines.append("  # --- intent: the engagement counters the export already aggregated")
    for column, _role in counters:
        feature = mapping.target(column)
        lines.append(_rule(f"{feature}_activity", feature, column, {"per_unit": True, "max_points": 20}))
    if mapping.times.calendar:
        lines.append("  # --- timing: when the lead was handed over (the business's clock)")
    for part in mapping.times.calendar:
        feature = names.calendar(part)
        condition = {"at_least": 8, "at_most": 17} if part == "hour" else {"in": []}
        lines.append(_rule(f"{feature}_rule", feature, f"handed over in a chosen {part}", condition))
    if not (fit or counters or mapping.times.calendar):
        lines.append("  []  # the mapping keeps no column a rule could read")
    return "\n".join(lines) + "\n\n" + FOOTER
