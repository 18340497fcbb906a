"""Build everything students and instructors receive from ``source/``.

    python -m autograder release          # regenerate in place
    python -m autograder release --check  # rebuild in a scratch copy, fail on drift

For every sheet, ``source/<sheet>/<sheet>.nb.py`` (a jupytext script, see
docs/authoring.md) becomes the nbgrader source notebook ``source/<sheet>/<sheet>.ipynb``;
``nbgrader generate_assignment`` writes the student version into ``assignments/`` and
``nbgrader generate_solution`` the reference solution into ``solutions/``.  Finally the
student bundle ``dist/student-bundle.zip`` is packed.
"""
import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jupytext
import nbformat

from autograder import SHEETS

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_FILES = ("environment.yml", "requirements.txt", "pyproject.toml")
BUNDLE_README = "docs/student-readme.md"
# Fixed timestamp for zip entries, so that the same sources give the same bundle.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def nbgrader(root: Path, *args: str):
    """Run an nbgrader command in the course directory ``root`` (its bin/ on PATH for alembic)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=root, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def sheets_in(root: Path) -> list[str]:
    """The sheet ids whose jupytext source exists, in course order."""
    return [sheet for sheet in SHEETS if (root / "source" / sheet / f"{sheet}.nb.py").is_file()]


def build_source_notebook(root: Path, sheet: str) -> Path:
    """Convert ``<sheet>.nb.py`` into the nbgrader source notebook next to it."""
    script = root / "source" / sheet / f"{sheet}.nb.py"
    notebook = jupytext.read(script)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    # nbformat draws random cell ids; ids from the position keep the generated files stable.
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"
    target = script.with_name(f"{sheet}.ipynb")
    nbformat.validate(notebook)
    nbformat.write(notebook, target)
    return target


#: Files of utils/ that only the grader uses: the probe runtime runs in the grading
#: sandbox (from the course checkout) and, for the instructor, calls the checks in-process.
GRADER_ONLY = {"utils/probing.py"}


def pack_bundle(root: Path) -> Path:
    """Zip what students get: assignments/, utils/, the environment files and a README."""
    target = root / "dist" / "student-bundle.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    entries = [(root / BUNDLE_README, "README.md")]
    entries += [(root / name, name) for name in BUNDLE_FILES]
    for folder in ("assignments", "utils"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ".ipynb_checkpoints" not in path.parts \
                    and path.relative_to(root).as_posix() not in GRADER_ONLY:
                entries.append((path, path.relative_to(root).as_posix()))
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path, name in entries:
            info = zipfile.ZipInfo(f"explaining-nn/{name}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            bundle.writestr(info, path.read_bytes())
    return target


def release(root: Path = ROOT) -> list[str]:
    """Regenerate the source notebooks, assignments/, solutions/ and the bundle under ``root``."""
    sheets = sheets_in(root)
    with tempfile.TemporaryDirectory() as scratch:
        # nbgrader wants a gradebook for these commands; a throwaway one keeps grading/ untouched.
        database = f"--CourseDirectory.db_url=sqlite:///{Path(scratch) / 'release.db'}"
        for sheet in sheets:
            build_source_notebook(root, sheet)
            nbgrader(root, "generate_assignment", sheet, "--force", database, "--log-level=WARN")
            nbgrader(root, "generate_solution", sheet, "--force", database, "--log-level=WARN")
    pack_bundle(root)
    return sheets


def generated_paths(root: Path, sheets) -> list[Path]:
    """Every generated file of ``sheets``, relative to ``root``."""
    paths = []
    for sheet in sheets:
        paths.append(Path("source") / sheet / f"{sheet}.ipynb")
        for folder in ("assignments", "solutions"):
            base = root / folder / sheet
            if base.is_dir():
                paths += [p.relative_to(root) for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(set(paths))


def drift(root: Path = ROOT) -> list[str]:
    """Rebuild in a scratch copy of ``root`` and list the generated files that differ."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "course"
        copy.mkdir()
        for name in ("source", "utils", "docs"):
            shutil.copytree(root / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb", ".ipynb_checkpoints"))
        for name in ("nbgrader_config.py", *BUNDLE_FILES):
            shutil.copy2(root / name, copy / name)
        sheets = release(copy)
        problems = []
        expected, committed = set(generated_paths(copy, sheets)), set(generated_paths(root, sheets))
        problems += [f"missing (run make release): {p}" for p in sorted(expected - committed)]
        problems += [f"stale, not generated any more: {p}" for p in sorted(committed - expected)]
        for path in sorted(expected & committed):
            if not filecmp.cmp(copy / path, root / path, shallow=False):
                problems.append(f"differs from its source (run make release): {path}")
        return problems


def main(argv):
    parser = argparse.ArgumentParser(prog="python -m autograder release", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed copies drift from source/")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for problem in problems:
            print(problem)
        print("release: no drift" if not problems else f"release: {len(problems)} generated files drift from source/")
        return 1 if problems else 0
    sheets = release()
    print(f"released {', '.join(sheets) or 'no sheets'} into assignments/, solutions/ and dist/student-bundle.zip")
    return 0
