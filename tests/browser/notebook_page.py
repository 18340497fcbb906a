"""What a student does with a notebook in JupyterLab, as Playwright actions.

Every action goes through the page as a person would use it: clicks on cells, the
toolbar, the menu bar and nbgrader's Validate button, and keyboard shortcuts. What the
test then checks is read back from the page (prompts, dialogs, rendered images) or from
the notebook file the page saved.
"""
from __future__ import annotations

import ast
import io
import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

#: Text of nbgrader's dialog when every visible test passes (nbgrader 0.9 labextension).
VALIDATION_SUCCESS = "Success! Your notebook passes all the tests."


@dataclass
class CellError:
    index: int  # position among all cells, counting from 0
    ename: str
    evalue: str
    source: str

    def __str__(self):
        first_line = self.source.strip().splitlines()[0] if self.source.strip() else ""
        return f"cell {self.index} ({first_line[:60]!r}): {self.ename}: {self.evalue[:200]}"


def errors_in(notebook_path: Path) -> list[CellError]:
    """The error outputs saved in a notebook file, in cell order."""
    notebook = nbformat.read(notebook_path, as_version=4)
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                found.append(CellError(index, output.get("ename", ""), output.get("evalue", ""), cell.source))
    return found


def names_defined(source: str) -> set[str]:
    """Names a cell binds at its top level (assignments, def, class, for, with, import)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        for child in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else [node]:
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                names.add(child.name)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif isinstance(child, ast.alias):
                names.add((child.asname or child.name).split(".")[0])
    return names


def stub_consequences(errors: list[CellError], answered) -> set[str]:
    """Names that the cells stopped by ``NotImplementedError`` define once answered (read
    from ``answered``, the same notebook with the reference answers): a later
    ``NameError`` for one of them is a consequence of an answer stub, nothing else."""
    owed = set()
    for error in errors:
        if error.ename == "NotImplementedError":
            owed |= names_defined(answered.cells[error.index].source)
    return owed


def is_stub_consequence(error: CellError, owed: set[str]) -> bool:
    """A ``NameError`` for one of the names ``owed`` (see :func:`stub_consequences`)."""
    missing = re.match(r"name '(\w+)' is not defined", error.evalue or "")
    return error.ename == "NameError" and missing is not None and missing.group(1) in owed


def unexecuted_cells(notebook_path: Path) -> list[int]:
    """Indices of non-empty code cells that have no execution count in the saved file."""
    notebook = nbformat.read(notebook_path, as_version=4)
    return [i for i, c in enumerate(notebook.cells)
            if c.cell_type == "code" and c.source.strip() and c.get("execution_count") is None]


def image_is_blank(png: bytes, min_std: float = 2.0, min_inked_fraction: float = 0.005) -> tuple[bool, str]:
    """Whether a screenshot of an image is (nearly) one flat colour.

    Blank means: the grey levels barely vary, or fewer than ``min_inked_fraction`` of the
    pixels differ visibly from the most common colour (an empty white figure).
    """
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    flat = pixels.reshape(-1, 3)
    colours, counts = np.unique(flat.astype(np.uint8), axis=0, return_counts=True)
    background = colours[counts.argmax()].astype(np.float64)
    inked = float((np.abs(flat - background).max(axis=1) > 16).mean())
    spread = float(flat.mean(axis=1).std())
    description = f"{pixels.shape[1]}x{pixels.shape[0]} px, grey std {spread:.1f}, {100 * inked:.1f}% non-background"
    return spread < min_std or inked < min_inked_fraction, description


class NotebookPage:
    """One notebook open in JupyterLab in a Playwright page."""

    def __init__(self, page, lab, relative_path: str, disk_path: Path):
        self.page = page
        self.lab = lab
        self.relative_path = relative_path
        self.disk_path = Path(disk_path)

    # -- opening ---------------------------------------------------------------------

    def open(self, timeout_ms: int = 120_000):
        workspace = Path(self.relative_path).stem.replace(".", "-")
        self.page.goto(self.lab.notebook_url(self.relative_path, workspace=workspace))
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout_ms)
        self.wait_for_kernel_idle(timeout_ms)
        self.dismiss_unexpected_dialogs()

    def dismiss_unexpected_dialogs(self):
        """Accept a kernel-choice dialog should one appear despite the settings."""
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count() and "kernel" in dialog.first.inner_text().lower():
            dialog.first.locator(".jp-Dialog-button.jp-mod-accept").click()

    def wait_for_kernel_idle(self, timeout_ms: int = 120_000):
        self.page.wait_for_function(
            """() => {
                const name = document.querySelector('.jp-NotebookPanel .jp-KernelName');
                const state = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
                return name && !/no kernel/i.test(name.innerText)
                    && state && state.getAttribute('data-status') === 'idle';
            }""",
            timeout=timeout_ms,
        )

    # -- cells ---------------------------------------------------------------------

    @property
    def code_cells(self):
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-CodeCell")

    def prompts(self) -> list[str]:
        return [p.strip() for p in self.code_cells.locator(".jp-InputPrompt").all_inner_texts()]

    def run_each_cell(self, timeout_per_cell_ms: int = 300_000):
        """Run the code cells one after the other, each to its end, errors or not.

        JupyterLab's *Run All* stops at the first error, and a released sheet raises
        ``NotImplementedError`` in every answer stub, so a student who wants to see all
        of it runs cell by cell: select the cell, Ctrl+Enter, wait for its number.
        """
        count = self.code_cells.count()
        for position in range(count):
            cell = self.code_cells.nth(position)
            if not cell.locator(".jp-InputArea-editor").inner_text().strip():
                continue  # an empty cell gets no number
            cell.locator(".jp-InputPrompt").click()
            self.page.keyboard.press("Escape")  # command mode
            self.page.keyboard.press("Control+Enter")
            try:
                self.page.wait_for_function(
                    """cell => /^\\[\\d+\\]:$/.test(cell.querySelector('.jp-InputPrompt').innerText.trim())""",
                    arg=cell.element_handle(), timeout=timeout_per_cell_ms,
                )
            except Exception as error:
                raise AssertionError(f"code cell {position} did not finish within {timeout_per_cell_ms / 1000:.0f} s") from error
        self.wait_for_kernel_idle()

    def restart_and_run_all(self, timeout_ms: int = 600_000):
        """The toolbar's *Restart the kernel and run all cells* (the restart dialog is off)."""
        self.page.locator(".jp-NotebookPanel-toolbar [data-command='notebook:restart-run-all']").click()
        # Run All queues every cell at once ([*]); it is over when nothing is queued any
        # more and either every cell got a number or one failed (the rest stay [ ]).
        self.page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell')]
                    .filter(c => c.querySelector('.jp-InputArea-editor').innerText.trim() !== '')
                    .map(c => c.querySelector('.jp-InputPrompt').innerText.trim());
                if (prompts.some(p => p.includes('*'))) return false;
                const failed = document.querySelector('.jp-NotebookPanel .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
                const state = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
                const idle = state && state.getAttribute('data-status') === 'idle';
                return idle && (prompts.every(p => /^\\[\\d+\\]:$/.test(p)) || failed !== null);
            }""",
            timeout=timeout_ms, polling=500,
        )

    # -- files -----------------------------------------------------------------------

    def save(self, timeout_ms: int = 60_000):
        """The toolbar's save button; returns once the file on disk is rewritten."""
        before = self.disk_path.stat().st_mtime_ns
        self.page.locator(".jp-NotebookPanel-toolbar [data-command='docmanager:save']").click()
        deadline = time.monotonic() + timeout_ms / 1000
        while self.disk_path.stat().st_mtime_ns == before:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.relative_path} was not saved within {timeout_ms / 1000:.0f} s")
            time.sleep(0.2)
        self.page.wait_for_function(
            "() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=timeout_ms)

    def reload_from_disk(self):
        """File ▸ Reload Notebook from Disk, accepting the warning about unsaved changes."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text="File").click()
        self.page.locator(".lm-Menu-item[data-command='docmanager:reload']").click()
        dialog = self.page.locator(".jp-Dialog")
        try:
            dialog.wait_for(timeout=3_000)
            dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        except Exception:
            pass  # no unsaved changes, no question
        self.page.wait_for_function(
            """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]
                     .every(p => p.innerText.trim() === '[ ]:')""",
            timeout=30_000,
        )

    # -- nbgrader --------------------------------------------------------------------

    def validate(self, timeout_ms: int = 600_000) -> str:
        """Press nbgrader's Validate button; return the text of its result dialog (left open)."""
        self.page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
        dialog = self.page.locator(".jp-Dialog", has_text="Validation Results")
        dialog.wait_for(timeout=timeout_ms)
        return dialog.locator(".jp-Dialog-body").inner_text()

    def close_dialog(self):
        self.page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
        self.page.locator(".jp-Dialog").wait_for(state="detached")

    # -- figures ---------------------------------------------------------------------

    def output_images(self):
        return self.page.locator(".jp-NotebookPanel .jp-OutputArea-output img")

    def image_reports(self) -> list[tuple[bool, str]]:
        """For every image output: (blank?, description), from a screenshot of it."""
        reports = []
        images = self.output_images()
        for position in range(images.count()):
            image = images.nth(position)
            image.scroll_into_view_if_needed()
            natural = image.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
            if not natural[0] or natural[1] == 0:
                reports.append((True, f"image {position} did not load ({natural})"))
                continue
            blank, description = image_is_blank(image.screenshot())
            reports.append((blank, f"image {position}: {description}"))
        return reports
