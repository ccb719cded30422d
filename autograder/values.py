"""Hand the notebook's variables to the grader as plain data (kernel side of the trusted verdict).

Loaded in graded kernels as ``_autograder_values``. It only turns the notebook's variables into plain data — JSON with numbers, strings, lists, and
arrays as base64 bytes of a fixed dtype — and calls a notebook function on inputs the grader sends.
It decides nothing: the grader (``verdict.py``, outside this process) checks what comes back, so
whatever student code does to this module only changes the values it hands over, never how they
are judged. Images travel as their size and the SHA-256 of their RGB pixels.
"""
import base64
import contextlib
import hashlib
import io
import json
import math
import os
import warnings

LIMIT = 32 * 2 ** 20          # bytes of JSON handed over per request
MAX_ITEMS = 100_000           # elements of one list
MAX_DEPTH = 4                 # nesting of lists
_DTYPES = {"float16": "<f4", "float32": "<f4", "float64": "<f8", "int8": "<i8", "int16": "<i8", "int32": "<i8",
           "int64": "<i8", "uint8": "<i8", "bool": "|b1"}


def _namespace():
    from IPython import get_ipython

    return get_ipython().user_ns


def _number(value):
    value = float(value) if not isinstance(value, (bool, int)) else value
    if isinstance(value, float) and not math.isfinite(value):
        return {"t": "float", "v": repr(value)}
    return {"t": "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "float", "v": value}


def _array(value, kind):
    import numpy as np

    arr = np.asarray(value)
    dtype = _DTYPES.get(str(arr.dtype))
    if dtype is None:
        return {"t": "other", "type": f"{kind} of {arr.dtype}"}
    if arr.size * 8 > LIMIT:
        return {"t": "too large", "type": kind, "shape": list(arr.shape)}
    data = np.ascontiguousarray(arr.astype(dtype))
    return {"t": "array", "kind": kind, "dtype": dtype, "shape": list(arr.shape),
            "b64": base64.b64encode(data.tobytes()).decode("ascii")}


def encode(value, depth=0):
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    if value is None:
        return {"t": "none"}
    if kind in (bool, int, float):
        return _number(value)
    # The library types the course's checks take (clipcourse.grading: a numpy str from indexing an array of
    # names, os.scandir's entries, np.matrix, a bfloat16 tensor) come over as the plain value they stand for.
    if kind is str or module == "numpy" and kind.__name__ == "str_":
        return {"t": "str", "v": str(value)}
    if module == "numpy" and kind.__name__ in _DTYPES or module == "numpy" and kind.__name__.startswith(("float", "int")):
        return _number(value.item())
    if module.startswith("pathlib") and isinstance(value, os.PathLike) or kind is os.DirEntry:
        return {"t": "path", "v": os.fspath(value)}
    if module == "torch" and kind.__name__ in ("Tensor", "Parameter"):
        tensor = value.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            tensor = tensor.float()
        return _array(tensor.numpy(), "tensor")
    if module == "numpy" and kind.__name__ in ("ndarray", "matrix"):
        return _array(value, "ndarray")
    if kind in (list, tuple):
        if depth >= MAX_DEPTH or len(value) > MAX_ITEMS:
            return {"t": "too large", "type": kind.__name__, "len": len(value)}
        return {"t": kind.__name__, "items": [encode(item, depth + 1) for item in value]}
    if module.startswith("PIL.") and hasattr(value, "convert") and hasattr(value, "size"):
        rgb = value.convert("RGB")
        return {"t": "image", "size": list(rgb.size), "sha256": hashlib.sha256(rgb.tobytes()).hexdigest()}
    if callable(value) and not isinstance(value, type):  # def, lambda, a decorated function, partial, an object
        return {"t": "function", "name": getattr(value, "__name__", "")}
    return {"t": "other", "type": getattr(kind, "__name__", "object")}


def _reply(data):
    text = json.dumps(data, separators=(",", ":"))
    if len(text) > LIMIT:
        return json.dumps({"t": "too large", "bytes": len(text)})
    return text


def dump(names):
    """JSON text: {name: encoded value} for the notebook's variables ``names``."""
    namespace = _namespace()
    out = {}
    for name in names:
        if name not in namespace:
            out[name] = {"t": "missing"}
            continue
        try:
            out[name] = encode(namespace[name])
            if out[name]["t"] == "function":
                out[name]["name"] = name  # called back through this variable, whatever its __name__
        except Exception as error:
            out[name] = {"t": "unreadable", "why": f"{type(error).__name__}: {error}"[:300]}
    return _reply(out)


def _decode(item):
    import numpy as np

    if item["t"] == "array":
        arr = np.frombuffer(base64.b64decode(item["b64"]), dtype=item["dtype"]).reshape(item["shape"]).copy()
        if item.get("kind") == "tensor":
            import torch

            return torch.from_numpy(arr.astype(np.float32) if arr.dtype.kind == "f" else arr)
        return arr
    if item["t"] in ("list", "tuple"):
        items = [_decode(i) for i in item["items"]]
        return items if item["t"] == "list" else tuple(items)
    return item.get("v")


def call(name, payload):
    """JSON text: the notebook function ``name`` called on the grader's inputs (``payload``: encoded args)."""
    namespace = _namespace()
    function = namespace.get(name)
    if not callable(function) or isinstance(function, type):
        return _reply({"raised": f"TypeError: {name} is not a function"})
    args = [_decode(item) for item in json.loads(payload)]
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            result = function(*args)
        return _reply({"ok": encode(result)})
    except Exception as error:
        return _reply({"raised": f"{type(error).__name__}: {error}"[:500]})

