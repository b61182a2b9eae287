"""The shipped, documented default training configuration."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
