"""Malformed files, generated: wrong encodings, BOMs, other delimiters, huge fields, empty and
truncated files, duplicate headers, broken mappings. Whatever arrives, `validate`, `features`,
`import` and `train` end with one clear line and exit status 2 (or accept a file that is still
valid), never a traceback, and never leave a partial output behind."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.code.test_cli import run

MUTATIONS = st.sampled_from(
    ["utf16", "latin1", "bom", "semicolon", "tab", "huge", "empty", "truncate", "duplicate", "garbage", "nul"]
)
CHECKS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _mutate(data: bytes, how: str, cut: float) -> bytes:
    text = data.decode("utf-8")
    header, _, rest = text.partition("\n")
    if how == "utf16":
        return text.encode("utf-16")
    if how == "latin1":
        return text.replace(",", ",é", 3).encode("latin-1")
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "semicolon":
        return text.replace(",", ";").encode()
    if how == "tab":
        return text.replace(",", "\t").encode()
    if how == "huge":
        lines = text.split("\n")
        first = lines[1].split(",")
        first[-1] = "x" * 3_000_000
        lines[1] = ",".join(first)
        return "\n".join(lines).encode()
    if how == "empty":
        return b""
    if how == "truncate":
        return data[: max(1, int(len(data) * cut))]
    if how == "duplicate":
        names = header.split(",")
        names[-1] = names[0]
        return (",".join(names) + "\n" + rest).encode()
    if how == "nul":
        return data[: len(data) // 2] + b"\x00\x00" + data[len(data) // 2 :]
    return bytes(range(256)) * 40  # garbage


def _one_clear_line(code: int, err: str) -> None:
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:  # progress lines may come first; the error is one line, the last
        lines = [line for line in err.strip().splitlines() if line.strip()]
        assert lines[-1].startswith("error:") and sum(line.startswith("error:") for line in lines) == 1, err


@given(table=st.sampled_from(["leads", "events", "outcomes"]), how=MUTATIONS, cut=st.floats(0.05, 0.95))
@CHECKS
def test_validate_and_features_on_a_broken_table(capsys, small_csv_dir, table, how, cut):
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(small_csv_dir, data)
        path = data / f"{table}.csv"
        path.write_bytes(_mutate(path.read_bytes(), how, cut))
        _one_clear_line(*run(capsys, "validate", str(data))[::2])
        out = Path(tmp) / "features.parquet"
        code, _, err = run(capsys, "features", "--data", str(data), "--out", str(out))
        _one_clear_line(code, err)
        assert out.exists() == (code == 0)  # written whole, or not at all
        assert not [p for p in Path(tmp).iterdir() if "partial" in p.name or p.name.startswith(".")]


EXPORT = "\n".join(
    ["Lead Id,Converted,Industry,Visits"]
    + [f"P{i},{i % 2},{'software' if i % 3 else 'retail'},{i % 7}" for i in range(60)]
)
MAPPING = """
source: a small generated export for these tests
id_column: Lead Id
label: {column: Converted, positive: ["1"], negative: ["0"]}
times: {exported_at: "2024-06-01T00:00:00Z"}
columns:
  Industry: {role: fit, as: industry}
  Visits: {role: counter, as: total_visits}
"""
BROKEN_MAPPINGS = st.sampled_from(
    [
        "",
        "id_column: [",
        "id_column: Nope\n" + MAPPING.split("\n", 2)[2],
        MAPPING.replace("role: fit", "role: magic"),
        MAPPING + "\nsurprise: 1\n",
        MAPPING.replace("Visits: {role: counter, as: total_visits}", "Visits: {role: counter, as: industry}"),
        "\ufeff" + MAPPING,
        "- just\n- a list\n",
    ]
)


@given(how=MUTATIONS, cut=st.floats(0.05, 0.95), mapping=st.one_of(st.just(MAPPING), BROKEN_MAPPINGS))
@CHECKS
def test_import_of_a_broken_export_or_mapping(capsys, how, cut, mapping):
    with tempfile.TemporaryDirectory() as tmp:
        export, rules = Path(tmp) / "export.csv", Path(tmp) / "mapping.yaml"
        export.write_bytes(_mutate(EXPORT.encode(), how, cut))
        rules.write_text(mapping, encoding="utf-8")
        out = Path(tmp) / "imported"
        code, _, err = run(capsys, "import", str(export), "--mapping", str(rules), "--out", str(out))
        _one_clear_line(code, err)
        if code == 2:
            assert not out.exists() or not any(out.iterdir())  # nothing half-imported


@pytest.mark.parametrize("mapping", [MAPPING])
def test_the_unbroken_export_imports(capsys, tmp_path, mapping):
    """The base the mutations start from is valid: the tests above break it, not their fixture."""
    (tmp_path / "export.csv").write_text(EXPORT)
    (tmp_path / "mapping.yaml").write_text(mapping)
    code, _, err = run(
        capsys,
        "import",
        str(tmp_path / "export.csv"),
        "--mapping",
        str(tmp_path / "mapping.yaml"),
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0, err
