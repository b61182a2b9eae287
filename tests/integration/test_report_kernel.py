"""The report's notebook kernel keeps its own log to itself: `leadscore compare` prints no
"[IPKernelApp] WARNING | Kernel is running over TCP" (a kernel on this machine), and the
notebook's own output is still there."""

from __future__ import annotations

import nbformat

from reports import report


def test_the_notebook_kernel_does_not_print_its_transport_warning(capfd, tmp_path, monkeypatch):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "report.ipynb")
    monkeypatch.setattr(report, "NOTEBOOK", tmp_path / "report.ipynb")
    ran = report.execute({})
    out, err = capfd.readouterr()  # the kernel is another process: its output reaches the file descriptors
    assert "IPKernelApp" not in out + err and "Kernel is running over TCP" not in out + err
    assert ran.cells[0].outputs[0]["text"] == "42\n"
