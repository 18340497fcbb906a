"""Fast tests of the grading engine's parts, each written as the attack first: what a
hostile submission hands the intake, what a hostile kernel leaves in its answer folder,
what reaches the checker; then what the engine must do about it.  (The sandbox itself:
``tests/test_sandbox.py``; whole runs: ``tests/test_grading_corpus.py``.)"""
from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder.course import MAX_NOTEBOOK_BYTES, Limits
from autograder.engine import answers, intake, sandbox, worker
from autograder.engine.jobs import Job, Status
from utils import probing

sys.path.insert(0, str(Path(__file__).resolve().parent / "grading"))
import corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- intake: names
@pytest.mark.parametrize("name", ["..", ".", "", ".hidden", "a/b", "a\\b", "evil\x1b[2J", "tab\tname", "new\nline",
                                  "x" * 65, "ümlaut", "space name", "-" * 0])
def test_student_names_that_are_refused(name):
    assert not intake.valid_name(name)


@pytest.mark.parametrize("name", ["alice", "bob.smith", "c-3po", "d_e", "user@uni.edu", "a+b", "A" * 64])
def test_plain_student_names_are_accepted(name):
    assert intake.valid_name(name)


def test_shown_names_cannot_move_the_terminal():
    shown = intake.shown("evil\x1b[2J\rname\n" + "x" * 200)
    assert shown.isprintable() and "\x1b" not in shown and len(shown) <= 80


# ----------------------------------------------------------------------------- intake: discovery
def _notebook(folder: Path, sheet="toy", text='{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'):
    (folder / sheet).mkdir(parents=True, exist_ok=True)
    (folder / sheet / f"{sheet}.ipynb").write_text(text)


def test_links_hidden_names_and_twins_at_the_top_are_refused_by_name(tmp_path):
    """Attack: a student folder that is a link (to solutions/, to /etc/shadow), a zip
    called ``...zip``, a hidden folder, a folder and a zip under one name, a name with
    escape sequences.  Each is refused and named; the honest student is unaffected."""
    submissions, staging = tmp_path / "submitted", tmp_path / "staging"
    submissions.mkdir(), staging.mkdir()
    _notebook(submissions / "honest")
    os.symlink(ROOT / "solutions", submissions / "linked")
    os.symlink("/etc/shadow", submissions / "shadow")
    (submissions / "...zip").write_bytes(b"PK")
    _notebook(submissions / ".hidden")
    _notebook(submissions / "twin")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("toy/toy.ipynb", "{}")
    (submissions / "twin.zip").write_bytes(buffer.getvalue())
    _notebook(submissions / "esc\x1b]0;owned\x07")
    (submissions / ".DS_Store").write_bytes(b"junk")
    found = intake.discover(submissions, staging)
    assert found["honest"] == submissions / "honest"
    refused = {name: str(reason) for name, reason in found.items() if isinstance(reason, intake.Refused)}
    assert refused["linked"] == "linked is a symbolic link"
    assert refused["shadow"] == "shadow is a symbolic link"
    assert "two submissions" in refused["twin"]
    assert "invalid student name '..'" in refused[intake.invalid_key("..")]
    assert "invalid student name '.hidden'" in refused[intake.invalid_key(".hidden")]
    assert "invalid student name 'esc\\" in refused[intake.invalid_key("esc\x1b]0;owned\x07")]
    assert all(name.isprintable() and reason.isprintable() for name, reason in refused.items())
    for name in refused:  # every id names a folder of the course folder
        assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert len(found) == 7  # .DS_Store is junk, not a submission


def _zip(tmp_path, entries, links=()):
    path = tmp_path / "student.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in entries:
            bundle.writestr(name, data)
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            bundle.writestr(info, target)
    target = tmp_path / "unpacked"
    target.mkdir()
    return path, target


@pytest.mark.parametrize("entries, links, reason", [
    ([("../../etc/cron.d/x", "boom")], (), "outside its own folder"),
    ([("/etc/passwd", "boom")], (), "outside its own folder"),
    ([("toy/../../x", "boom")], (), "outside its own folder"),
    ([("C:/windows/x", "boom")], (), "outside its own folder"),
    ([("toy/toy.ipynb", "{}")], [("toy/data.csv", "/etc/shadow")], "symbolic link"),
    ([("toy/toy.ipynb", "{}"), ("toy/toy.ipynb", "{}")], (), "the same file twice"),
])
def test_hostile_zips_are_refused(tmp_path, entries, links, reason):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        archive, target = _zip(tmp_path, entries, links)
    with pytest.raises(intake.Refused, match=reason):
        intake.unpack(archive, target)
    assert not any(p.is_symlink() for p in target.rglob("*"))
    assert not (tmp_path.parent / "etc").exists()


def test_zip_bomb_is_refused(tmp_path, monkeypatch):
    """Attack: a small zip whose entries unpack to more than the limit."""
    monkeypatch.setattr(intake, "MAX_ZIP_BYTES", 2**20)
    archive, target = _zip(tmp_path, [("toy/a.bin", b"\0" * (2**20 // 2 + 1)), ("toy/b.bin", b"\0" * (2**20 // 2 + 1))])
    assert archive.stat().st_size < 2**16
    with pytest.raises(intake.Refused, match="more than the limit"):
        intake.unpack(archive, target)


def _job_of(tmp_path, build):
    folder = tmp_path / "student"
    build(folder)
    return intake.sheet_job("student", folder, "toy", secret=b"s" * 32, limits=Limits(), source_dir="", sheets_dir="")


def test_links_and_pipes_inside_a_sheet_refuse_the_sheet_without_quoting_them(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    secret.chmod(0o600)

    def linked_notebook(folder):
        (folder / "toy").mkdir(parents=True)
        os.symlink(secret, folder / "toy" / "toy.ipynb")

    def linked_data(folder):
        _notebook(folder)
        os.symlink(secret, folder / "toy" / "data.csv")

    def linked_sheet(folder):
        folder.mkdir(parents=True)
        os.symlink(secret.parent, folder / "toy")

    def pipe(folder):
        _notebook(folder)
        os.mkfifo(folder / "toy" / "pipe")

    for build, reason in ((linked_notebook, "toy.ipynb is a symbolic link"), (linked_data, "data.csv is a symbolic link"),
                          (linked_sheet, "toy/ is a symbolic link"), (pipe, "pipe is not a regular file")):
        result = _job_of(tmp_path / build.__name__, build).result
        assert result is not None and result.status == Status.REFUSED and result.detail == reason
        assert "TOP-SECRET" not in result.to_json()


def test_oversized_notebook_refused_before_it_is_read(tmp_path, monkeypatch):
    """Attack: a 210 MB notebook.  The size is taken from the directory entry; the file
    is never opened (a read would be seen by the patched ``_read``)."""
    def build(folder):
        (folder / "toy").mkdir(parents=True)
        with open(folder / "toy" / "toy.ipynb", "wb") as stream:
            stream.truncate(MAX_NOTEBOOK_BYTES + 1)  # sparse: no 210 MB written

    monkeypatch.setattr(intake, "_read", lambda *args: pytest.fail("the notebook was read"))
    result = _job_of(tmp_path, build).result
    assert result.status == Status.REFUSED and "larger than 20 MB" in result.detail


def test_notebook_that_is_not_utf8_is_corrupt(tmp_path):
    def build(folder):
        (folder / "toy").mkdir(parents=True)
        (folder / "toy" / "toy.ipynb").write_bytes('{"cells": []}'.encode("utf-16"))

    result = _job_of(tmp_path, build).result
    assert result.status == Status.CORRUPT and result.detail == "corrupt notebook: not UTF-8 text"


def test_a_renamed_notebook_is_graded_and_the_note_says_so(tmp_path):
    def build(folder):
        (folder / "toy").mkdir(parents=True)
        (folder / "toy" / "Toy (1).ipynb").write_text("{}")

    item = _job_of(tmp_path, build)
    assert item.job is not None and any("wrong file name" in note for note in item.job.notes)


# ----------------------------------------------------------------------------- answers.read
def _pack(values, arrays, error=None):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return json.dumps({"format": 1, "error": error, "values": values}).encode(), buffer.getvalue()


def _npz(members: dict) -> bytes:
    """An .npz archive written member by member (any bytes, any name)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def _npy(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def test_an_honest_answer_reads_back():
    manifest, archive = probing.pack(*probing.run_probe(lambda c, f: {"x": f(2.0), "xs": [1, np.arange(3)]},
                                                        {}, {"f": lambda v: v * 3}))
    answer = answers.read(manifest, archive)
    assert answer.error is None and float(answer.array("x", shape=())) == 6.0
    assert [a.tolist() for a in answer.arrays_of("xs")] == [1.0, [0.0, 1.0, 2.0]]


@pytest.mark.parametrize("manifest", [
    b'{"format": 1, "error": null, "values": {"x": {"kind": "array", "key": "a0"}}, "extra": 1}',
    b'{"format": 1, "error": null, "values": {"x": {"kind": "script", "code": "import os"}}}',
    b'{"format": 1, "error": null, "values": {"x": {"kind": "flag", "value": NaN}}}',
    b'{"format": 1, "error": null, "values": {"x": {"kind": "flag", "value": Infinity}}}',
    b'{"format": 1.0, "error": null, "values": {}}',
    b'{"format": true, "error": null, "values": {}}',
    b'{"format": 1, "error": 3, "values": {}}',
    b'{"format": 1, "error": null, "values": []}',
    b'{"format": 1, "error": null, "values": {"x": {"kind": "flag", "value": 1}}}',
    b'{"format": 1, "error": null, "values": {"x": {"kind": "list", "items": {"a": 1}}}}',
    b'{"format": 1, "error": null, "values": {"x": {"kind": "expression", "tree": ["Symbol", 1.5]}}}',
    b'{"format": 1, "error": null, "values": {"x": {"kind": "unsupported", "type": ["x"]}}}',
    b'["format", 1]',
    b'\xff\xfe{}',
    b'{"format": 1, "error": null, "values": {"x": {"kind": "none"}}, "format": 1}',
    b'{"format": 1, "error": null, "values": {"x": {"kind": "flag", "value": true, "value": false}}}',
])
def test_hand_written_manifests_are_malformed(manifest):
    with pytest.raises(answers.MalformedAnswer):
        answers.read(manifest, None)


def test_two_values_sharing_one_array_are_malformed():
    manifest = json.dumps({"format": 1, "error": None, "values": {"x": {"kind": "array", "key": "a0"},
                                                                   "y": {"kind": "array", "key": "a0"}}}).encode()
    with pytest.raises(answers.MalformedAnswer, match="array key"):
        answers.read(manifest, _npz({"a0.npy": _npy(np.zeros(2))}))


def test_deeply_nested_lists_are_malformed():
    node = {"kind": "none"}
    for _ in range(50):
        node = {"kind": "list", "items": [node]}
    with pytest.raises(answers.MalformedAnswer):
        answers.read(json.dumps({"format": 1, "error": None, "values": {"x": node}}).encode(), None)


def test_oversized_manifest_is_refused_before_parsing():
    with pytest.raises(answers.MalformedAnswer, match="larger"):
        answers.read(b" " * (answers.MAX_MANIFEST_BYTES + 1), None)


ONE_ARRAY = json.dumps({"format": 1, "error": None, "values": {"x": {"kind": "array", "key": "a0"}}}).encode()


@pytest.mark.parametrize("archive", [
    pytest.param(lambda: _npz({"a0.npy": _npy(np.array([object()], dtype=object), allow_pickle=True)}), id="pickle"),
    pytest.param(lambda: _npz({"a0.npy": _npy(np.array(["text"]))}), id="string-dtype"),
    pytest.param(lambda: _npz({"a0.npy": _npy(np.arange(3, dtype=np.int64))}), id="int-dtype"),
    pytest.param(lambda: _npz({"a0.npy": _npy(np.zeros((2,), dtype=[("a", "f8"), ("b", "f8")]))}), id="structured"),
    pytest.param(lambda: _npz({"a0.npy": _npy(np.zeros((1,) * 9))}), id="nine-dimensions"),
    pytest.param(lambda: _npz({"b0.npy": _npy(np.zeros(2))}), id="other-name"),
    pytest.param(lambda: _npz({"a0.npy": _npy(np.zeros(2)), "extra.npy": _npy(np.zeros(2))}), id="extra-member"),
    pytest.param(lambda: _npz({"a0.npy": b"\x93NUMPY garbage"}), id="garbage"),
    pytest.param(lambda: b"not a zip at all", id="not-a-zip"),
    pytest.param(lambda: None, id="missing"),
])
def test_hostile_array_files_are_malformed(archive):
    with pytest.raises(answers.MalformedAnswer):
        answers.read(ONE_ARRAY, archive())


def test_an_npz_holding_one_name_twice_is_malformed():
    """Attack: two members named ``a0.npy`` — which one would the check see?"""
    import warnings

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buffer, "w") as bundle:
            bundle.writestr("a0.npy", _npy(np.zeros(2)))
            bundle.writestr("a0.npy", _npy(np.ones(2)))
    with pytest.raises(answers.MalformedAnswer):
        answers.read(ONE_ARRAY, buffer.getvalue())


def test_zip_bomb_sizes_are_refused_before_decompressing(monkeypatch):
    """Attack: a small archive that unpacks to more than the limit (and a plain one
    over it)."""
    monkeypatch.setattr(answers, "MAX_ARRAYS_BYTES", 2**20)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("a0.npy", _npy(np.zeros(2**18)))  # 2 MB of zeros
    assert len(buffer.getvalue()) < 2**16
    with pytest.raises(answers.MalformedAnswer, match="array sizes"):
        answers.read(ONE_ARRAY, buffer.getvalue())
    with pytest.raises(answers.MalformedAnswer, match="too large"):
        answers.read(ONE_ARRAY, _npz({"a0.npy": _npy(np.zeros(2**18))}))


def test_nan_and_infinite_arrays_fail_the_test_with_a_message():
    manifest, archive = _pack({"x": {"kind": "array", "key": "a0"}}, {"a0": np.array([1.0, np.nan])})
    with pytest.raises(answers.GradingError, match="NaN"):
        answers.read(manifest, archive).array("x")


def test_probe_records_subclasses_and_foreign_objects_as_unsupported_without_calling_them():
    """Attack: answers whose methods would run wherever they are converted."""
    import sympy
    import torch

    calls = []

    class Spy:
        def __array__(self, *args, **kwargs):
            calls.append("__array__")
            return np.zeros(2)

        def __eq__(self, other):
            calls.append("__eq__")
            return True

        def __float__(self):
            calls.append("__float__")
            return 0.0

    class SlyArray(np.ndarray):
        def __array_finalize__(self, obj):
            calls.append("__array_finalize__")

    class SlyTensor(torch.Tensor):
        def __eq__(self, other):
            calls.append("tensor __eq__")
            return True

    class SlySymbol(sympy.Symbol):
        def __eq__(self, other):
            calls.append("sympy __eq__")
            return True

        __hash__ = sympy.Symbol.__hash__

        def _sympyrepr(self, printer):
            calls.append("_sympyrepr")
            return "x"

    class SlyFloat(float):
        def __eq__(self, other):
            calls.append("float __eq__")
            return True

    values = {"spy": Spy(), "array": np.zeros(3).view(SlyArray), "tensor": torch.zeros(3).as_subclass(SlyTensor),
              "symbol": SlySymbol("x"), "float": SlyFloat(1.0), "nested": [1.0, Spy()], "sum": SlySymbol("x") + 1}
    calls.clear()
    manifest, archive = probing.pack(*probing.run_probe(lambda challenge, **objects: dict(objects), {}, values))
    assert calls == []
    answer = answers.read(manifest, archive)
    for name in ("spy", "array", "tensor", "float"):
        with pytest.raises(answers.GradingError, match="should be an array or tensor of numbers, got a value of type"):
            answer.array(name)
    for name in ("symbol", "sum"):
        with pytest.raises(answers.GradingError, match="should be a sympy expression"):
            answer.expression_tree(name)
    with pytest.raises(answers.GradingError):
        answer.arrays_of("nested")


# ----------------------------------------------------------------------------- the checker process
@pytest.fixture(scope="module")
def checker_sheets(tmp_path_factory):
    """A sheet whose checks hang, crash, or pass, for the checker's protocol."""
    folder = tmp_path_factory.mktemp("sheets") / "hostile_toy"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "challenges.py").write_text(
        "import numpy as np\n\ndef test_hangs(rng):\n    return {}\n\ndef test_crashes(rng):\n    return {}\n\n"
        "def test_value(rng):\n    return {'x': rng.normal(size=3)}\n\ntest_missing_files = test_missing_arrays = test_value\n")
    (folder / "checks.py").write_text(
        "from autograder.checking import assert_close\n\n"
        "def test_hangs(challenge, answer):\n    while True:\n        pass\n\n"
        "def test_crashes(challenge, answer):\n    print('noise on stdout')\n    raise KeyError('bug in the grader')\n\n"
        "def test_value(challenge, answer):\n    assert_close(answer.array('y', shape=(3,)), 2 * challenge['x'])\n\n"
        "test_missing_files = test_missing_arrays = test_value\n")
    (folder / "probes.py").write_text("")
    return folder.parent


def _checker(requests: list, timeout=60) -> list:
    process = subprocess.run([sys.executable, "-m", "autograder.engine.checker"], cwd=ROOT, timeout=timeout,
                             input="".join(json.dumps(r) + "\n" if not isinstance(r, str) else r for r in requests),
                             capture_output=True, text=True)
    return [json.loads(line) for line in process.stdout.splitlines()]


def test_checker_cuts_a_hanging_check_and_answers_missing_files(checker_sheets):
    """Attack: answers that make a check run forever, and a request naming tests whose
    files never came back.  Every test still gets a verdict, within the budget."""
    from autograder.engine import challenges

    secret = b"k" * 32
    seed = challenges.seed(secret, "s", "hostile_toy", "test_value")
    x = challenges.draw(_load_challenges(checker_sheets), "test_value", seed)["x"]
    manifest, archive = _pack({"y": {"kind": "array", "key": "a0"}}, {"a0": 2 * x})
    encode = lambda data: base64.b64encode(data).decode()  # noqa: E731
    request = {"sheet": "hostile_toy", "sheets_dir": str(checker_sheets), "student": "s", "secret": secret.hex(),
               "tests": ["test_hangs", "test_crashes", "test_value", "test_missing_files", "test_missing_arrays"],
               "check_timeout": 1,
               "answers": {"test_hangs": {"manifest": encode(manifest), "arrays": encode(archive)},
                           "test_crashes": {"manifest": encode(manifest), "arrays": encode(archive)},
                           "test_missing_arrays": {"manifest": encode(manifest), "arrays": None},
                           "test_value": {"manifest": encode(manifest), "arrays": encode(archive)}}}
    replies = _checker(["this is not json\n", request], timeout=30)
    assert "error" in replies[0]
    verdicts = replies[1]["verdicts"]
    assert verdicts["test_hangs"] == {"passed": False, "message": verdicts["test_hangs"]["message"]}
    assert "could not decide within 1 s" in verdicts["test_hangs"]["message"]
    assert not verdicts["test_crashes"]["passed"] and "error in the grader" in verdicts["test_crashes"]["message"]
    assert verdicts["test_value"]["passed"]
    assert not verdicts["test_missing_files"]["passed"]
    assert "no answer was recorded" in verdicts["test_missing_files"]["message"]
    assert not verdicts["test_missing_arrays"]["passed"] and "malformed" in verdicts["test_missing_arrays"]["message"]


def _load_challenges(sheets_dir):
    from autograder import sheets

    return sheets.load("hostile_toy", sheets_dir).challenges


def test_checker_draws_challenges_itself(checker_sheets):
    """Attack: an answer computed for a challenge the kernel wrote itself.  The checker
    never reads a challenge from the job; another student's seed gives other inputs."""
    from autograder.engine import challenges

    parts = _load_challenges(checker_sheets)
    x_alice = challenges.draw(parts, "test_value", challenges.seed(b"k" * 32, "alice", "hostile_toy", "test_value"))["x"]
    x_bob = challenges.draw(parts, "test_value", challenges.seed(b"k" * 32, "bob", "hostile_toy", "test_value"))["x"]
    assert not np.allclose(x_alice, x_bob)
    manifest, archive = _pack({"y": {"kind": "array", "key": "a0"}}, {"a0": 2 * x_alice})
    encode = lambda data: base64.b64encode(data).decode()  # noqa: E731
    request = {"sheet": "hostile_toy", "sheets_dir": str(checker_sheets), "student": "bob", "secret": (b"k" * 32).hex(),
               "tests": ["test_value"], "check_timeout": 10,
               "answers": {"test_value": {"manifest": encode(manifest), "arrays": encode(archive)}}}
    assert not _checker([request])[0]["verdicts"]["test_value"]["passed"]


# ----------------------------------------------------------------------------- failing closed
def test_worker_runs_nothing_without_a_sandbox(monkeypatch, tmp_path):
    """Attack surface: a worker on a machine without bubblewrap.  The job says so and
    runs nothing (no kernel is started)."""
    monkeypatch.setattr(sandbox, "_ISOLATION", sandbox.Isolation("", "per process (setrlimit)", "no bwrap"))
    monkeypatch.setattr(sandbox, "run", lambda *a, **k: pytest.fail("a notebook ran without a sandbox"))
    source = tmp_path / "source"
    corpus.build_source(corpus.SHEET, source)
    job = Job("alice", corpus.SHEET, (source / "toy" / "toy.ipynb").read_text(), {}, "d" * 64, (b"k" * 32).hex(),
              source_dir=str(source), sheets_dir=str(corpus.SHEETS_DIR))
    result = worker.run_job(job)
    assert result.status == Status.ERROR and "cannot sandbox" in result.detail
    assert result.score == 0


def test_isolation_reports_missing_bubblewrap(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    found = sandbox._probe()
    assert not found.available and ("bubblewrap" in found.detail or "root" in found.detail)


def test_grade_command_refuses_without_a_sandbox(monkeypatch, tmp_path, capsys):
    from autograder import grade

    monkeypatch.setattr(sandbox, "_ISOLATION", sandbox.Isolation("", "per process (setrlimit)", "no bwrap here"))
    monkeypatch.setattr(grade, "grade", lambda *a, **k: pytest.fail("graded without a sandbox"))
    with pytest.raises(SystemExit) as stopped:
        grade.main([str(tmp_path), "--out", str(tmp_path / "out")])
    assert "refusing to grade" in str(stopped.value.code) and "no bwrap here" in str(stopped.value.code)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- the toy sheet itself
def test_toy_checks_accept_the_solution_and_reject_the_corpus_mistakes(monkeypatch):
    """The toy sheet's checks are honest: the corpus' right answers pass, its wrong ones fail."""
    import sympy

    from autograder.engine import local

    monkeypatch.setenv("COURSE_SHEETS_DIR", str(corpus.SHEETS_DIR))
    space = {"np": np, "sympy": sympy}
    for source in corpus.ANSWERS.values():
        if source.startswith(("def", "x =")):
            exec(source, space)
    right = {"test_square_sum": {"square_sum": space["square_sum"]}, "test_normalize": {"normalize": space["normalize"]},
             "test_derivative": {"derivative": space["derivative"]}}
    for test, objects in right.items():
        assert local.judge("toy", test, objects) is None, test
    wrong = {"square_sum": corpus.WRONG_SQUARE_SUM, "normalize": corpus.WRONG_NORMALIZE,
             "derivative": corpus.WRONG_DERIVATIVE}
    for name, source in wrong.items():
        mistaken = {"np": np, "sympy": sympy}
        exec(source, mistaken)
        assert local.judge("toy", f"test_{name}", {name: mistaken[name]}) is not None, name

    def in_place(v):
        v /= np.sqrt((v ** 2).sum())
        return v

    assert "in place" in local.judge("toy", "test_normalize", {"normalize": in_place})
