"""The trusted verdict: test cells scored in the grader's process, on plain data the kernel hands over.

A test cell whose hidden-test region is calls of the course's checks on notebook variables or literals, such as
``grading.check_quiz4(image_embeddings, image_filenames)`` (``grading`` bound by an instructor cell), is decided
here: the kernel runs only the cell's visible part (the hidden code is never sent to it); the grader asks it for the
named variables as plain data (``values.py``), decodes them strictly (``Decoder``: nothing unpickled or evaluated,
every size checked before anything is allocated) and runs the checks in this process, after the course's own set-up
call, so references come from trusted code; a function argument (quizzes 6 and 8) becomes a stand-in that has the
kernel call the student's function on the check's inputs. Missing or malformed values fail the test with the reason;
the verdict goes into the cell's output, so nbgrader records it. Any other hidden-test code runs in the kernel, as in
nbgrader; the CSV's ``decided_by`` says which (autograder/README.md, *Who decides a grade*).
"""
import ast
import base64
import hashlib
import importlib
import json
import math
import os
import pathlib
import re
import textwrap
import threading

import numpy as np

from nbgrader.utils import is_grade, is_locked, is_solution

from .edition import in_language, language_of
from .feedback import split_hidden, visible

MAX_REPLY = 48 * 2 ** 20      # characters of one reply from the kernel (values.LIMIT plus quoting)
MAX_ELEMENTS = 20_000_000     # elements of one array
# Nothing is allocated for a size or count the kernel claims before it is checked against these (the
# kernel is untrusted: a 150-byte reply once claimed a 20000 x 20000 picture). Honest replies are far
# below: quiz 3 hands over the 200 gallery pictures (at most 256 x 256) and 200 file names.
MAX_ITEMS = 100_000           # items of one list or tuple (values.MAX_ITEMS: an honest kernel sends no more)
MAX_NODES = 500_000           # values in one reply, all lists together
MAX_IMAGES = 1_000            # images in one reply
MAX_IMAGE_PIXELS = 4096 * 4096  # one image's claimed width x height
MAX_NEW_PIXELS = 64 * 2 ** 20   # pixels of the distinct images the grader builds or loads for one reply
_DTYPES = {"<f4", "<f8", "<i8", "|b1"}


class VerdictUnavailable(RuntimeError):
    """The trusted side itself cannot judge (references missing, course code broken): a grading error."""


class Malformed(ValueError):
    """The kernel's answer is not the plain data expected: the test fails with this reason."""


# ---- reading the source notebook -----------------------------------------------------------------
def _meta(cell):
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def grade_id(cell):
    """The cell's nbgrader grade id, or None."""
    return _meta(cell).get("grade_id")


def is_test_cell(cell):
    """A graded test cell (nbgrader's grade cell that is not an answer)."""
    return cell.cell_type == "code" and bool(is_grade(cell)) and not is_solution(cell)


def is_instructor_cell(cell):
    """A code cell the student may not change: a test or a read-only cell (nbgrader's ``is_locked``)."""
    return cell.cell_type == "code" and bool(is_locked(cell))


def _is_locked(cell):
    return is_instructor_cell(cell) and not is_grade(cell)


def parse_code(source):
    """The cell's syntax tree, its IPython magics and shell lines (``%``, ``!``) left out; None when it is not Python."""
    try:
        return ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return None


def aliases(nb):
    """{name: module or 'module:attribute'} bound by ``import``/``from … import`` in instructor cells."""
    found = {}
    for cell in nb.cells:
        if not (_is_locked(cell) or is_test_cell(cell)):
            continue
        tree = parse_code(visible(cell.source))
        for node in ast.walk(tree) if tree else []:
            if isinstance(node, ast.Import):
                for a in node.names:
                    found[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    found[a.asname or a.name] = f"{node.module}:{a.name}"
    return found


def _call(node, names):
    """``alias.function(name or literal, …)`` → (alias target, function, args), else None."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return None
    call = node.value
    if call.keywords or not isinstance(call.func, ast.Attribute) or not isinstance(call.func.value, ast.Name):
        return None
    if call.func.value.id not in names:
        return None
    args = []
    for arg in call.args:
        if isinstance(arg, ast.Name):
            args.append(("name", arg.id))
        else:
            try:
                args.append(("value", ast.literal_eval(arg)))
            except ValueError:
                return None
    return names[call.func.value.id], call.func.attr, args


def plan(source, names):
    """The trusted calls of a test cell's hidden region, or None when it must run in the kernel."""
    _, hidden = split_hidden(source)
    if not any(line.strip() for line in hidden):
        return None
    lines = [line for line in hidden if line.strip()]
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    tree = parse_code("\n".join(line[indent:] for line in lines))
    if tree is None or not tree.body:
        return None
    calls = [_call(node, names) for node in tree.body]
    if any(c is None or not c[1].startswith("check") for c in calls):
        return None
    return calls


def setup_calls(nb, names):
    """The course's set-up calls made by read-only cells (``grading.setup("quiz_search")``)."""
    calls = []
    for cell in nb.cells:
        if _is_locked(cell):
            tree = parse_code(cell.source)
            calls += [c for c in (_call(node, names) for node in (tree.body if tree else [])) if c]
    return calls


def _resolve(target):
    module, _, attribute = target.partition(":")
    if attribute:
        try:
            return importlib.import_module(f"{module}.{attribute}")
        except ImportError:
            return getattr(importlib.import_module(module), attribute)
    return importlib.import_module(module)


# ---- a variable the notebook never defined ------------------------------------------------------------
MESSAGE_WIDTH = 64  # as the course's own messages (clipcourse.grading): short lines, Korean first, then English
_NAME_ERROR = re.compile(r"name '([A-Za-z_][A-Za-z0-9_]*)' is not defined")


def _bound_names(tree):
    """Names a cell binds at its top level (assignments, for/with targets, def, class, import), in order;
    not the local names inside its functions or comprehensions."""
    names = []

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            return
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, ast.alias):
            names.append((node.asname or node.name).split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def answer_cells(nb):
    """{variable: grade id of the first answer cell of the source notebook that defines it}."""
    found = {}
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or not meta.get("solution") or meta.get("grade"):
            continue
        tree = parse_code(cell.source)
        for name in _bound_names(tree) if tree else []:
            found.setdefault(name, meta.get("grade_id"))
    return found


def quiz_label(grade_id):
    """("퀴즈 1-a", "quiz 1-a") for quiz1a_test, ("퀴즈 7-3", "quiz 7-3") for quiz7_3_test; else the id twice."""
    match = re.match(r"quiz(\d+)(?:([a-z])|_(\d+))?_", grade_id or "")
    if not match:
        return str(grade_id), str(grade_id)
    number = match.group(1) + "".join(f"-{part}" for part in match.groups()[1:] if part)
    return f"퀴즈 {number}", f"quiz {number}"


def _wrapped(label, text):
    return textwrap.wrap(f"[{label}] {text}", MESSAGE_WIDTH, break_on_hyphens=False, subsequent_indent="  ")


def missing_message(names, grade_id, answers, language="ko"):
    """What a student reads when the test cell ``grade_id`` reads variables ``names`` that the notebook never
    defined: which quiz, which answer cell should have defined them, and what to do. ``answers``: answer_cells().
    Korean, then English; English only for the English edition (``language="en"``)."""
    ko_label, en_label = quiz_label(grade_id)
    listed = ", ".join(names)
    cells = sorted({answers[n] for n in names if answers.get(n)})
    if not cells:
        ko = (f"이 테스트가 읽는 변수 {listed}이(가) 정의되지 않았습니다. 노트북을 처음부터 차례대로 "
              "실행하세요 (Kernel → Restart & Run All). 이 테스트는 0점입니다.")
        en = (f"The variable{'s' if len(names) > 1 else ''} {' and '.join(names)} this test reads "
              f"{'were' if len(names) > 1 else 'was'} never defined: run the notebook from the top, in order "
              "(Kernel → Restart & Run All). This test scores 0.")
    else:
        ko_where = ", ".join(f"{quiz_label(c)[0]}의 답 셀 {c!r}" if quiz_label(c)[0] != c else f"답 셀 {c!r}"
                             for c in cells)
        en_where = ", ".join(f"{quiz_label(c)[1]}'s answer cell {c!r}" if quiz_label(c)[1] != c else f"answer cell {c!r}"
                             for c in cells)
        ko = (f"답 변수 {listed}이(가) 정의되지 않아 채점할 것이 없습니다 ({ko_where}). 답 셀에 raise "
              "NotImplementedError()가 남아 있거나, 셀이 오류로 멈추었거나, 셀을 지웠거나 변수 이름을 바꾼 "
              f"경우입니다. 변수 이름 {listed}은(는) 주어진 그대로 두고, 답 셀을 실행해 끝까지 오류 없이 "
              "도는지 확인하세요. 이 테스트는 0점입니다.")
        en_listed = " and ".join(names)
        en = (f"The answer variable {en_listed} was never defined" if len(names) == 1 else
              f"The answer variables {en_listed} were never defined")
        en += (f" ({en_where}), so there is nothing to grade: raise NotImplementedError() was left in the cell, it "
               "stopped at an error, or it was deleted or the variable renamed. "
               f"Keep the name{'s' if len(names) > 1 else ''} {en_listed} as given and run the answer "
               f"cell{'s' if len(cells) > 1 else ''} to the end without errors. This test scores 0.")
    return "\n".join(([] if language == "en" else _wrapped(ko_label, ko)) + _wrapped(en_label, en))


def missing_note(name, grade_ids, cell):
    """One line for the class's CSV (notes): tests that read ``name``, which the notebook never defined."""
    where = f"answer cell {cell!r}" if cell else "no answer cell defines it"
    return (f"{', '.join(grade_ids)}: 답 변수 {name}이(가) 정의되지 않았습니다 / the answer variable {name} was "
            f"never defined ({where}; deleted, renamed, or its cell stopped before it): 0 points")


def name_error(evalue):
    """The variable of a NameError's message (``name 'x' is not defined``), or None."""
    match = _NAME_ERROR.search(str(evalue))
    return match.group(1) if match else None


# ---- decoding what the kernel hands over --------------------------------------------------------------
def _stand_in(type_name):
    """An object of a class named like the student's value's type, so checks can say what it was."""
    name = str(type_name)[:60] or "object"
    return type(name if name.isidentifier() else "object", (), {"__repr__": lambda self: f"<{name}>"})()


def _too_large(ko, en):
    return Malformed(f"{ko}\n{en}")


class Decoder:
    """Turns one request's plain data into values for the checks, within the limits above."""

    def __init__(self, known_images=None, call_kernel=None):
        self.known_images = known_images or (lambda size, digest: None)
        self.call_kernel = call_kernel
        self.nodes = self.images = self.pixels = 0
        self._built = {}  # (size, digest) -> image, so a repeated picture is built or loaded once

    def value(self, item, depth=0):
        if not isinstance(item, dict) or not isinstance(item.get("t"), str) or depth > 6:
            raise Malformed("the notebook's values came back in a form the grader does not read")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _too_large(f"노트북의 값에 항목이 {MAX_NODES}개보다 많습니다. 채점기가 읽는 양을 넘습니다.",
                             f"The notebook's values hold more than {MAX_NODES} items, more than the grader reads.")
        kind = item["t"]
        if kind == "none":
            return None
        if kind in ("int", "bool", "str", "path"):
            value = item.get("v")
            wanted = {"int": int, "bool": bool, "str": str, "path": str}[kind]
            if type(value) is not wanted:
                raise Malformed(f"a {kind} value came back as {type(value).__name__}")
            return pathlib.Path(value) if kind == "path" else value
        if kind == "float":
            value = item.get("v")
            if type(value) is str and value in ("nan", "inf", "-inf"):
                return float(value)
            if type(value) not in (int, float):
                raise Malformed("a number came back as something else")
            return float(value)
        if kind == "array":
            return self._array(item)
        if kind in ("list", "tuple"):
            items = item.get("items")
            if not isinstance(items, list):
                raise Malformed("a list came back without its items")
            if len(items) > MAX_ITEMS:
                raise _too_large(f"항목이 {len(items)}개인 {kind}는 채점기가 읽는 크기({MAX_ITEMS}개)보다 큽니다.",
                                 f"A {kind} of {len(items)} items is more than the grader reads ({MAX_ITEMS}).")
            values = [self.value(i, depth + 1) for i in items]
            return values if kind == "list" else tuple(values)
        if kind == "image":
            return self._image(item)
        if kind == "function" and self.call_kernel is not None:
            return _remote_function(str(item.get("name", "function")), self.call_kernel, self)
        return _stand_in(item.get("type") or kind.replace(" ", "_"))

    def _array(self, item):
        dtype, shape, data = item.get("dtype"), item.get("shape"), item.get("b64")
        if dtype not in _DTYPES or not isinstance(shape, list) or not isinstance(data, str) \
                or not all(type(n) is int and 0 <= n for n in shape) or len(shape) > 8:
            raise Malformed("an array came back without a valid dtype and shape")
        count = math.prod(shape)
        if count > MAX_ELEMENTS:
            raise Malformed(f"an array of {count} elements is more than the grader reads")
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raise Malformed("an array's bytes are not base64") from None
        if len(raw) != count * np.dtype(dtype).itemsize:
            raise Malformed("an array's bytes do not match its shape")
        arr = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        arr = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
        if item.get("kind") == "tensor":  # the checks see the type the notebook holds (quizzes 4, 5 want a tensor)
            import torch

            return torch.from_numpy(arr)
        return arr

    def _image(self, item):
        from PIL import Image

        size, digest = item.get("size"), item.get("sha256")
        if not (isinstance(size, list) and len(size) == 2 and all(type(n) is int and n > 0 for n in size)
                and isinstance(digest, str) and len(digest) <= 128):
            raise Malformed("an image came back without its size and pixel hash")
        width, height = size
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_large(f"{width} x {height} 픽셀 이미지는 채점기가 읽는 크기({MAX_IMAGE_PIXELS} 픽셀)보다 큽니다.",
                             f"An image of {width} x {height} pixels is larger than the grader reads "
                             f"({MAX_IMAGE_PIXELS} pixels).")
        self.images += 1
        if self.images > MAX_IMAGES:
            raise _too_large(f"이미지가 {MAX_IMAGES}장보다 많습니다. 채점기가 읽는 양을 넘습니다.",
                             f"More than {MAX_IMAGES} images: more than the grader reads.")
        key = (width, height, digest)
        if key not in self._built:
            self.pixels += width * height
            if self.pixels > MAX_NEW_PIXELS:
                raise _too_large("이미지의 픽셀이 모두 합쳐 채점기가 읽는 양보다 많습니다.",
                                 f"The images hold more than {MAX_NEW_PIXELS} pixels in all: more than the grader reads.")
            known = self.known_images((width, height), digest)
            # not a course picture: a stand-in of that size, which no comparison with one accepts
            self._built[key] = known if known is not None else Image.new("RGB", (width, height), (255, 0, 255))
        return self._built[key]


def encode_argument(value):
    """The grader's own inputs for a notebook function, as plain data (see values._decode)."""
    if type(value).__module__ == "torch":
        return dict(_encode_array(value.detach().cpu().numpy()), kind="tensor")
    if isinstance(value, np.ndarray):
        return _encode_array(value)
    if isinstance(value, (list, tuple)):
        return {"t": type(value).__name__, "items": [encode_argument(v) for v in value]}
    if isinstance(value, os.PathLike):
        return {"t": "path", "v": os.fspath(value)}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return {"t": type(value).__name__, "v": value}
    raise TypeError(f"cannot send a {type(value).__name__} to the kernel")


def _encode_array(arr):
    kind = np.asarray(arr).dtype.kind  # booleans stay booleans (quiz 8's relevance masks index with them)
    arr = np.ascontiguousarray(arr, dtype="<f4" if kind == "f" else "|b1" if kind == "b" else "<i8")
    return {"t": "array", "kind": "ndarray", "dtype": arr.dtype.str, "shape": list(arr.shape),
            "b64": base64.b64encode(arr.tobytes()).decode("ascii")}


def _remote_function(name, call_kernel, decoder):
    """A real function (checks may insist on one) that runs the student's ``name`` in the kernel."""
    def remote(*args):
        reply = call_kernel(name, json.dumps([encode_argument(a) for a in args]))
        if not isinstance(reply, dict):
            raise Malformed("the function's answer came back in a form the grader does not read")
        if "raised" in reply:
            text = str(reply["raised"])[:500]
            ename, _, message = text.partition(": ")
            error = type(ename if ename.isidentifier() else "Error", (Exception,), {})
            raise error(message)
        return decoder.value(reply.get("ok"))

    remote.__name__ = remote.__qualname__ = name
    return remote


def parse_reply(text):
    """The JSON a kernel request returned through IPython's text/plain repr of a str."""
    if not isinstance(text, str) or len(text) > MAX_REPLY:
        raise Malformed("the notebook's values are larger than the grader reads")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" and "\\" not in text:
        body = text[1:-1]
    else:
        try:
            body = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise Malformed("the notebook's values came back as something other than text") from None
    if not isinstance(body, str):
        raise Malformed("the notebook's values came back as something other than text")
    if body.count("{") > MAX_NODES:  # every value is an object: refuse before parsing builds them all
        raise _too_large(f"노트북의 값에 항목이 {MAX_NODES}개보다 많습니다. 채점기가 읽는 양을 넘습니다.",
                         f"The notebook's values hold more than {MAX_NODES} items, more than the grader reads.")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise Malformed("the notebook's values are not valid JSON") from None


# ---- the trusted side ---------------------------------------------------------------------------------
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_index(data_dirs, cache=None):
    """``[[width, height, sha256 of the RGB pixels, path], ...]`` for the course's pictures under ``data_dirs``.

    Decoding every picture costs a fraction of a second; the grader does it once per class, not once per
    submission: with ``cache`` (a JSON file only the grader writes), a file whose size and modification time
    are unchanged is not decoded again.
    """
    from PIL import Image

    try:
        known = json.loads(pathlib.Path(cache).read_text()) if cache else {}
    except (OSError, ValueError):
        known = {}
    index, seen = [], {}
    for top in data_dirs:
        for folder, _, files in os.walk(top):
            for name in sorted(files):
                if not name.lower().endswith(IMAGE_SUFFIXES):
                    continue
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                    stamp = [stat.st_size, stat.st_mtime_ns]
                    entry = known.get(path)
                    if not (isinstance(entry, list) and entry[:2] == stamp):
                        with Image.open(path) as im:
                            rgb = im.convert("RGB")
                        entry = stamp + [*rgb.size, hashlib.sha256(rgb.tobytes()).hexdigest()]
                except Exception:
                    continue
                seen[path] = entry
                index.append([*entry[2:], path])
    if cache and seen != known:
        pathlib.Path(cache).write_text(json.dumps(seen))
    return index


class Trusted:
    """The course's checks for one source notebook, imported and set up in this process.

    ``images`` is ``image_index(data_dirs)`` when the grader computed it already; else the pictures
    under ``data_dirs`` are indexed here when the first image comes back from the kernel.
    """

    def __init__(self, source_nb, data_dirs=(), images=None):
        self.language = language_of(source_nb)  # the edition graded: its messages are English only in "en"
        self.names = aliases(source_nb)
        self.answers = answer_cells(source_nb)
        self.plans = {}
        for cell in source_nb.cells:
            if is_test_cell(cell):
                self.plans[grade_id(cell)] = plan(cell.source, self.names)
        self._setup = setup_calls(source_nb, self.names)
        self._data_dirs = [d for d in data_dirs if os.path.isdir(d)]
        self._images = None if images is None else {((w, h), digest): path for w, h, digest, path in images}
        self._error = None
        self._thread = threading.Thread(target=self._prepare, daemon=True)

    @property
    def needed(self):
        return any(self.plans.values())

    def start(self):
        if self.needed:
            self._thread.start()  # imports and references load while the kernel starts

    def _prepare(self):
        saved = {k: v for k, v in os.environ.items() if k.startswith("NBGRADER_")}  # a course set-up may pop them
        try:
            for target, function, args in self._setup:
                getattr(_resolve(target), function)(*[value for kind, value in args if kind == "value"])
            for calls in self.plans.values():
                for target, function, _ in calls or []:
                    getattr(_resolve(target), function)
            for target, _, _ in self._setup:
                state = getattr(_resolve(target), "_STATE", None)
                if isinstance(state, dict) and state.get("error"):
                    raise VerdictUnavailable(f"the course's set-up failed in the grader: {state['error']}")
        except VerdictUnavailable as error:
            self._error = error
        except Exception as error:
            self._error = VerdictUnavailable(f"the course's checks could not be loaded in the grader: "
                                             f"{type(error).__name__}: {error}")
        finally:
            os.environ.update(saved)

    def join(self):
        if self._thread.is_alive():
            self._thread.join()

    def ready(self):
        self.join()
        if self._error:
            raise self._error

    def variables(self, grade_id):
        return sorted({v for _, _, args in self.plans.get(grade_id) or [] for kind, v in args if kind == "name"})

    def known_image(self, size, digest):
        """A course picture with these pixels (loaded here, from the course's own files), or None."""
        if self._images is None:
            self._images = {((w, h), digest): path for w, h, digest, path in image_index(self._data_dirs)}
        path = self._images.get((tuple(size), digest))
        if path is None:
            return None
        from PIL import Image

        with Image.open(path) as im:
            return im.convert("RGB")

    def missing(self, grade_id, raw_values):
        """The variables the test cell ``grade_id`` reads that the notebook never defined, in the calls' order."""
        if not isinstance(raw_values, dict):
            return []
        found = []
        for _, _, args in self.plans.get(grade_id) or []:
            for kind, v in args:
                item = raw_values.get(v) if kind == "name" else None
                if isinstance(item, dict) and item.get("t") == "missing" and v not in found:
                    found.append(v)
        return found

    def decide(self, grade_id, raw_values, call_kernel):
        """(passed, reason) for one test cell, from the kernel's raw values (see values.dump), in the edition's
        language (the checks themselves speak it after the source's setup call)."""
        passed, reason = self._decide(grade_id, raw_values, call_kernel)
        return passed, in_language(reason, self.language)

    def _decide(self, grade_id, raw_values, call_kernel):
        self.ready()
        decoder = Decoder(self.known_image, call_kernel)
        if not isinstance(raw_values, dict):
            raise Malformed("the notebook's values came back in a form the grader does not read")
        missing = self.missing(grade_id, raw_values)
        if missing:
            return False, missing_message(missing, grade_id, self.answers, self.language)
        for target, function, args in self.plans[grade_id]:
            values = []
            for kind, v in args:
                if kind == "value":
                    values.append(v)
                    continue
                item = raw_values.get(v)
                if isinstance(item, dict) and item.get("t") == "unreadable":
                    why = str(item.get("why"))[:200]
                    return False, f"{v}의 값을 읽을 수 없습니다: {why}\n{v} could not be read: {why}"
                if isinstance(item, dict) and item.get("t") == "too large":
                    return False, f"{v}이(가) 채점기가 읽는 크기보다 큽니다.\n{v} is larger than the grader reads."
                if isinstance(item, dict) and item.get("t") == "function":  # called through the variable the
                    item = {**item, "name": v}  # quiz names, whatever its __name__ (lambda, wrapper, partial)
                values.append(decoder.value(item))
            check = getattr(_resolve(target), function)
            try:
                check(*values)
            except AssertionError as error:
                return False, str(error).strip() or "the check failed"
            except Malformed as error:
                return False, str(error)
            except Exception as error:
                return False, f"the values could not be checked ({type(error).__name__}: {str(error)[:300]})"
        return True, ""
