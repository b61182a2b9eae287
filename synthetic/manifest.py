"""A generated world's manifest (`world.json`): what `generate` made, so that `simulate` knows
the world it continues (its seed, size, period and file format)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import LeadscoreError

MANIFEST = "world.json"  # what `generate` made, beside the tables: what `simulate` continues


class World(BaseModel):
    """A generated world's manifest: how `generate` made it (the same call makes the same world)."""

    model_config = ConfigDict(extra="forbid")
    seed: int
    leads: int = Field(ge=1)
    start: str
    days: int = Field(ge=1)
    format: Literal["csv", "parquet"]

    @property
    def t0(self) -> int:
        """The period's first second (UTC, seconds since epoch)."""
        return int(pd.Timestamp(self.start, tz="UTC").timestamp())

    def write(self, folder: Path) -> Path:
        """Write the manifest into `folder` (atomically)."""
        path = folder / MANIFEST
        tmp = path.with_name(f".{MANIFEST}.tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, folder: Path) -> World:
        """The manifest of the generated world in `folder`; a LeadscoreError naming the file if
        there is none or it is not one."""
        path = folder / MANIFEST
        if not path.is_file():
            raise LeadscoreError(
                f"{path}: not found; simulate continues a world made by `leadscore generate` (which writes it)"
            )
        try:
            return cls.model_validate_json(path.read_text())
        except (ValidationError, UnicodeDecodeError) as exc:
            problem = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc)}
            where = ".".join(map(str, problem["loc"])) or "file"
            raise LeadscoreError(f"{path}: not a world manifest ({where}: {problem['msg']})") from None
