"""Trusted prelude of a grading kernel: snapshot what the checks rely on, detect tampering.

The grading sandbox (:mod:`autograder.sandbox`) starts every student kernel with
``InteractiveShellApp.exec_lines = ["import autograder.guard; autograder.guard.install()"]``,
so :func:`install` runs before the first student cell.  It

* imports the libraries the hidden tests compare with (NumPy, ``autograder.hidden``, and
  whatever the sheet's own notebook imports: torch, sympy, ...) and records every
  attribute of their modules and classes, and the code object of every Python function;
* registers an IPython input transformer that recognises the graded test cells (by the
  SHA-256 of their source, which nbgrader restores from the gradebook before running
  them).  Before a test cell runs, the guard compares the libraries with the snapshot,
  puts back every replaced attribute and, when something had been replaced, turns the
  cell into ``raise TamperingDetected(...)``: 0 points for that test, with a message
  naming what was replaced.  A call appended to the test cell does the same check once
  the test has run, so a student function that patches NumPy while it is being tested
  also loses the test;
* watches every graded test cell while it runs (:class:`Watch`): a test in which the
  student's code runs the grader's own reference code (``autograder.sheet*``), directly,
  through an alias or a subclass, gets 0 points;
* turns ``os._exit``, ``os.abort`` and ``os.fork`` into errors (a student cell that calls
  them fails instead of ending the kernel for every later test), and logs the hash of
  each cell it starts to a progress file, so that the grading command can tell which
  cell ended the kernel when something else does (a segfault, SIGKILL).

Known limit: this runs inside the student's process.  It stops the cheats of the
course's corpus (monkeypatching comparison functions of numpy, torch, sympy, the
builtins or ``autograder`` itself; background threads started by student code; the
reference code called, aliased or subclassed), but a student who attacks the guard's own
objects through frame or garbage-collector introspection, or who copies the text of the
reference code into the notebook, is out of its reach; that would need checks running in
a separate process, with the reference code out of the kernel's sight.
"""
import builtins
import hashlib
import importlib
import json
import os
import re
import secrets
import sys
import threading
import types
import warnings

#: Modules whose attributes are snapshotted (and every loaded submodule of them).
WATCHED = ("builtins", "math", "cmath", "operator", "functools", "numbers", "numpy", "scipy",
           "sympy", "mpmath", "torch", "autograder", "utils")
#: Loaded before any student cell; the grading command adds the sheet's own imports.
DEFAULT_PRELOAD = ("numpy", "numpy.testing", "numpy.linalg", "autograder.hidden")
_MISSING = object()
#: Values that libraries legitimately rebind while they run (counters, registries, names).
_BOOKKEEPING = (int, str, bytes, set, frozenset, dict, list, tuple, type(None))
#: Builtins that IPython itself replaces while a cell runs (its ``builtin_trap``).
_IPYTHON_BUILTINS = frozenset({"exit", "quit", "get_ipython", "display", "_", "__", "___", "dreload",
                               "input", "raw_input", "getpass"})  # ipykernel swaps these per request


def cell_hash(source: str) -> str:
    """Hash of a cell's source, as the grading command and the kernel both compute it."""
    return hashlib.sha256(source.strip().encode("utf-8", "surrogatepass")).hexdigest()


class TamperingDetected(AssertionError):
    """The student's code replaced something a hidden test relies on."""


class BorrowedGraderCode(AssertionError):
    """The student's code ran the grader's own reference code to compute its answer."""


class KernelEnded(AssertionError):
    """The kernel died while this test ran the student's code; the test was skipped."""


class ForbiddenCall(RuntimeError):
    """The student's code called something the grader disables (os._exit, os.fork)."""


def _watched(name: str) -> bool:
    if name == "importlib":  # import_module is wrapped by the guard (see _watch_imports)
        return True
    return any(name == root or name.startswith(root + ".") for root in WATCHED)


class Snapshot:
    """Identity of every attribute of the watched modules and of the classes they define."""

    def __init__(self):
        self.entries = []  # (owner, key, value, label)
        self.codes = []  # (function, code, defaults, kwdefaults, label)
        self.modules = set()
        self.classes = set()
        self.class_keys = []  # (class, names in its __dict__, label): additions shadow inherited methods

    def add_loaded_modules(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated module attributes warn when touched
            self._add_loaded_modules()

    def _add_loaded_modules(self):
        for name, module in list(sys.modules.items()):
            if isinstance(module, types.ModuleType) and _watched(name) and id(module) not in self.modules:
                self._add_module(name, module)

    def _add_module(self, name, module):
        self.modules.add(id(module))
        try:
            namespace = dict(vars(module))
        except TypeError:  # pragma: no cover - exotic module objects
            return
        for key, value in namespace.items():
            if key.startswith("__") or (name == "builtins" and key in _IPYTHON_BUILTINS) \
                    or isinstance(value, _BOOKKEEPING):
                continue  # module bookkeeping, counters and registries, names IPython swaps in
            self.entries.append((module, key, value, f"{name}.{key}"))
            self._add_value(value, f"{name}.{key}")

    def _add_value(self, value, label):
        function = getattr(value, "__func__", value) if isinstance(value, (staticmethod, classmethod)) else value
        if isinstance(function, types.FunctionType):
            self.codes.append((function, function.__code__, function.__defaults__, function.__kwdefaults__, label))
        elif isinstance(value, type) and id(value) not in self.classes and _watched(getattr(value, "__module__", "") or ""):
            self.classes.add(id(value))
            self.class_keys.append((value, frozenset(vars(value)), label))
            for key, member in dict(vars(value)).items():
                if isinstance(member, _BOOKKEEPING) and not key.startswith("__"):
                    continue
                if key in ("__module__", "__doc__", "__dict__", "__weakref__", "__annotations__", "__qualname__"):
                    continue
                self.entries.append((value, key, member, f"{label}.{key}"))
                member_function = getattr(member, "__func__", member)
                if isinstance(member_function, types.FunctionType):
                    self.codes.append((member_function, member_function.__code__, member_function.__defaults__,
                                       member_function.__kwdefaults__, f"{label}.{key}"))

    def verify_and_restore(self) -> list:
        """Names of everything replaced since the snapshot; the originals are put back."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._verify_and_restore()

    def _verify_and_restore(self) -> list:
        changed = []
        for owner, key, value, label in self.entries:
            current = vars(owner).get(key, _MISSING)
            if current is not value:
                changed.append(label)
                try:
                    setattr(owner, key, value)
                except (TypeError, AttributeError):  # pragma: no cover - read-only owners
                    pass
        for cls, keys, label in self.class_keys:
            for key in set(vars(cls)) - keys:
                member = vars(cls)[key]
                if isinstance(member, _BOOKKEEPING) or not (callable(member) or hasattr(member, "__get__")):
                    continue
                if _library_function(member):
                    continue  # libraries add methods to their own classes lazily (torch does)
                changed.append(f"{label}.{key}")
                try:
                    delattr(cls, key)
                except (TypeError, AttributeError):  # pragma: no cover
                    pass
        for function, code, defaults, kwdefaults, label in self.codes:
            if function.__code__ is not code or function.__defaults__ is not defaults \
                    or function.__kwdefaults__ is not kwdefaults:
                changed.append(label + " (code)")
                function.__code__, function.__defaults__, function.__kwdefaults__ = code, defaults, kwdefaults
        return sorted(set(changed))


class Watch:
    """Notices the student's code running the grader's reference code during a test cell.

    The hidden tests import ``autograder.sheet*`` into the student's kernel, so its
    reference implementations could be called by a student's function to produce the
    answer it is compared with.  While a test cell runs, a profile hook
    (``sys.setprofile``, and ``threading.setprofile`` for threads started meanwhile)
    sees every Python call.  A call into a function or method of those modules is
    *borrowed* when the nearest caller outside the libraries is the student's code (a
    function defined in a notebook cell, or text run by ``exec``); calls made by the
    grader itself and by the test cell's own statements are not.  Classes marked with
    :func:`autograder.hidden.handed_to_students` are fixtures the student's code is meant
    to call.  Switching the hook off from the student's code counts as borrowing, and so
    does an answer that *is* grader code: a name the test cell uses, bound in the notebook
    to a reference function, or to a class that inherits from a reference class.
    """

    def __init__(self):
        self.codes = {}  # code object -> qualified name, for the answer modules loaded so far
        self.classes = {}  # reference class -> qualified name
        self.modules = set()
        self.origins = {}  # file name -> "grader", "library" or "student"
        self.borrowed = set()
        self.running = False

    def scan_modules(self):
        for name, module in list(sys.modules.items()):
            if not name.startswith(_ANSWER_MODULES) or id(module) in self.modules:
                continue
            self.modules.add(id(module))
            for key, value in list(vars(module).items()):
                if getattr(value, "__module__", None) != name:
                    continue  # imported from elsewhere
                if isinstance(value, types.FunctionType):
                    self.codes[value.__code__] = f"{name}.{key}"
                elif isinstance(value, type) and not getattr(value, "_handed_to_students", False):
                    self.classes[value] = f"{name}.{key}"
                    for member_name, member in vars(value).items():
                        for function in (getattr(member, "__func__", member), getattr(member, "fget", None)):
                            if isinstance(function, types.FunctionType):
                                self.codes[function.__code__] = f"{name}.{key}.{member_name}"

    def start(self):
        self.scan_modules()
        if not self.running:
            self.running = True
            sys.setprofile(self._profile)
            threading.setprofile(self._profile)

    def stop(self) -> list:
        """Stop watching; what the student's code borrowed since :meth:`start`."""
        if self.running:
            self.running = False
            threading.setprofile(None)
            sys.setprofile(None)
        borrowed, self.borrowed = sorted(self.borrowed), set()
        return borrowed

    def _profile(self, frame, event, arg):
        if event == "call":
            name = self.codes.get(frame.f_code)
            if name is not None and self._called_by_student(frame.f_back):
                self.borrowed.add(name)
            elif frame.f_code is _THREADING_SETPROFILE and self._called_by_student(frame.f_back):
                self.borrowed.add("threading.setprofile (the grader's watch)")
        elif event == "c_call" and arg is _SYS_SETPROFILE and self._called_by_student(frame):
            self.borrowed.add("sys.setprofile (the grader's watch)")

    def _origin(self, filename: str) -> str:
        origin = self.origins.get(filename)
        if origin is None:
            real = os.path.realpath(filename)
            if filename.startswith("<frozen "):  # the interpreter's own modules (runpy, importlib)
                origin = "library"
            elif filename.startswith("<") or _NOTEBOOK_CELL.search(real):
                origin = "student"
            elif real.startswith(_GRADER_ROOT):
                origin = "grader"
            elif real.startswith(_LIBRARY_ROOTS):
                origin = "library"
            else:  # a module the student wrote
                origin = "student"
            self.origins[filename] = origin
        return origin

    def _called_by_student(self, frame) -> bool:
        """Whether the nearest non-library frame from ``frame`` down is the student's code."""
        while frame is not None:
            origin = self._origin(frame.f_code.co_filename)
            if origin == "grader":
                return False
            if origin == "student":
                return not self._test_cell_statement(frame)
            frame = frame.f_back
        return False

    def _test_cell_statement(self, frame) -> bool:
        """A statement of the test cell itself: top-level cell code run by IPython in the
        main thread, with no function of the student's or the grader's below it (only
        library frames and top-level code, such as the script that started the kernel)."""
        if frame.f_code.co_name != "<module>" or threading.current_thread() is not threading.main_thread():
            return False
        below = frame.f_back
        while below is not None:
            if below.f_code.co_name != "<module>" and self._origin(below.f_code.co_filename) != "library":
                return False
            below = below.f_back
        return True

    def aliases(self, namespace: dict, source: str) -> list:
        """Names used by the test cell ``source`` whose value in the notebook is reference
        code: an alias, a partial, a subclass, a class holding a reference method."""
        found = []
        for key in sorted(set(re.findall(r"[A-Za-z_]\w*", source)) & set(namespace)):
            name = self._reference_name(namespace[key])
            if name is not None:
                found.append(f"{key} (is {name})")
        return found

    def _reference_name(self, value) -> str | None:
        """The reference code ``value`` is, wraps (a method, a partial) or inherits from."""
        if isinstance(value, types.ModuleType):  # the test cell's own ``_grader``
            return None
        for candidate in (value, getattr(value, "__func__", None), getattr(value, "func", None)):
            code = getattr(candidate, "__code__", None)
            if isinstance(code, types.CodeType) and code in self.codes:
                return self.codes[code]
        if not isinstance(value, type):
            return None
        for base in value.__mro__:
            if base in self.classes:
                return self.classes[base]
        for member in list(vars(value).values()):
            code = getattr(getattr(member, "__func__", member), "__code__", None)
            if isinstance(code, types.CodeType) and code in self.codes:
                return self.codes[code]
        return None


class Guard:
    """State of the guard inside one kernel; see the module docstring."""

    def __init__(self, config: dict):
        self.test_cells = dict(config.get("test_cells", {}))  # hash -> grade_id
        self.dead_cells = set(config.get("dead_cells", ()))
        self.progress = config.get("progress")
        self.report = config.get("report")
        self.snapshot = Snapshot()
        self.threads = set()
        self.hook = None
        self.cached = None  # (source, transformed lines) of the cell about to run
        self.current_test = None  # grade_id of the test cell running now
        self.watch = Watch()

    # -- progress log, read by the grading command after a dead kernel ----------------
    def log(self, event: str, digest: str):
        if not self.progress:
            return
        try:
            with open(self.progress, "a", encoding="ascii") as stream:
                stream.write(f"{event} {digest}\n")
        except OSError:
            pass

    def record(self, grade_id: str, problems: list):
        if not self.report:
            return
        try:
            with open(self.report, "a", encoding="utf-8") as stream:
                stream.write(json.dumps({"grade_id": grade_id, "tampered": problems}) + "\n")
        except OSError:
            pass

    # -- checks --------------------------------------------------------------------------
    def problems(self) -> list:
        found = self.snapshot.verify_and_restore()
        if self.hook is not None:
            shell = self.hook[0]
            if self.hook[1] not in shell.input_transformers_post:
                shell.input_transformers_post.append(self.hook[1])
                found.append("the grader's input transformer (removed)")
        for thread in threading.enumerate():
            if thread.ident in self.threads or not thread.is_alive():
                continue
            target = getattr(thread, "_target", None) or type(thread).run
            code = getattr(getattr(target, "__func__", target), "__code__", None)
            if code is not None and _is_student_file(code.co_filename):
                found.append(f"a background thread started by your code ({thread.name})")
        self.snapshot.add_loaded_modules()  # libraries first imported by the student
        return found

    def transform(self, lines):
        # IPython transforms a cell twice (ipykernel, then run_cell); both must agree,
        # or the first call's restoration would hide the tampering from the second.
        source = "".join(lines)
        if self.cached is not None and self.cached[0] == source:
            return list(self.cached[1])
        transformed = self._transform(lines, source)
        self.cached = (source, list(transformed))
        return transformed

    def _transform(self, lines, source):
        digest = cell_hash(source)
        grade_id = self.test_cells.get(digest)
        if grade_id is None:
            return lines
        shell = self.hook[0]
        if digest in self.dead_cells:
            name = self._inject(KernelEnded(
                "the grading kernel ended while this test ran your code (os._exit, a crash or the memory "
                "limit); the test was skipped and gets 0 points"))
            return [f"raise {name}\n"]
        found = self.problems()
        if found:
            self.record(grade_id, found)
            name = self._inject(TamperingDetected(_message(found)))
            return [f"raise {name}\n"]
        self.watch.scan_modules()
        aliases = self.watch.aliases(shell.user_ns, source)
        if aliases:
            self.record(grade_id, aliases)
            name = self._inject(BorrowedGraderCode(_borrowed_message(aliases)))
            return [f"raise {name}\n"]
        self.current_test = grade_id
        self.watch.start()
        after = "_guard_after_" + secrets.token_hex(8)
        shell.user_ns[after] = lambda: self.after_test(grade_id, after)
        return list(lines) + ["\n", f"{after}()\n"]

    def after_test(self, grade_id: str, name: str):
        borrowed = self.watch.stop()
        self.hook[0].user_ns.pop(name, None)
        found = self.problems()
        if found:
            self.record(grade_id, found + borrowed)
            raise TamperingDetected(_message(found))
        if borrowed:
            self.record(grade_id, borrowed)
            raise BorrowedGraderCode(_borrowed_message(borrowed))

    def after_cell(self, result=None):
        """After every test cell, failed ones included (their appended check did not run):
        restore and report, so the tampering costs this test and not the next one."""
        borrowed = self.watch.stop()
        grade_id, self.current_test = self.current_test, None
        if grade_id is None:
            return
        found = self.problems() + borrowed
        if found:
            self.record(grade_id, found)

    def _inject(self, exception) -> str:
        name = "_guard_error_" + secrets.token_hex(8)
        self.hook[0].user_ns[name] = exception
        return name


def _listed(names: list, most: int) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _message(found: list) -> str:
    return ("your code replaced functions the grader relies on (" + _listed(found, 8) + "); this test gets "
            "0 points. The originals have been restored for the tests that follow.")


def _borrowed_message(borrowed: list) -> str:
    return ("your code ran the grader's own reference code (" + _listed(borrowed, 4) + ") instead of "
            "computing the answer itself; this test gets 0 points.")


def _library_roots():
    import sysconfig

    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib")}
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    roots.update({os.path.join(here, "autograder"), os.path.join(here, "utils")})
    return tuple(os.path.realpath(root) + os.sep for root in roots)


_LIBRARY_ROOTS = _library_roots()
_GRADER_ROOT = os.path.realpath(os.path.dirname(os.path.abspath(__file__))) + os.sep
#: Modules whose functions and classes compute the answers of the hidden tests.
_ANSWER_MODULES = ("autograder.sheet",)
#: Where ipykernel stores the code of notebook cells (tempdir/ipykernel_<pid>/<hash>.py).
_NOTEBOOK_CELL = re.compile(r"[/\\]ipykernel_\d+[/\\]")
_SYS_SETPROFILE = sys.setprofile
_THREADING_SETPROFILE = threading.setprofile.__code__


def _library_function(member) -> bool:
    """True for a Python function defined in an installed library or in autograder/utils."""
    for candidate in (member, getattr(member, "__func__", None), getattr(member, "fget", None),
                      getattr(member, "func", None)):
        code = getattr(candidate, "__code__", None)
        if isinstance(code, types.CodeType):
            return os.path.realpath(code.co_filename).startswith(_LIBRARY_ROOTS)
    return False


def _is_student_file(filename: str) -> bool:
    """True for code compiled from notebook cells or exec'd strings."""
    return filename.startswith("<") or "ipykernel_" in filename or "/tmp/ipykernel" in filename


def _forbidden(name):
    def disabled(*args, **kwargs):
        raise ForbiddenCall(f"{name} is disabled while the notebook is graded")
    disabled.__name__ = name.rsplit(".", 1)[-1]
    return disabled


def _disable_process_control():
    import posix

    for module in (os, posix):
        for name in ("_exit", "abort", "fork", "forkpty"):
            if hasattr(module, name):
                setattr(module, name, _forbidden(f"os.{name}"))


def _watch_imports(snapshot: Snapshot, watch: Watch):
    """Snapshot a library the moment the student's ``import`` of it completes, so that a
    patch in the same cell is caught.  The wrappers are part of the snapshot: putting the
    original ``__import__`` back counts as tampering."""
    original_import = builtins.__import__
    original_import_module = importlib.import_module
    state = {"depth": 0, "modules": len(sys.modules)}

    def after():
        if state["depth"] == 0 and len(sys.modules) != state["modules"]:
            state["modules"] = len(sys.modules)
            snapshot.add_loaded_modules()
            watch.scan_modules()

    def guarded_import(*args, **kwargs):
        state["depth"] += 1
        try:
            return original_import(*args, **kwargs)
        finally:
            state["depth"] -= 1
            after()

    def guarded_import_module(*args, **kwargs):
        state["depth"] += 1
        try:
            return original_import_module(*args, **kwargs)
        finally:
            state["depth"] -= 1
            after()

    builtins.__import__ = guarded_import
    importlib.import_module = guarded_import_module


def install(config_path: str | None = None):
    """Run by the kernel before any student cell (see the module docstring)."""
    config_path = config_path or os.environ.get("AUTOGRADER_GUARD", "")
    config = {}
    if config_path and os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as stream:
            config = json.load(stream)
    for name in list(DEFAULT_PRELOAD) + list(config.get("preload", [])):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional library must not stop grading
            pass
    _disable_process_control()
    guard = Guard(config)
    _watch_imports(guard.snapshot, guard.watch)
    guard.threads = {thread.ident for thread in threading.enumerate()}
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        transformer = guard.transform
        shell.input_transformers_post.append(transformer)
        guard.hook = (shell, transformer)

        def before(info):
            guard.cached = None
            guard.log("start", cell_hash(getattr(info, "raw_cell", "") or ""))

        shell.events.register("pre_run_cell", before)
        shell.events.register("post_run_cell", guard.after_cell)
    guard.snapshot.add_loaded_modules()
    builtins.__dict__.pop("_autograder_guard", None)
    return guard
