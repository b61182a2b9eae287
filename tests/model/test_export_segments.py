"""A B2B export's employee counts (numbers and bands) reach the model: its leads fall into segments
and the trained model has an MQL threshold per segment, from a two-file export without a hand join."""

from __future__ import annotations

from tests.code.test_cli import run
from tests.data.b2b_export import write_export, write_mapping
from training.registry import connect, load_model


def test_a_two_file_export_with_employee_bands_trains_with_per_segment_thresholds(capsys, tmp_path):
    leads, _ = write_export(tmp_path, n=1_500, seed=3)
    mapping, data = write_mapping(tmp_path / "mapping.yaml"), tmp_path / "data"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, _, err = run(capsys, "import", str(leads), "--mapping", str(mapping), "--out", str(data))
    assert code == 0, err
    code, _, err = run(capsys, "train", "--data", str(data), "--tracking-uri", uri)
    assert code == 0, err
    model = load_model("models:/leadscore/1", connect(uri))
    assert {"smb", "mid_market", "enterprise"} <= set(model.thresholds)
    assert "unknown" not in model.thresholds  # every employee value was read: no lead without a segment
