"""Awaiting a condition in tests: poll it until it holds or a deadline passes, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(check: Callable[[], bool], timeout: float = 10.0, every: float = 0.02) -> bool:
    """Whether `check()` became true within `timeout` seconds (polled every `every` seconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True
