"""On a flat export the default rules never fire: training says so and the model's threshold still
sends leads to sales; the starter rules of `leadscore rules init`, given points, make a rule score
that varies (`tests/data/test_rules_init.py` checks the starter file itself)."""

from __future__ import annotations

import yaml

from tests.code.test_cli import run
from tests.data.test_flat import _export
from training.registry import connect


def test_training_on_a_flat_export_with_default_rules_says_what_is_wrong(capsys, tmp_path):
    path, mapping, _, _ = _export(tmp_path, n=600)
    data, uri = tmp_path / "data", f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert run(capsys, "import", str(path), "--mapping", str(mapping), "--out", str(data))[0] == 0
    code, out, err = run(capsys, "train", "--data", str(data), "--tracking-uri", uri)
    assert code == 0, err
    words = " ".join(err.split())
    assert "no hand-over times (a flat snapshot)" in words and "not by time" in words  # the random split
    assert "the rule score is 0 for every hand-over" in words and "leadscore rules init" in words
    assert "rules flag no lead as MQL" in words and "thresholds.target_rate" in words
    run_ = connect(uri).search_runs(connect(uri).search_experiments()[0].experiment_id)[0]
    assert "rule score is 0" in run_.data.tags["notes"] and run_.data.tags["split.kind"] == "random"
    # this export's labels are random: the gate keeps the model from @champion and says why
    assert "left as @challenger: does not rank better than chance" in " ".join(out.split())
    # the fallback threshold still sends leads to sales (copying the rules' volume would send none)
    scores = tmp_path / "scores.csv"
    code, out, err = run(
        capsys,
        "score",
        "--data",
        str(data),
        "--out",
        str(scores),
        "--tracking-uri",
        uri,
        "--model-uri",
        "models:/leadscore/1",
    )
    assert code == 0, err
    assert "model MQLs 0," not in out and "model MQLs" in out


def test_starter_rules_with_points_give_a_rule_score_that_varies(capsys, tmp_path):
    path, mapping, _, _ = _export(tmp_path, n=600)
    out, data = tmp_path / "rules.yaml", tmp_path / "data"
    assert run(capsys, "rules", "init", "--mapping", str(mapping), "--out", str(out))[0] == 0
    config = yaml.safe_load(out.read_text())
    for rule in config["rules"]:
        rule["points"] = 10
    out.write_text(yaml.safe_dump(config))
    assert run(capsys, "import", str(path), "--mapping", str(mapping), "--out", str(data))[0] == 0
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, _, err = run(capsys, "train", "--data", str(data), "--rules", str(out), "--tracking-uri", uri)
    assert code == 0, err
    assert "rule score is 0 for every" not in " ".join(err.split())
