"""`leadscore mapping init`: a mapping to start from, written from an export's header and the audit.

Typing the role of each of 37 columns by hand is where mistakes come from; this writes them all:

- the id column (unique in every row), each further file's key (the column holding those ids), the
  label (a two-valued outcome column, `--label`, or "accepted when the lead has a row in the
  further file", e.g. won deals) and the times (ISO 8601 date columns, by name: created, first
  contact, hand-over, won / closed), each marked `# guess:`;
- placeholder values that fill several columns (`Select`) proposed as `missing_values`
  (features/audit.py `placeholders`);
- the audit run on the joined table as the import reads it: a `leak` is excluded with the audit's
  reason (its numbers, never the values), a constant, empty or every-row-different column excluded
  with its own, any other date excluded (it may postdate the hand-over);
- every other column `fit` (numbers `kind: numeric`, an employee count `as: company_size`, a
  contract name such as `country` or `source` when the column has it) or `counter` (non-negative
  numbers named like visits, views, clicks, time on site).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml

from core.errors import LeadscoreError
from features.audit import audit, placeholders
from features.flat import label as read_label
from features.joins import Export, join_files
from features.mapping import EXPORT_TIME, LEAD_FIT, RESERVED, JoinedFile, Label, Mapping, Times, snake
from features.sizes import read_sizes
from features.tables import read_export

POSITIVE = {"1", "yes", "y", "true", "won", "converted", "accepted", "closed won", "closed_won", "sql"}
LABEL_NAMES = re.compile(r"won|convert|closed|outcome|label|accepted|status|result|target", re.I)
CREATED = re.compile(r"creat|first.?contact|sign.?up|registered|added|^date$", re.I)
HANDOVER = re.compile(r"mql|hand.?over|qualif|first.?contact|assigned", re.I)
DECIDED = re.compile(r"won|clos|decid|deal|convert|lost", re.I)
COUNTER = re.compile(r"visit|view|page|time|minute|second|click|open|session|download|count|total|number", re.I)
SIZE = re.compile(r"employee|headcount|company.?size|staff|^size$", re.I)
ACCOUNT = re.compile(r"^(account|company|organi[sz]ation)(_?(id|name))?$", re.I)
SYNONYMS = {"lead_source": "source", "origin": "source", "channel": "source", "title": "job_title",
            "job": "job_title", "sector": "industry", "vertical": "industry", "domain": "email_domain"}  # fmt: skip


@dataclass
class Draft:
    """The mapping being written: its settings, and a comment per line that is a guess or a finding."""

    id_column: str | None = None
    account_column: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # further file -> its key column
    label: dict = field(default_factory=dict)
    times: dict = field(default_factory=dict)
    missing: list[str] = field(default_factory=lambda: [""])
    roles: dict[str, dict[str, dict]] = field(default_factory=dict)  # file -> column -> role
    notes: dict[str, str] = field(default_factory=dict)  # setting or column -> comment


def _is_time(values: pd.Series) -> bool:
    filled = values.dropna()
    return len(filled) > 0 and pd.to_datetime(filled, errors="coerce", format="ISO8601").notna().all()


def _is_number(values: pd.Series) -> bool:
    filled = values.dropna()
    return len(filled) > 0 and pd.to_numeric(filled, errors="coerce").notna().all()


def _guess_id(frame: pd.DataFrame) -> str | None:
    """A column filled and unique in every row, an id by its name first."""
    unique = [c for c in frame.columns if frame[c].notna().all() and frame[c].is_unique]
    named = [c for c in unique if re.search(r"(^|[^a-z])id($|[^a-z])|_id$|^id", c, re.I)]
    return (named or unique or [None])[0]


def _guess_key(other: pd.DataFrame, ids: pd.Series, id_column: str, path: Path) -> str:
    """The column of a further file holding the lead ids: the id column's name, else the one most
    of whose values are lead ids."""
    if id_column in other.columns:
        return id_column
    known = set(ids.astype(str))
    share = {c: other[c].dropna().astype(str).isin(known).mean() for c in other.columns}
    best = max(share, key=share.get, default=None)
    if best is None or share[best] < 0.9:
        raise LeadscoreError(f"{path}: no column holds the lead ids of column '{id_column}'; rename its key column")
    return best


def _guess_label(frame: pd.DataFrame, draft: Draft, given: str | None, positive: list[str] | None) -> None:
    """The label: `--label`, else a two-valued outcome column, else a row in the first further file."""
    candidates = [given] if given else [c for c in frame.columns if LABEL_NAMES.search(c)]
    for column in candidates:
        if column not in frame.columns:
            raise LeadscoreError(f"--label: no column '{column}' in the export")
        values = sorted(frame[column].dropna().astype(str).str.strip().unique())
        pos = [v for v in values if v in (positive or [])] or [v for v in values if v.lower() in POSITIVE]
        if (len(values) == 2 and len(pos) == 1) or (given and pos):
            draft.label = {"column": column, "positive": pos, "negative": [v for v in values if v not in pos]}
            draft.notes["label"] = "given" if given else f"guess: {column} has two values; check which is 'accepted'"
            return
        if given:
            raise LeadscoreError(f"--label {column}: cannot tell its positive value; give --positive VALUE")
    if draft.files:
        name = next(iter(draft.files))
        draft.label = {"exists_in": name}
        draft.notes["label"] = f"guess: a lead is accepted when it has a row in {name}"
        return
    raise LeadscoreError("no label column found (a two-valued won / converted / status column); give --label COLUMN")


def _guess_times(export: Export, draft: Draft, exported_at: str, leaks: set[str]) -> None:
    """created_at, mql_at and decided_at from the date columns, by name (never a leak as a creation
    or hand-over time); the export time otherwise; any other date excluded."""
    frame = export.frame
    main = [c for c in export.columns_of(export.path) if c not in leaks]
    dates = [c for c in frame.columns if c not in (draft.id_column, draft.label.get("column")) and _is_time(frame[c])]
    created = next((c for c in dates if c in main and CREATED.search(c)), next((c for c in dates if c in main), None))
    handover = next((c for c in dates if c in main and HANDOVER.search(c)), created)
    decided = next((c for c in dates if c not in (created, handover) and DECIDED.search(c)), None)
    draft.times = {"exported_at": exported_at}
    draft.notes["exported_at"] = "guess: the file's modification time; set when the export was taken"
    for name, column in (("created_at", created), ("mql_at", handover), ("decided_at", decided)):
        if column is None:
            continue
        full = frame[column].notna().all() and name != "decided_at"
        draft.times[name] = column if full else [column, EXPORT_TIME]
        draft.notes[name] = f"guess: {column}" + ("" if full else ", else the export time where it is empty")
    for column in dates:
        if column not in (created, handover, decided):
            draft.roles[str(export.origin[column])][column] = {
                "role": "exclude",
                "reason": "a date the import does not read as a time: it may postdate the hand-over",
            }


def _why(text: str) -> str:
    """The audit's reasons without the values it quotes as examples."""
    return re.sub(r" \((?:'[^']*'|\"[^\"]*\")(?:, (?:'[^']*'|\"[^\"]*\"))*\)", "", text)


def _role(values: pd.Series, column: str, taken: set[str]) -> dict:
    """fit or counter, by the column's values and name."""
    filled = values.dropna()
    if filled.nunique() <= 1:
        return {"role": "exclude", "reason": "empty in every row" if filled.empty else "one value in every row"}
    whole = _is_number(filled) and (pd.to_numeric(filled) % 1 == 0).all()
    if filled.is_unique and len(filled) == len(values) and (whole or not _is_number(filled)):
        return {"role": "exclude", "reason": "a different value in every row (an identifier or free text)"}
    name = snake(column)
    target = SYNONYMS.get(name, name)
    if SIZE.search(column) and "company_size" not in taken and len(read_sizes(filled)[1]) <= 0.1 * len(filled):
        return {"role": "fit", "as": "company_size"}
    if _is_number(filled):
        numbers = pd.to_numeric(filled)
        if COUNTER.search(column) and (numbers >= 0).all() and target not in LEAD_FIT:
            return {"role": "counter", "as": _free(name, taken)}
        return {"role": "fit", "as": _free(name, taken), "kind": "numeric"}
    return {"role": "fit", "as": target if target in LEAD_FIT and target not in taken else _free(name, taken)}


def _free(name: str, taken: set[str]) -> str:
    """`name`, unless the import sets it or another column took it."""
    name = name or "column"
    if name in RESERVED or name in LEAD_FIT or name in taken:
        name = f"export_{name}"
    while name in taken:
        name += "_2"
    return name


def _assign(export: Export, draft: Draft, report: pd.DataFrame) -> None:
    """A role for every column that has none yet: excluded as a leak, else fit or counter."""
    verdicts = report.set_index("column")
    special = {draft.id_column, draft.label.get("column"), draft.account_column, *draft.files.values()}
    special |= {c for v in draft.times.values() for c in ([v] if isinstance(v, str) else v)}
    taken: set[str] = set()
    for column in export.frame.columns:
        roles = draft.roles.setdefault(str(export.origin[column]), {})
        if column in special or column in roles:
            continue
        if column in verdicts.index and verdicts.loc[column, "verdict"] == "leak":
            roles[column] = {
                "role": "exclude",
                "reason": f"the audit calls it a leak: {_why(verdicts.loc[column, 'why'])}",
            }
            continue
        role = _role(export.frame[column], column, taken)
        taken.add(role.get("as", ""))
        if column in verdicts.index and verdicts.loc[column, "verdict"] == "suspect":
            draft.notes[column] = (
                f"audit: suspect ({_why(verdicts.loc[column, 'why'])}); keep only if known at hand-over"
            )
        roles[column] = role


def draft_mapping(main: Path, more: list[Path], label: str | None = None, positive: list[str] | None = None) -> str:
    """The text of a commented mapping for the export `main` and its further files `more`."""
    frame = read_export(main)
    draft = Draft(id_column=_guess_id(frame))
    draft.notes["id_column"] = (
        "guess: filled and unique in every row" if draft.id_column else "no column is unique: the row number"
    )
    joined = {}
    for path in more:
        if draft.id_column is None:
            raise LeadscoreError(f"{main}: no id column (filled and unique in every row) to join {path.name} by")
        name = Path(_relative(path, main.parent)).as_posix()
        key = _guess_key(read_export(path), frame[draft.id_column], draft.id_column, path)
        draft.files[name], joined[name] = key, JoinedFile(key=key)
    export = join_files(main, frame, draft.id_column, joined)
    draft.account_column = next((c for c in frame.columns if ACCOUNT.match(snake(c)) and c != draft.id_column), None)
    found = placeholders(export.frame.drop(columns=[c for c in (draft.id_column,) if c]))
    draft.missing += [p.value for p in found]
    if found:
        draft.notes["missing_values"] = "; ".join(f"{p.value!r} fills {', '.join(p.columns)}" for p in found)
    export = replace(export, frame=export.frame.mask(export.frame.isin(draft.missing)))
    _guess_label(export.frame, draft, label, positive)
    exported_at = datetime.fromtimestamp(main.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    draft.times = {"exported_at": exported_at}
    plan = Mapping(
        source="draft", id_column=draft.id_column, label=Label(**draft.label), times=Times(exported_at=exported_at),
        columns={}, files=joined,
    )  # fmt: skip
    y = read_label(export, plan)
    if y.all() or not y.any():
        raise LeadscoreError(f"the label ({draft.notes['label']}) is the same for every lead; give --label COLUMN")
    ignore = [c for c in (draft.id_column, draft.label.get("column")) if c]
    report = audit(export.frame.drop(columns=ignore), y)
    _guess_times(export, draft, exported_at, set(report.loc[report["verdict"] == "leak", "column"]))
    _assign(export, draft, report)
    return _render(draft, main)


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path.resolve())


def _flow(value) -> str:
    """`value` as one line of YAML."""
    return yaml.safe_dump([value], default_flow_style=True, width=1_000_000, sort_keys=False).strip()[1:-1]


def _line(indent: int, key: str, value, note: str | None = None) -> str:
    return f"{' ' * indent}{_flow(key)}: {_flow(value)}" + (f"  # {note}" if note else "")


def _columns(roles: dict[str, dict], notes: dict[str, str], indent: int) -> list[str]:
    """The `columns:` lines of one file: fit, counters, then exclusions."""
    lines = []
    for title, wanted in (("fit", ("fit",)), ("counters", ("counter",)), ("excluded", ("exclude",))):
        chosen = [(c, r) for c, r in roles.items() if r["role"] in wanted]
        if chosen:
            lines.append(f"{' ' * indent}# --- {title}")
        lines += [_line(indent, c, r, notes.get(c)) for c, r in chosen]
    return lines or [f"{' ' * indent}{{}}"]


HEADER = """\
# A mapping to start from, written by `leadscore mapping init` from {files}.
# Lines marked `guess:` are guesses: check each. Columns the audit calls a leak are excluded with its
# reason; every other column is kept (fit or counter): exclude any that sales fill in after contact,
# or that record activity after the hand-over, with the reason. Then:
#   leadscore audit {main} --mapping MAPPING.yaml
#   leadscore import {main} --mapping MAPPING.yaml --out DATA_FOLDER
"""


def _render(draft: Draft, main: Path) -> str:
    """The mapping's YAML text, one commented line per setting and column."""
    notes = draft.notes
    names = [main.name, *draft.files]
    lines = [HEADER.format(files=" + ".join(names), main=main.name)]
    lines.append(_line(0, "source", f"{' + '.join(names)}: describe the export for people"))
    lines.append(_line(0, "id_column", draft.id_column, notes.get("id_column")))
    account = "guess: the company column" if draft.account_column else "each lead is its own account"
    lines.append(_line(0, "account_column", draft.account_column, account))
    lines.append(_line(0, "label", draft.label, notes.get("label")))
    lines.append("times:")
    lines += [_line(2, name, value, notes.get(name)) for name, value in draft.times.items()]
    lines.append(_line(0, "missing_values", draft.missing, notes.get("missing_values")))
    main_roles = draft.roles.get(str(main), {})
    lines.append("columns:" if main_roles else "columns: {}")
    if main_roles:
        lines += _columns(main_roles, notes, 2)
    if draft.files:
        lines.append("files:")
    for name, key in draft.files.items():
        roles = draft.roles.get(str(main.parent / name), {})
        lines += [f"  {_flow(name)}:", _line(4, "key", key, "guess: the column holding the lead ids")]
        lines += ["    columns:", *_columns(roles, notes, 6)] if roles else ["    columns: {}"]
    return "\n".join(lines) + "\n"
