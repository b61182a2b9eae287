"""What a simulation leaves in the world's folder: the truth (DIR/simulation/truth.parquet, one row
per simulated lead, for tests and benchmarks only) and the runs' summaries (summary.json), and the
CRM export grown by the simulated leads, their events and the hand-overs (as open outcomes).

Every file is written whole to a temporary file, then renamed over the old one: a reader never
sees half a table, and the history rows are kept as they were (appended to, never replaced).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.tables import find_table, undictionary, write_table
from synthetic.future import Future, after_handover
from synthetic.journeys import D
from synthetic.manifest import World
from synthetic.requests import iso

FOLDER = "simulation"
TRUTH = "truth.parquet"
SUMMARY = "summary.json"
REPS = 40


def _truth_path(folder: Path) -> Path:
    return folder / FOLDER / TRUTH


def pending(folder: Path, start: int, end: int) -> pd.DataFrame:
    """Decisions of earlier simulations on hand-overs that were not posted yet (taken after their
    simulation ended) and are taken before `end`: lead_id, decided_at and the /feedback body."""
    path = _truth_path(folder)
    if not path.is_file():
        return pd.DataFrame(columns=["lead_id", "decided_at", "body"])
    truth = pd.read_parquet(path)
    due = truth[truth["handed"] & ~truth["posted"] & (truth["decided_at"] >= 0) & (truth["decided_at"] < end)]
    bodies = [
        {
            "feedback_id": f"sim-{r.lead_id}-1",
            "lead_id": r.lead_id,
            "mql_at": iso(pd.Timestamp(r.scored_at).timestamp()),
            "decision": r.decision,
            "decided_at": iso(r.decided_at),
            "rep_id": f"rep-{int(r.lead_id[1:]) % REPS + 1:03d}",
        }
        | ({"reason": r.reason} if isinstance(r.reason, str) else {})
        for r in due.itertuples()
    ]
    return pd.DataFrame(
        {"lead_id": due["lead_id"].to_numpy(), "decided_at": due["decided_at"].to_numpy(), "body": bodies}
    )


def record(folder: Path, world: World, future: Future, truth: pd.DataFrame, earlier: list[str], summary: dict) -> None:
    """Write the truth and the summary, then append the run's leads, events and hand-overs."""
    path = _truth_path(folder)
    old = pd.read_parquet(path) if path.is_file() else None
    run = 1 + (int(old["run"].max()) if old is not None and len(old) else 0)
    if old is not None:
        old.loc[old["lead_id"].isin(earlier), "posted"] = True
    rows = truth.assign(run=run, scored_at=pd.to_datetime(truth["scored_at"], unit="s", utc=True))
    rows["decided_at"] = truth["decided_at"]  # seconds, -1 for none: kept as numbers for the next run
    write_table(pd.concat([old, rows], ignore_index=True) if old is not None else rows, path)
    summaries = (
        json.loads((folder / FOLDER / SUMMARY).read_text())["runs"] if (folder / FOLDER / SUMMARY).is_file() else []
    )
    _write_text(folder / FOLDER / SUMMARY, json.dumps({"runs": [*summaries, {"run": run, **summary}]}, indent=2) + "\n")

    handed = truth["handed"].to_numpy()
    decided = np.where(truth["posted"] & handed, _decision_index(truth["decision"]), D["open"])
    events = pd.concat([future.events, after_handover(future, handed, world.seed, decided)], ignore_index=True)
    _append(folder, "leads", future.leads, world.format)
    _append(folder, "events", _events_table(events), world.format)
    outcomes = pa.table(
        {
            "lead_id": pa.array(truth.loc[handed, "lead_id"].to_numpy(), type=pa.string()),
            "mql_at": pa.array(truth.loc[handed, "scored_at"].to_numpy(), type=pa.timestamp("s", tz="UTC")),
            "decision": pa.array(["open"] * int(handed.sum()), type=pa.string()),
            "reason": pa.nulls(int(handed.sum()), type=pa.string()),
            "decided_at": pa.nulls(int(handed.sum()), type=pa.timestamp("s", tz="UTC")),
        }
    )
    _append(folder, "outcomes", outcomes, world.format)


def _decision_index(decision: pd.Series) -> np.ndarray:
    return decision.map(D).fillna(D["open"]).astype(np.int64).to_numpy()


def _events_table(events: pd.DataFrame) -> pa.Table:
    return pa.table(
        {
            "lead_id": pa.array(events["lead_id"].to_numpy(), type=pa.string()),
            "ts": pa.array(events["ts"].to_numpy(dtype=np.int64), type=pa.timestamp("s", tz="UTC")),
            "type": pa.array(events["type"].to_numpy(), type=pa.string()),
            "detail": pa.array(events["detail"].to_numpy(), type=pa.string(), from_pandas=True),
        }
    )


def _append(folder: Path, name: str, new: pa.Table, fmt: str) -> None:
    """Append `new` to table `name` of `folder` (in its own format), atomically."""
    path = find_table(folder, name) or folder / f"{name}.{fmt}"
    if not path.exists():
        write_table(new, path)
    elif path.suffix == ".parquet":
        old = pq.read_table(path)
        old = pa.table([undictionary(c) for c in old.columns], names=old.column_names)
        new = new.select(old.column_names).cast(old.schema)
        write_table(pa.concat_tables([old, new]), path)
    else:
        header = path.open(encoding="utf-8-sig").readline().strip().split(",")
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(path.read_bytes())
                pacsv.write_csv(
                    new.select(header), out, pacsv.WriteOptions(include_header=False, quoting_style="needed")
                )
            Path(tmp).replace(path)
        finally:
            Path(tmp).unlink(missing_ok=True)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
