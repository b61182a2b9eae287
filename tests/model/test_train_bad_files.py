"""Training on a broken leads file ends in one clear line (the file and what is wrong), never a
traceback; the broken files are made as `tests/data/test_bad_files.py` makes them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.code.test_cli import run
from tests.data.test_bad_files import MUTATIONS, _mutate, _one_clear_line


@given(how=MUTATIONS, cut=st.floats(0.05, 0.95))
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_train_on_broken_leads_is_a_clear_error(capsys, small_csv_dir, how, cut):
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(small_csv_dir, data)
        (data / "leads.csv").write_bytes(_mutate((data / "leads.csv").read_bytes(), how, cut))
        code, _, err = run(capsys, "train", "--data", str(data), "--tracking-uri", f"sqlite:///{tmp}/mlflow.db")
        if how in ("bom",):
            return  # still a valid file: training may run (or stop at too little data, clearly)
        _one_clear_line(code, err)
