"""Reading YAML configuration into pydantic models, with errors that name the file and field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from core.errors import LeadscoreError

ModelT = TypeVar("ModelT", bound=BaseModel)


def load_config(path: Path | str | None, model: type[ModelT]) -> ModelT:
    """Load and validate a YAML file as `model`; `None` gives the documented defaults."""
    if path is None:
        return model()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LeadscoreError(f"{path}: config file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LeadscoreError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise LeadscoreError(f"{path}: expected a mapping of settings at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise LeadscoreError(f"{path}: {problems}") from None
