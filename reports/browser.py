"""Headless Chromium for the report: the page printed to PDF as a person would print it.

Chromium is Debian's `chromium` package (or Google Chrome) on the PATH; `--chromium` names
another. It runs with a throwaway profile, without extensions, background networking or the
PDF header and footer; the page it prints is a local file that fetches nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from core.errors import LeadscoreError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find(browser: str | None = None) -> str:
    """The Chromium to run: `browser` (a path or a name on the PATH), else the first of NAMES."""
    for name in (browser,) if browser else NAMES:
        found = shutil.which(name)
        if found:
            return found
    wanted = f"'{browser}'" if browser else "chromium"
    raise LeadscoreError(
        f"--pdf: {wanted} not found; install Chromium (Debian: apt-get install chromium) or name it with --chromium"
    )


def arguments(profile: Path) -> list[str]:
    """Flags for a headless run that leaves nothing behind and asks nothing of the network."""
    flags = [
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Chromium's sandbox refuses to run as root
        flags.append("--no-sandbox")
    return flags


def print_pdf(page: Path, pdf: Path, browser: str | None = None, timeout: int = 120) -> Path:
    """`page` (an HTML file) printed to `pdf` with the page's own print style (A4)."""
    executable = find(browser)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    partial = pdf.with_name(f".{pdf.name}.partial")
    # Chromium's helper processes may still write to the throwaway profile as the browser exits:
    # a file they leave must not fail the report (the profile is in the temporary folder anyway)
    with tempfile.TemporaryDirectory(prefix="leadscore-chromium-", ignore_cleanup_errors=True) as profile:
        command = [
            executable,
            *arguments(Path(profile)),
            "--no-pdf-header-footer",
            f"--print-to-pdf={partial}",
            page.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            partial.unlink(missing_ok=True)
            raise LeadscoreError(f"--pdf: Chromium did not finish printing within {timeout} s") from None
    if done.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        last = (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
        raise LeadscoreError(f"--pdf: Chromium could not print the report (exit {done.returncode}: {last})")
    partial.replace(pdf)
    return pdf
