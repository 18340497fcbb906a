"""Reading a folder of submissions into grading jobs (coordinator side).

SUBMISSIONS holds one folder ``<student>/`` or one ``<student>.zip`` per student, with a
folder ``<sheet>/`` holding ``<sheet>.ipynb`` (nbgrader's submitted layout) for each sheet
handed in.  Everything here treats the submissions as hostile input:

* a student name (folder name or zip stem) must be a plain name: letters, digits and
  ``._@+-``, not starting with a dot, at most 64 characters — no ``..``, no path
  separators, no control characters;
* a symbolic link (or any file that is not a regular file or folder) anywhere under
  SUBMISSIONS refuses what it is in: the student when it is the student's entry, else the
  sheet; nothing here follows a link;
* each zip is unpacked into a fresh private folder of its own (entries with absolute or
  ``..`` paths, links, or sizes over the limits refuse the zip);
* a notebook's size is checked before it is parsed; statuses never quote a file's content.

The result is a list of :class:`Intake` items: a :class:`Job` ready to run, or a finished
:class:`JobResult` saying why there is nothing to run.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.course import MAX_NOTEBOOK_BYTES, MAX_SHEET_FOLDER_BYTES, MAX_ZIP_BYTES, MAX_ZIP_ENTRIES, Limits
from autograder.engine.jobs import Job, JobResult, Status

NAME = re.compile(r"[A-Za-z0-9@+_-][A-Za-z0-9@+_.-]{0,63}")
SKIPPED_NAMES = {".ipynb_checkpoints", "__pycache__", ".DS_Store"}


@dataclass
class Intake:
    student: str
    sheet: str
    job: Job | None = None
    result: JobResult | None = None


class Refused(Exception):
    """A submission that breaks a rule; the message names the rule, never the content."""


def valid_name(name: str) -> bool:
    return bool(NAME.fullmatch(name)) and name not in (".", "..")


def shown(name: str) -> str:
    """A name safe to print in a table (control characters escaped, length bounded)."""
    return ascii(name)[1:-1][:80]


def invalid_key(name: str) -> str:
    """The id a submission with an unusable name is recorded under: it names folders of
    the course folder, so plain characters only (``shown`` escapes with backslashes),
    and a digest keeps two such names apart."""
    plain = re.sub(r"[^A-Za-z0-9@+_.-]", "_", name).lstrip(".")[:40]
    return f"invalid:{plain}-{hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


# ----------------------------------------------------------------------------- discovery
def discover(submissions: Path, staging: Path) -> dict:
    """student -> folder holding the sheet folders, or -> Refused (the reason)."""
    students: dict = {}
    with os.scandir(submissions) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name in SKIPPED_NAMES:  # a hidden folder or zip (even "...zip") is refused, never skipped unseen
                continue
            name = entry.name[:-4] if entry.name.endswith(".zip") else entry.name
            if entry.is_symlink():
                students.setdefault(name, Refused(f"{shown(entry.name)} is a symbolic link"))
                continue
            if entry.is_dir(follow_symlinks=False):
                kind = "folder"
            elif entry.is_file(follow_symlinks=False) and entry.name.endswith(".zip"):
                kind = "zip"
            else:
                continue
            if not valid_name(name):
                students[invalid_key(name)] = Refused(f"invalid student name {shown(name)!r}: use letters, "
                                                      "digits and ._@+- only")
                continue
            if name in students:
                students[name] = Refused(f"two submissions for {name} (a folder and a zip)")
                continue
            if kind == "folder":
                students[name] = Path(entry.path)
            else:
                try:
                    students[name] = unpack(Path(entry.path), Path(tempfile.mkdtemp(prefix="zip-", dir=staging)))
                except Refused as reason:
                    students[name] = reason
    return students


def unpack(archive: Path, target: Path) -> Path:
    """Unpack a student's zip into ``target`` (a fresh folder); returns the folder that
    holds the sheet folders."""
    if archive.stat().st_size > MAX_ZIP_BYTES:
        raise Refused("the zip is larger than the limit")
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise Refused("corrupt zip: not a readable zip archive") from None
    with bundle:
        infos = bundle.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise Refused("the zip holds too many files")
        total = 0
        for info in infos:
            parts = Path(info.filename.replace("\\", "/")).parts
            mode = info.external_attr >> 16
            if info.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise Refused("the zip holds a path outside its own folder")
            if stat.S_ISLNK(mode):
                raise Refused("the zip holds a symbolic link")
            if info.is_dir():
                continue
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                raise Refused("the zip unpacks to more than the limit")
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with bundle.open(info) as source, open(destination, "xb") as sink:
                    copied = 0
                    while chunk := source.read(1 << 20):
                        copied += len(chunk)
                        if copied > info.file_size or copied > MAX_ZIP_BYTES:
                            raise Refused("a zip entry is larger than it says")
                        sink.write(chunk)
            except FileExistsError:  # before OSError, of which it is a subclass
                raise Refused("the zip holds the same file twice") from None
            except (zipfile.BadZipFile, OSError, EOFError):
                raise Refused("corrupt zip: an entry cannot be read") from None
    candidates = [target] + sorted(p for p in target.rglob("*") if p.is_dir())
    return candidates[0] if len(candidates) == 1 else _holder(candidates)


def _holder(candidates):
    """The shallowest folder that holds at least one ``sheet*`` folder (zips often wrap
    everything in one top folder)."""
    for folder in candidates:
        if any(child.is_dir() and child.name.startswith("sheet") for child in folder.iterdir()):
            return folder
    return candidates[0]


# ----------------------------------------------------------------------------- one sheet
def _walk(folder: Path) -> list:
    """(relative path, absolute path) of every regular file under ``folder``; refuses
    links and special files anywhere, never follows one."""
    found = []
    for current, directories, files in os.walk(folder, followlinks=False):
        for name in list(directories):
            path = Path(current) / name
            if path.is_symlink():
                raise Refused(f"{shown(str(path.relative_to(folder)))} is a symbolic link")
            if name in SKIPPED_NAMES:
                directories.remove(name)
        for name in files:
            path = Path(current) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise Refused(f"{shown(str(path.relative_to(folder)))} is a symbolic link")
            if not stat.S_ISREG(info.st_mode):
                raise Refused(f"{shown(str(path.relative_to(folder)))} is not a regular file")
            if name in SKIPPED_NAMES or name.endswith(".pyc"):
                continue
            relative = path.relative_to(folder)
            if not all(part.isprintable() and "\\" not in part for part in relative.parts):
                raise Refused(f"file name {shown(str(relative))!r} holds control characters or backslashes")
            found.append((str(relative), path))
    return sorted(found)


def _read(path: Path, limit: int) -> bytes:
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise Refused("not a regular file")
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise Refused("a file is larger than the limit")
    return data


def sheet_job(student: str, folder: Path, sheet: str, *, secret: bytes, limits: Limits, source_dir: str,
              sheets_dir: str) -> Intake:
    """The job of one student's sheet, or a finished result saying why there is none."""
    def finished(status, detail):
        return Intake(student, sheet, result=JobResult(student, sheet, "", status, detail))

    sheet_folder = folder / sheet
    if sheet_folder.is_symlink():
        return finished(Status.REFUSED, f"{sheet}/ is a symbolic link")
    if not sheet_folder.is_dir():
        return finished(Status.MISSING, f"no {sheet}/ folder")
    try:
        files = _walk(sheet_folder)
        notebooks = [(relative, path) for relative, path in files if relative.endswith(".ipynb") and "/" not in relative]
        notes = []
        chosen = [item for item in notebooks if item[0] == f"{sheet}.ipynb"]
        if not chosen and len(notebooks) == 1:
            chosen = notebooks
            notes.append(f"wrong file name: graded {shown(notebooks[0][0])} as {sheet}.ipynb")
        if not chosen:
            found = ", ".join(shown(relative) for relative, _ in notebooks)
            return finished(Status.MISSING, f"wrong file name: no {sheet}.ipynb" + (f" (found {found})" if found else ""))
        notebook_path = chosen[0][1]
        if notebook_path.lstat().st_size > MAX_NOTEBOOK_BYTES:
            return finished(Status.REFUSED, f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
        notebook = _read(notebook_path, MAX_NOTEBOOK_BYTES)
        others, total, digest = {}, len(notebook), hashlib.sha256()
        for relative, path in files:
            data = notebook if path == notebook_path else _read(path, MAX_SHEET_FOLDER_BYTES)
            digest.update(relative.encode() + b"\0" + hashlib.sha256(data).digest())
            if path == notebook_path or relative.endswith(".ipynb"):
                continue
            total += len(data)
            if total > MAX_SHEET_FOLDER_BYTES:
                return finished(Status.REFUSED, f"the {sheet}/ folder is larger than {MAX_SHEET_FOLDER_BYTES // 2**20} MB")
            others[relative] = base64.b64encode(data).decode("ascii")
        try:
            text = notebook.decode("utf-8")
        except UnicodeDecodeError:
            return finished(Status.CORRUPT, "corrupt notebook: not UTF-8 text")
    except Refused as reason:
        return finished(Status.REFUSED, str(reason))
    job = Job(student=student, sheet=sheet, notebook=text, files=others, digest=digest.hexdigest(),
              seed_secret=secret.hex(), limits=limits, source_dir=source_dir, sheets_dir=sheets_dir, notes=tuple(notes))
    return Intake(student, sheet, job=job)
