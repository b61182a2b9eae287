"""The registry commands (`leadscore models`, `promote`, `rollback`) import MLflow and nothing of the
model: no LightGBM, scikit-learn, numba, pandera, nor the project's feature, decision or scoring code.
Each of those costs a fresh process a noticeable part of a second (the commands' limit is 3 s, issue
27); MLflow brings pandas and SciPy itself. And `training.registry` imports no MLflow until a store
is opened, so the service's settings (`leadscore serve`) read the default tracking URI without it."""

from __future__ import annotations

import os
import subprocess
import sys

# what the registry commands must not import (module names as in sys.modules)
MODEL_CODE = (
    "lightgbm",
    "sklearn",
    "numba",
    "pandera",
    "optuna",
    "matplotlib",
    "features.contract",
    "features.build",
    "core.decisions",
    "training.feedback",
    "training.model",
    "serving.scorer",
)


def _registry(tmp_path) -> str:
    """A store with two registered versions of `leadscore` (their files are never read)."""
    from training.registry import connect

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = connect(uri)
    client.create_registered_model("leadscore")
    for _ in range(2):
        client.create_model_version("leadscore", source=(tmp_path / "model").as_uri())
    return uri


def test_the_registry_commands_import_no_model_code(tmp_path):
    uri = _registry(tmp_path)
    script = (
        "import sys\n"
        "from leadscore_cli import main\n"
        "for argv in (['promote', '2'], ['promote', '1'], ['rollback'], ['models']):\n"
        "    try:\n"
        f"        main([*argv, '--tracking-uri', {uri!r}])\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, (argv, exc.code)\n"
        f"print('imported:', sorted(m for m in {MODEL_CODE!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "leadscore@champion -> version 2" in out and "leadscore@champion -> version 2 (was 1)" in out
    assert "registered versions of leadscore" in out and "@champion history, oldest first: 2" in out
    # the last line comes after the commands, at the very end of the process: nothing is lost at exit
    assert out.splitlines()[-1] == "imported: []", out[-2000:]


def test_the_registry_module_and_the_service_settings_import_no_mlflow(tmp_path):
    script = (
        "import sys\n"
        "import serving.settings\n"
        "from training.registry import tracking_uri\n"
        "print(tracking_uri(), 'mlflow' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the default: ./mlflow.db
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env, check=True
    )
    assert done.stdout.split() == [f"sqlite:///{tmp_path / 'mlflow.db'}", "False"], done.stdout
