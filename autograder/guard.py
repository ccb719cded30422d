"""Undo and report a notebook's monkeypatching before each test cell (IPython extension, in every graded kernel).

Loaded before the student's code, it keeps references to what the tests rely on (builtins, the modules loaded at
start and their private modules, ``torch.Tensor``'s methods, ``sys`` hooks, IPython's execution machinery, names
the instructor's cells bound) and puts back what the student's code replaced, reporting each repair
(autograder/README.md, *The guard*, lists it all). The grader calls ``check(nonce, mode)`` through an execute
request's ``user_expressions``; the reply must echo the nonce, so a kernel whose execution machinery no longer runs
this code is noticed. Defence in depth against the usual tricks, not a proof: code written to defeat this very
module, in the same process, can do so.
"""
import json
import sys
import types

WATCHED_PACKAGES = ("numpy", "torch", "math", "cmath", "operator", "functools", "io", "contextlib",
                    "re", "json", "PIL", "transformers")
PRELOAD = ("numpy", "torch")
WATCHED_SYS_HOOKS = ("displayhook", "excepthook", "breakpointhook", "stdout", "stderr")
_IPYTHON_CLASS_PREFIXES = ("IPython.", "ipykernel.")
MAX_FINDINGS = 30

# captured before any student code runs
_id, _isinstance, _getattr, _setattr, _delattr = id, isinstance, getattr, setattr, delattr
_vars, _list, _dict, _type, _callable, _len, _str = vars, list, dict, type, callable, len, str
_sorted, _repr, _hasattr = sorted, repr, hasattr
_state = {}


def _trusted_prefixes():
    """Code from these folders is the libraries' and the course's (the grader passes its read-only paths)."""
    import os

    given = os.environ.pop("AUTOGRADER_TRUSTED", "")
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, __file__.rsplit("/", 1)[0]}
    paths.update(p for p in given.split(os.pathsep) if p)
    return tuple(p.rstrip("/") + "/" for p in paths)


def _user_defined(obj):
    """True for a callable written in the notebook (not in an installed library)."""
    func = _getattr(obj, "__func__", obj)
    code = _getattr(func, "__code__", None)
    if code is None:
        return False
    return not code.co_filename.startswith(_state["trusted"])


def _interesting(value):
    return _isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.ModuleType, type,
                               types.MethodType)) or _callable(value)


def _snapshot_modules(wanted=None, trusted_only=False):
    """Function, class and module attributes of the watched packages' modules (and, after an instructor
    cell, of any module it imported from the trusted folders, such as the course's grading helpers)."""
    wanted = {} if wanted is None else wanted
    for name, module in _list(sys.modules.items()):
        if module is None or name in wanted:
            continue
        if name.split(".")[0] not in WATCHED_PACKAGES:
            where = _getattr(module, "__file__", None) or ""
            if not trusted_only or not where.startswith(_state["trusted"]):
                continue
        try:
            attrs = {k: v for k, v in _vars(module).items() if _interesting(v)}
        except TypeError:
            continue
        wanted[name] = (module, attrs)
    return wanted


def _ipython_classes(obj):
    return [k for k in _type(obj).__mro__ if k.__module__.startswith(_IPYTHON_CLASS_PREFIXES)]


def install(shell):
    """Take the snapshot; called once at kernel start, before any notebook cell."""
    import builtins
    import os

    for name in os.environ.pop("AUTOGRADER_PRELOAD", ",".join(PRELOAD)).split(","):  # known untouched
        if not name:
            continue
        try:
            __import__(name)
        except Exception:
            pass
    _state.update(
        trusted=_trusted_prefixes(),
        builtins=_dict(_vars(builtins)),
        ipython_builtins=set(_getattr(shell.builtin_trap, "auto_builtins", {})) | {"__IPYTHON__", "display"},
        modules={},
        sys_hooks={name: _getattr(sys, name) for name in WATCHED_SYS_HOOKS},
        shell=shell,
        transformers={name: _list(_getattr(shell, name)) for name in
                      ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")},
        classes=[],
        protected={},
    )
    _snapshot_modules(_state["modules"])
    watched_classes = _ipython_classes(shell) + _ipython_classes(shell.kernel) + \
        _ipython_classes(shell.displayhook) + _ipython_classes(shell.display_formatter)
    for formatter in shell.display_formatter.formatters.values():
        watched_classes += _ipython_classes(formatter)
    torch = sys.modules.get("torch")
    if torch is not None:
        watched_classes.append(torch.Tensor)
        watched_classes.append(torch.nn.Module)
    seen = set()
    for klass in watched_classes:
        if _id(klass) not in seen:
            seen.add(_id(klass))
            _state["classes"].append((klass, _dict(klass.__dict__)))
    _state["handlers"] = _dict(_getattr(shell.kernel, "shell_handlers", {}))


def load_ipython_extension(shell):
    install(shell)


def _restore_builtins(found):
    import builtins

    current = _vars(builtins)
    ipython_managed = _state["ipython_builtins"]  # exit, quit, get_ipython: IPython swaps them per cell
    for key, value in _state["builtins"].items():
        if key in ipython_managed:
            continue
        if current.get(key, _state) is not value:
            current[key] = value
            found.append(f"builtins.{key} was replaced")
    for key in _list(current):
        if key not in _state["builtins"] and key not in ipython_managed:
            del current[key]
            found.append(f"builtins.{key} was added")


def _package_dir(package):
    module = sys.modules.get(package)
    where = _getattr(module, "__file__", None) or ""
    return where.rsplit("/", 1)[0] + "/" if where.endswith("__init__.py") else where


def _made_by(value, package):
    """True when ``value`` comes from the library ``package`` itself (torch swapping in its own wrapper for
    torch.manual_seed, transformers putting its lazy module in sys.modules): not the student's doing."""
    if _isinstance(value, types.ModuleType):
        return value.__name__.split(".")[0] == package
    func = _getattr(value, "__func__", value)
    code = _getattr(func, "__code__", None)
    if code is not None:
        home = _package_dir(package)
        return bool(home) and code.co_filename.startswith(home)
    owner = _getattr(value, "__module__", None) if _isinstance(value, (types.BuiltinFunctionType, type)) \
        else _type(value).__module__
    return _isinstance(owner, _str) and owner.split(".")[0] == package


def _accept_or_restore(found, where, key, namespace, attrs, package, setter):
    """One watched attribute: keep a library's own update, put back anything else."""
    now = namespace.get(key, _state)
    if now is attrs[key]:
        return
    if now is not _state and package in WATCHED_PACKAGES and _made_by(now, package):
        attrs[key] = now
        return
    setter(key, attrs[key])
    found.append(f"{where}.{key} was {'deleted' if now is _state else 'replaced'}")


def _restore_modules(found):
    for name, (module, attrs) in _list(_state["modules"].items()):
        package = name.split(".")[0]
        now = sys.modules.get(name)
        if now is not module:
            if package in WATCHED_PACKAGES and _isinstance(now, types.ModuleType) and _made_by(now, package):
                _state["modules"][name] = (now, {k: v for k, v in _vars(now).items() if _interesting(v)})
                continue
            sys.modules[name] = module
            found.append(f"sys.modules[{name!r}] was replaced")
        namespace = _vars(module)
        for key in _list(attrs):
            _accept_or_restore(found, name, key, namespace, attrs, package,
                               lambda k, v, ns=namespace: ns.__setitem__(k, v))


def _restore_classes(found):
    for klass, attrs in _state["classes"]:
        package = klass.__module__.split(".")[0]
        where = f"{klass.__module__}.{klass.__qualname__}"
        for key in _list(attrs):
            try:
                _accept_or_restore(found, where, key, klass.__dict__, attrs, package,
                                   lambda k, v, c=klass: _setattr(c, k, v))
            except (TypeError, AttributeError):
                pass
        for key in _list(klass.__dict__):
            if key not in attrs and _user_defined(klass.__dict__[key]):
                _delattr(klass, key)
                found.append(f"{where}.{key} was added")


def _restore_sys(found):
    for name, value in _state["sys_hooks"].items():
        if _getattr(sys, name) is not value:
            _setattr(sys, name, value)
            found.append(f"sys.{name} was replaced")
    import threading

    if sys.gettrace() is not None:
        sys.settrace(None)
        found.append("sys.settrace was set")
    if sys.getprofile() is not None:
        sys.setprofile(None)
        found.append("sys.setprofile was set")
    threading.settrace(None)
    threading.setprofile(None)


def _restore_shell(found):
    shell = _state["shell"]
    for name, original in _state["transformers"].items():
        current = _getattr(shell, name)
        if current != original:
            current[:] = original
            found.append(f"IPython {name} were changed")
    if shell.custom_exceptions:
        shell.set_custom_exc((), None)
        found.append("a custom exception handler was set")
    for event, callbacks in shell.events.callbacks.items():
        for callback in _list(callbacks):
            if _user_defined(callback):
                callbacks.remove(callback)
                found.append(f"an IPython {event!r} callback was registered")
    for formatter in shell.display_formatter.formatters.values():
        for table in ("type_printers", "deferred_printers", "singleton_printers"):
            printers = _getattr(formatter, table, None) or {}
            for key in _list(printers):
                if _user_defined(printers[key]):
                    del printers[key]
                    found.append("a display printer was registered")
    for obj in (shell, shell.kernel, shell.displayhook, shell.display_formatter):
        for key in _list(_vars(obj)):
            if _user_defined(_vars(obj)[key]):
                _delattr(obj, key)
                found.append(f"{_type(obj).__name__}.{key} was replaced")
    handlers = _getattr(shell.kernel, "shell_handlers", None)
    if handlers is not None:
        for key, value in _state["handlers"].items():
            if handlers.get(key) is not value:
                handlers[key] = value
                found.append(f"kernel handler {key!r} was replaced")


def _protect_names(found, mode):
    """Modules, functions and classes bound by the instructor's cells keep their values for the tests.

    ``before`` an instructor cell remembers what every name is bound to; ``after`` it, the names the
    cell (re)bound to a module, function or class become protected.
    """
    namespace = _state["shell"].user_ns
    import builtins

    if namespace.get("__builtins__") is not builtins:
        namespace["__builtins__"] = builtins
        found.append("__builtins__ was replaced")
    protected = _state["protected"]
    if mode == "after":
        before = _state.get("bindings", {})
        for key, value in _list(namespace.items()):
            if key.startswith("_") or before.get(key, _state) is value:
                continue
            if _isinstance(value, (types.ModuleType, types.FunctionType, type)):
                protected[key] = value
        return
    for key, value in protected.items():
        if namespace.get(key, _state) is not value:
            namespace[key] = value
            found.append(f"the name {key!r} (set by the instructor's cells) was rebound")
    _state["bindings"] = {key: value for key, value in namespace.items() if not key.startswith("_")}


def check(nonce, mode="before"):
    """Repair and report; ``mode`` is ``before`` or ``after`` an instructor (locked or test) cell."""
    found = []
    if mode == "after":  # right after the instructor's code: remember what it bound and imported
        _protect_names(found, mode)
        _snapshot_modules(_state["modules"], trusted_only=True)
        return json.dumps({"nonce": nonce, "findings": [], "more": 0, "threads": 0})
    _restore_builtins(found)  # first: the rest of this function uses builtins
    _restore_sys(found)
    _restore_modules(found)
    _restore_classes(found)
    _restore_shell(found)
    _protect_names(found, mode)
    import threading

    extra = sum(1 for t in threading.enumerate() if _user_defined(_getattr(t, "_target", None) or t.run))
    unique = _sorted(set(found))
    return json.dumps({"nonce": nonce, "findings": unique[:MAX_FINDINGS], "more": _len(unique) - MAX_FINDINGS
                       if _len(unique) > MAX_FINDINGS else 0, "threads": extra})
