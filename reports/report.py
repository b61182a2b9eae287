"""Run the model-vs-rules notebook with parameters and turn it into a self-contained HTML page
(no code cells, charts embedded, nothing fetched from the network when it is opened), and print
that page to PDF when asked."""

from __future__ import annotations

import html
from pathlib import Path

from core.errors import LeadscoreError
from core.style import STYLE

PROJECT = Path(__file__).resolve().parents[1]
NOTEBOOK = PROJECT / "notebooks" / "model_vs_rules.ipynb"
TITLE = "Model vs rules: which leads should go to sales?"


def execute(parameters: dict, out: Path | None = None, timeout: int = 1_200):
    """The notebook run with `parameters` (papermill), as a notebook node; also saved at `out`."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if not NOTEBOOK.exists():
        raise LeadscoreError(f"{NOTEBOOK}: the report notebook is missing from this installation")
    try:
        return papermill.execute_notebook(
            str(NOTEBOOK),
            str(out) if out else None,
            parameters={k: v for k, v in parameters.items() if v is not None},
            kernel_name="python3",
            # the kernel's own log: its "[IPKernelApp] WARNING | Kernel is running over TCP" (a local
            # kernel, ports on 127.0.0.1) is not for the report's reader; its errors still show
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            progress_bar=False,
            cwd=str(PROJECT),
            execution_timeout=timeout,
        )
    except PapermillExecutionError as exc:  # the notebook's own error, e.g. a wrong data folder
        message = exc.evalue.splitlines()[0] if exc.evalue else exc.ename
        kind = "" if exc.ename == "LeadscoreError" else f"{exc.ename}: "  # our own errors say what is wrong
        raise LeadscoreError(f"compare: {kind}{message}") from None


def to_html(notebook, title: str = TITLE) -> str:
    """One HTML page with the notebook's text, tables and charts, without its code, prompts or
    heading anchors."""
    from nbconvert import HTMLExporter

    for cell in notebook.cells:  # warnings and logs on stderr are for whoever runs it, not readers
        if cell.get("outputs"):
            cell.outputs = [
                o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    exporter = HTMLExporter(
        template_name="basic",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
    )
    body, _ = exporter.from_notebook_node(notebook)
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>\n<main>\n{body}\n</main>\n</body></html>\n"
    )


def write_report(parameters: dict, out: Path, pdf: Path | None = None, browser: str | None = None) -> Path:
    """Run the notebook and write the HTML report at `out` (atomically); with `pdf`, the same page
    printed to that PDF."""
    page = to_html(execute(parameters))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(out)
    if pdf is not None:
        from reports.browser import print_pdf

        print_pdf(out, pdf, browser)
    return out
