"""Record the outputs of the reference solutions that nbval checks, and run the check.

    python -m autograder nbval-record                    # every sheet
    python -m autograder nbval-record sheet2_cifar ...   # some sheets
    python -m autograder nbval-record --check            # run nbval on the recorded copies

Recording runs the reference solution of every sheet (read from
``source/<sheet>/<sheet>.nb.py``: the code cells of ``solutions/<sheet>/<sheet>.ipynb``)
in fast mode, in the environment below, and writes it to ``tests/nbval/<sheet>.ipynb``
with the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT`` only (text only, sanitized by
``tests/nbval/sanitize.cfg``); the outputs of the other cells are dropped, since nbval
does not compare them.  The check runs

    pytest --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval/sanitize.cfg

on a copy of each recorded notebook, in the same environment: every cell must run
without an error (the hidden test cells check the reference against the sheet's checks,
in-process), and every marked cell must print what was recorded, up to the sanitized
parts (times, progress bars, addresses, paths, float round-off).

Record again whenever a sheet changes (and release it): a test fails when the code cells
of a recorded copy differ from those of the solution notebook in ``solutions/``.

The environment fixes what the printed numbers depend on: fast mode, the CPU, one
thread, no full CIFAR-10 copy and no cached or downloaded ImageNet weights (the committed
sample and the shipped parameters only), a fixed hash seed.  The sheets seed their own
random generators.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import nbformat

from autograder import SHEETS

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / "tests" / "nbval"
SANITIZE = RECORDS / "sanitize.cfg"
MARKER = "NBVAL_CHECK_OUTPUT"
#: Seconds a cell may run, in recording and in the check.
CELL_TIMEOUT = 900
#: Output types whose text nbval compares; images are never compared (without nbdime).
TEXT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")
#: Variables that would point the notebooks at data or models beyond the course's own.
UNSET = ("CIFAR10_ROOT", "TORCH_HOME", "COURSE_PROBE_DIR", "NBGRADER_EXECUTION")


def recorded_path(sheet: str) -> Path:
    return RECORDS / f"{sheet}.ipynb"


def solution_path(sheet: str) -> Path:
    return ROOT / "solutions" / sheet / f"{sheet}.ipynb"


def solution_notebook(sheet: str):
    """The sheet's reference solution as the release reads it from its jupytext source
    (the same code cells as the generated solution notebook)."""
    import jupytext

    return jupytext.read(ROOT / "source" / sheet / f"{sheet}.nb.py")


def environment(scratch: Path) -> dict:
    """The environment of recording and check: ``scratch`` is an empty folder for caches."""
    import matplotlib

    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    cache = Path(scratch) / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    env.update({
        "COURSE_FAST_MODE": "1", "COURSE_DEVICE": "cpu", "COURSE_NO_DOWNLOAD": "1",
        # an empty cache: no CIFAR-10 copy in ~/.cache/explaining-nn, no VGG-16 in the torch hub
        "XDG_CACHE_HOME": str(cache),
        # matplotlib's font list stays where it is (fonts change no printed text)
        "MPLCONFIGDIR": os.environ.get("MPLCONFIGDIR", matplotlib.get_cachedir()), "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0", "JUPYTER_PLATFORM_DIRS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    return env


def nbval_command(notebooks) -> list[str]:
    """The pytest command line of the check, on ``notebooks``."""
    return [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rf",
        "--nbval-lax", "--nbval-current-env", f"--nbval-sanitize-with={SANITIZE}",
        f"--nbval-cell-timeout={CELL_TIMEOUT}", *[str(path) for path in notebooks],
    ]


def run_nbval(notebooks, folder: Path) -> subprocess.CompletedProcess:
    """Run the check on ``notebooks`` (which lie in ``folder``, where the kernels start)."""
    folder = Path(folder)
    # An ini file of its own keeps the project's pytest configuration and conftest out.
    (folder / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        nbval_command(notebooks) + ["-c", str(folder / "pytest.ini"), f"--rootdir={folder}"],
        cwd=folder, env=environment(folder / ".scratch"), capture_output=True, text=True,
    )


# ----------------------------------------------------------------------------- recording
def is_checked(cell) -> bool:
    """Whether nbval compares the outputs of ``cell`` under ``--nbval-lax``."""
    from nbval.plugin import find_comment_markers

    return cell.cell_type == "code" and dict(find_comment_markers(cell.source)).get("check") is True


def sanitize_patterns() -> OrderedDict:
    """The patterns of the sanitize file, read as nbval reads them."""
    from nbval.plugin import get_sanitize_patterns

    return OrderedDict(get_sanitize_patterns(SANITIZE.read_text()))


def sanitize(text: str, patterns: OrderedDict) -> str:
    """``text`` after every pattern of the sanitize file, in order (as nbval applies them)."""
    for regex, replace in patterns.items():
        text = re.sub(regex, replace, text)
    return text


def code_cells(notebook) -> list[str]:
    """The sources of the code cells of ``notebook`` (what the drift test compares)."""
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def execute(notebook, folder: Path) -> None:
    """Run ``notebook`` in place, in ``folder``, in the check's environment."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    manager = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(notebook, km=manager, timeout=CELL_TIMEOUT, record_timing=False,
                            resources={"metadata": {"path": str(folder)}})
    try:
        # nbval runs every cell with store_history=False, with which IPython does not hide the
        # value of a last line that ends in ";" (a figure, say): the recording runs them alike.
        with client.setup_kernel(env=environment(folder / ".scratch")):
            count = 0
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type == "code":
                    count += 1
                    client.execute_cell(cell, index, execution_count=count, store_history=False)
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)


def kept_outputs(cell, patterns) -> list:
    """The outputs of a checked cell as nbval compares them: streams merged, text only, sanitized."""
    from nbval.plugin import coalesce_streams

    outputs = []
    for output in coalesce_streams(list(cell.outputs)):
        if output.output_type == "stream":
            outputs.append(nbformat.v4.new_output("stream", name=output.name, text=sanitize(output.text, patterns)))
        elif output.output_type in ("display_data", "execute_result"):
            data = {key: sanitize(value, patterns) if isinstance(value, str) else value
                    for key, value in output.data.items() if key in TEXT_TYPES}
            if output.output_type == "execute_result":
                outputs.append(nbformat.v4.new_output("execute_result", data=data,
                                                      execution_count=output.execution_count))
            else:
                outputs.append(nbformat.v4.new_output("display_data", data=data))
        else:  # an error cannot get here: execution stops at the first one
            raise ValueError(f"unexpected output of type {output.output_type} in a checked cell")
    return outputs


def trim(notebook) -> int:
    """Keep the outputs of the checked cells only; return how many cells are checked."""
    patterns = sanitize_patterns()
    # what execution adds to the notebook's metadata (widget states, the Python version) varies
    notebook.metadata = {"kernelspec": notebook.metadata["kernelspec"], "language_info": {"name": "python"}}
    checked = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if is_checked(cell):
            checked += 1
            cell.outputs = kept_outputs(cell, patterns)
        else:
            cell.outputs = []
            cell.execution_count = None  # nbval skips the comparison of cells recorded as not run
    return checked


def record_notebook(notebook, target: Path) -> int:
    """Run ``notebook`` and write the recorded copy to ``target``; return the checked cells."""
    notebook = nbformat.from_dict(notebook)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    for index, cell in enumerate(notebook.cells):  # ids from the position, as in the release: stable files
        cell.id = f"cell-{index:03d}"
    with tempfile.TemporaryDirectory() as scratch:
        execute(notebook, Path(scratch))
    checked = trim(notebook)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(notebook)
    nbformat.write(notebook, target)
    return checked


def record(sheet: str) -> int:
    """Record ``sheet``'s solution notebook into ``tests/nbval/``."""
    return record_notebook(solution_notebook(sheet), recorded_path(sheet))


def check(sheets) -> subprocess.CompletedProcess:
    """Run nbval on copies of the recorded notebooks of ``sheets`` in a scratch folder."""
    with tempfile.TemporaryDirectory() as scratch:
        copies = []
        for sheet in sheets:
            copies.append(Path(scratch) / recorded_path(sheet).name)
            shutil.copyfile(recorded_path(sheet), copies[-1])
        return run_nbval(copies, Path(scratch))


def main(argv):
    parser = argparse.ArgumentParser(prog="python -m autograder nbval-record", description=__doc__.splitlines()[0])
    parser.add_argument("sheets", nargs="*", metavar="SHEET", help=f"default: all of {', '.join(SHEETS)}")
    parser.add_argument("--check", action="store_true", help="run nbval on the recorded copies instead")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sheets) - set(SHEETS))
    if unknown:
        parser.error(f"unknown sheets: {', '.join(unknown)}")
    sheets = args.sheets or list(SHEETS)
    if args.check:
        result = check(sheets)
        print(result.stdout + result.stderr)
        return result.returncode
    for sheet in sheets:
        start = time.monotonic()
        checked = record(sheet)
        print(f"recorded {recorded_path(sheet).relative_to(ROOT)}: {checked} checked cells "
              f"({time.monotonic() - start:.0f} s)")
    return 0
