"""Shared fixtures: small generated CRM data sets, written once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from features.generate import generate, write_dataset

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"


@pytest.fixture(scope="session")
def demo_tables():
    """A 30,000-lead synthetic CRM as pandas frames (big enough for statistical checks)."""
    return {name: table.to_pandas() for name, table in generate(30_000, seed=11).items()}


@pytest.fixture(scope="session")
def small_csv_dir(tmp_path_factory) -> Path:
    """A 300-lead synthetic CRM written as CSV: the base that bad-input tests corrupt."""
    out = tmp_path_factory.mktemp("small_csv")
    write_dataset(generate(300, seed=5), out, "csv")
    return out


@pytest.fixture
def data_copy(small_csv_dir, tmp_path) -> Path:
    """A private copy of the small CSV data set that a test may break."""
    for path in small_csv_dir.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    return tmp_path


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)
