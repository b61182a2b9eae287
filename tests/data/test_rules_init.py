"""On a flat export the default rules never fire: `leadscore rules init` gives the marketer a rules
file to start from (training on it: `tests/model/test_rules_init_training.py`)."""

from __future__ import annotations

from features.defaults import load_rules
from tests.code.test_cli import run
from tests.data.test_flat import _export


def test_rules_init_writes_a_loadable_starter_that_never_overwrites(capsys, tmp_path):
    path, mapping, _, _ = _export(tmp_path)
    out = tmp_path / "rules.yaml"
    code, said, err = run(capsys, "rules", "init", "--mapping", str(mapping), "--out", str(out), str(path))
    assert code == 0, err
    assert "2 rule(s)" in said
    rules = load_rules(out)
    assert {r.feature for r in rules.rules} == {"occupation", "visits"} and all(r.points == 0 for r in rules.rules)
    occupation = next(r for r in rules.rules if r.feature == "occupation")
    assert occupation.in_[0] in {"student", "working_professional"}  # the export's values, as features write them
    assert "# Job: commonest values" in out.read_text()
    before = out.read_text()
    code, _, err = run(capsys, "rules", "init", "--mapping", str(mapping), "--out", str(out))
    assert code == 2 and "already exists" in err and out.read_text() == before
