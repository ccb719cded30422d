"""The quizzes' tests, kernel side: a guard that the read-only setup cell arms before any student code,
and one check per quiz for the hidden tests. A check raises AssertionError with a Korean/English message
in short lines. Setup prints ``model: <label>`` (reference.model_label): the model that answers, which
the class grader reads back from each submission to flag one answered under another model.

Defences, each against something a student cell could do before the tests run:
- Monkeypatching what the tests use (numpy.allclose, torch.allclose, builtins.print, Tensor or PIL
  methods, subprocess, this module …): setup snapshots those objects; every check first verifies that
  each is still the same object and fails naming the replaced one. Functions defined outside the
  installed libraries (a cell inserted above the setup cell) are refused at setup.
- Behaving differently under nbgrader: setup removes NBGRADER_EXECUTION / NBGRADER_VALIDATING from
  the kernel's environment, and the checks test values, never printed text nor the student's model.
- Objects that lie (a Tensor subclass whose == is always True, a fake .shape): exact types only,
  copied into plain numpy arrays before comparing.
- Faked references: in grading runs (nbgrader autograde, or CLIP_COURSE_GRADING=1) they are computed
  (or read from the cache) before any student code runs, never with the student's model object; a
  student's query is embedded in a fresh interpreter (``python -I -m clipcourse.reference
  embed-texts``) that the student's patches cannot reach. The class autograder must fill the cache
  beforehand and give it to kernels read-only (clipcourse/reference.py).
- Hard-coded answers: quiz 6 calls the student's function on inputs it cannot foresee.
What tests inside the student's kernel cannot prevent: code aimed at this module itself (rebinding
``grading``, editing the snapshot in ``_STATE``), at the kernel (replacing ipykernel's execute
handler, ``os._exit``) or at later kernels (writing files they read). Only running student code in a
sandbox, with the tests' verdict decided outside it, closes those; that is the class autograder's job.
"""
import builtins
import contextlib
import functools
import io
import json
import math
import os
import random
import re
import subprocess
import sys
import sysconfig
import textwrap
import types
import warnings
from pathlib import Path

import numpy as np
import PIL.ImageFile
import PIL.PngImagePlugin
import torch
import torch.nn.functional as F
from PIL import Image

from . import data, reference
from .models import choose_model
from .paths import data_dir

#: Everything the checks know, set by setup(). Mutated, never rebound (rebinding would look like tampering).
_STATE = {}

NEEDS_REFERENCES = {"quiz_topk", "quiz_search", "quiz_guess"}
#: Set by the class grader in its own process (never in a student's kernel): quiz 6's grading inputs are
#: then drawn from this seed, so they cannot be known, and answered from a table, in advance.
PROBE_SEED = "CLIP_COURSE_PROBE_SEED"
#: Runs that grade: references are prepared before any student code. (`nbgrader validate`, which a
#: student may press, and an instructor's run by hand compute them when a hidden test first asks.)
GRADING_RUNS = {"autograde"}

# What the checks rely on: (owner, names); names None = every attribute of that class or module.
_WATCHED = [
    (builtins, ("print", "len", "isinstance", "issubclass", "type", "abs", "all", "any", "float", "int", "str",
                "list", "tuple", "dict", "set", "sorted", "zip", "range", "enumerate", "min", "max", "sum",
                "round", "repr", "getattr", "hasattr", "callable", "iter", "next", "bool", "open",
                "__import__", "super", "object", "AssertionError", "Exception", "format")),
    (np, ("allclose", "isclose", "array_equal", "asarray", "array", "abs", "max", "argmax", "argsort", "isfinite",
          "all", "any", "float64", "float32", "ndarray", "linalg", "maximum", "sum", "sort", "fill_diagonal",
          "concatenate", "zeros", "load")),
    (np.linalg, ("norm",)),
    (torch, ("allclose", "equal", "isclose", "tensor", "as_tensor", "from_numpy", "Tensor", "no_grad",
             "float32", "cosine_similarity", "argmax", "topk", "zeros")),
    (F, ("cosine_similarity", "normalize")),
    (torch.Tensor, None), (torch._C.TensorBase, None),
    (Image, ("open", "Image")), (Image.Image, None), (PIL.ImageFile.ImageFile, None),
    (PIL.PngImagePlugin.PngImageFile, None),
    (subprocess, ("run", "Popen", "PIPE", "CompletedProcess")), (subprocess.Popen, None),
    (json, ("loads", "dumps")), (os, ("fspath", "environ", "path", "getcwd")),
    (os.path, ("basename", "join", "realpath", "abspath", "isfile")), (math, ("isfinite", "sqrt")),
    (contextlib, ("redirect_stdout", "redirect_stderr")), (warnings, ("catch_warnings", "simplefilter")),
    (io, ("StringIO",)), (functools, ("partial",)), (types, ("FunctionType",)),
    (sys.modules[__name__], None), (reference, None), (data, None),
]
_LIBRARY_ROOTS = tuple({str(Path(p).resolve()) + os.sep for key in ("stdlib", "platstdlib", "purelib", "platlib")
                        if (p := sysconfig.get_paths().get(key))} | {str(Path(__file__).resolve().parent) + os.sep})
_MISSING = object()
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")


def _owner_name(owner) -> str:
    return getattr(owner, "__qualname__", None) or getattr(owner, "__name__", repr(owner))


def _items(owner, names):
    if names is None:
        return dict(vars(owner))
    return {n: getattr(owner, n, None) for n in names}


def _snapshot():
    return [(owner, names, _items(owner, names)) for owner, names in _WATCHED]


def _foreign(obj) -> bool:
    """True for a callable made outside the installed libraries (a notebook cell's function, lambda, class …)."""
    if isinstance(obj, functools.partial):
        return True
    func = obj.__func__ if isinstance(obj, types.MethodType) else obj
    if isinstance(func, types.FunctionType):
        where = func.__code__.co_filename  # "<frozen posixpath>" for the interpreter's frozen modules
        return not (where.startswith("<frozen ") or str(Path(where).resolve()).startswith(_LIBRARY_ROOTS))
    kind = obj if isinstance(obj, type) else type(obj)
    return kind.__module__ == "__main__"


def _foreign_names(snapshot):
    return sorted(f"{_owner_name(owner)}.{name}" for owner, _, items in snapshot
                  for name, obj in items.items() if callable(obj) and _foreign(obj))


def _changed_names():
    changed = []
    for owner, names, before in _STATE["snapshot"]:
        now = _items(owner, names)
        for name in sorted(set(before) | set(now)):
            if before.get(name, _MISSING) is not now.get(name, _MISSING):
                changed.append(f"{_owner_name(owner)}.{name}")
    return changed


def _silence_library_noise():
    """Known library chatter on stderr would score a test cell 0; the tests' own output stays.

    transformers' own logger is left alone: loading CLIP prints nothing once the processor is loaded
    with ``backend="pil"`` (models.load_processor, and the notebooks' visible cells).
    """
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # else a fork after tokenizing prints to stderr
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for lib in ("transformers", "torch", "huggingface_hub", "tokenizers", "PIL", "matplotlib", "tqdm"):
        warnings.filterwarnings("ignore", module=rf"{lib}(\..*)?$")


def setup(assignment: str, language: str = "ko"):
    """Run by each quiz notebook's first, read-only cell, before any student code. ``language``: the
    notebook's edition, ``"en"`` in the English one (``source/<quiz>/en/``): the checks then speak English only.

    Once per kernel: a second call (the cell run again, or student code calling it after patching
    something) keeps the first snapshot and references.
    """
    if _STATE.get("snapshot"):
        return
    grading_run = os.environ.get("NBGRADER_EXECUTION") in GRADING_RUNS or os.environ.get("CLIP_COURSE_GRADING") == "1"
    _silence_library_noise()
    for var in ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "CLIP_COURSE_GRADING"):
        os.environ.pop(var, None)  # student code sees the same environment in grading as at home
    _STATE.clear()
    _STATE.update(assignment=assignment, language=language, env=dict(os.environ), python=sys.executable, data_dir=data_dir(),
                  model=None, model_digest=None, refs=None, error=None, texts={}, targets={}, data_digest=None,
                  probe_seed=os.environ.pop(PROBE_SEED, None) if grading_run else None)
    if assignment in NEEDS_REFERENCES and grading_run:
        _prepare_references()  # before any student code: nothing can have been patched yet
    _STATE["snapshot"] = _snapshot()
    _STATE["foreign"] = _foreign_names(_STATE["snapshot"])
    print(f"model: {_model_line(assignment)}")  # read back by the class grader (autograder/modelcheck.py)
    if _STATE["error"]:
        print(f"(grading setup problem: {_STATE['error']})" if english_only() else
              f"(채점 준비 문제 / grading setup problem: {_STATE['error']})")


def _model_line(assignment):
    """Which model answers this notebook, as reference.model_label prints it; "none" for quiz 1."""
    if assignment not in NEEDS_REFERENCES:
        return "none"
    try:
        return reference.model_label(_STATE["model"] or choose_model(verbose=False))
    except Exception as error:  # e.g. CLIP_MODEL set to a folder that is not a model: the next cell says more
        return f"unknown ({type(error).__name__}: {error})"


# ---- helpers for the checks ------------------------------------------------------------------------
#: Longest line of a failure message. `nbgrader validate` cuts each line of a traceback after 87
#: characters, the first one after "AssertionError: ", so both halves stay whole when short.
MESSAGE_WIDTH = 64


#: ``CLIP_COURSE_LANG=en``: in the Korean edition, the checks' messages (hints, verdicts, feedback,
#: ``make check-quiz``) put English first. The English edition's notebooks need no switch: their setup cell
#: says ``setup(<quiz>, "en")``, and every message is then English only.
LANG = "CLIP_COURSE_LANG"


def english_only() -> bool:
    """The notebook is the English edition (its setup cell said so)."""
    return _STATE.get("language") == "en"


def english_first() -> bool:
    return english_only() or os.environ.get(LANG, "").strip().lower().startswith("en")


def _learner_facing(func):
    """A check the learner's test cell calls: its failure shows the learner's cell and the message, not the frames
    of this module (whose lines would show both languages' messages and the checks' internals)."""
    @functools.wraps(func)
    def check(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except AssertionError as e:
            raise AssertionError(*e.args) from None
    return check


def _fail(quiz, ko, en):
    """Fail with the Korean message, then the English one (English first under CLIP_COURSE_LANG=en; English
    only in the English edition), each wrapped into short lines."""
    lines = []
    halves = [(quiz, ko), (quiz.replace("퀴즈", "quiz"), en)]
    if english_only():
        halves = halves[1:]
    for label, text in halves[::-1] if english_first() else halves:
        lines += textwrap.wrap(f"[{label}] {text}", MESSAGE_WIDTH, break_on_hyphens=False, subsequent_indent="  ")
    raise AssertionError("\n".join(lines))


def _guard(quiz):
    if not _STATE.get("snapshot"):
        _fail(quiz, "노트북 맨 위의 준비 셀이 실행되지 않았습니다. 준비 셀을 지우거나 바꾸지 마세요.",
              "The setup cell at the top did not run; do not delete or change it.")
    if _STATE["foreign"]:
        _fail(quiz, f"준비 셀보다 먼저 바뀐 함수가 있습니다: {', '.join(_STATE['foreign'])}",
              f"Functions were replaced before the setup cell ran: {', '.join(_STATE['foreign'])}")
    changed = _changed_names()
    if changed:
        _fail(quiz, f"채점에 쓰이는 함수/객체가 바뀌었습니다(monkeypatch): {', '.join(changed)}",
              f"Objects the tests rely on were replaced after setup (monkeypatching): {', '.join(changed)}")


def _prepare_references():
    """Model, targets and references for this assignment; a failure is kept for the checks to report."""
    try:
        _STATE["model"] = choose_model(verbose=False)
        _STATE["model_digest"] = reference.model_digest(_STATE["model"])
        if _STATE["assignment"] == "quiz_topk":
            _STATE["targets"]["quiz2"] = reference.quiz2_target_names()
        if _STATE["assignment"] == "quiz_guess":
            _STATE["targets"]["quiz7"] = [Path(f).name for f in reference.quiz7_files()]
        _STATE["refs"] = reference.load_or_build(_STATE["model"])
        _STATE["data_digest"] = reference.data_digest()
    except Exception as error:  # reported by every check; the student's cells still run
        _STATE["error"] = f"{type(error).__name__}: {error}"


def _refs(quiz):
    if _STATE["refs"] is None and not _STATE["error"]:  # an instructor running the source notebook by hand
        _prepare_references()
    if _STATE["error"]:
        _fail(quiz, f"기준 답을 계산할 수 없습니다: {_STATE['error']}",
              f"The reference answers cannot be computed: {_STATE['error']}")
    if reference.data_digest() != _STATE["data_digest"]:
        _fail(quiz, "채점 중에 강좌의 이미지 파일이 바뀌었습니다.", "The course images changed during the run.")
    return _STATE["refs"]


#: The library types a check takes as a tensor, an array or a text: exact types, so no class a notebook defines
#: (a subclass whose == or .numpy() lies) passes, but every type torch, numpy, pathlib and os themselves hand a
#: student does (torch.nn.Parameter, np.matrix, np.str_ from indexing a numpy array of names, os.DirEntry from
#: os.scandir). The visible tests accept these too (quiz parity: a visible pass is never a hidden type failure).
#: Bound at import; this module is watched, so rebinding them after setup is reported as monkeypatching.
_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)
_ARRAY_TYPES = (np.ndarray, np.matrix)
_STR_TYPES = (str, np.str_)
_PATH_TYPES = (os.DirEntry,)


def _is_path(f) -> bool:
    """A file path as the checks take it: a str (or numpy str), a pathlib path, or os.scandir's DirEntry."""
    return type(f) in _STR_TYPES or type(f) in _PATH_TYPES \
        or isinstance(f, os.PathLike) and type(f).__module__.startswith("pathlib")


def _leaf(x, quiz, what):
    if type(x) in (int, float) or isinstance(x, (np.floating, np.integer)) and type(x).__module__ == "numpy":
        return float(x)
    if type(x) in _TENSOR_TYPES and x.dim() == 0 and not x.is_complex():
        return float(x.detach().cpu().item())
    if type(x) in _ARRAY_TYPES and x.ndim == 0 and x.dtype.kind in "biuf":  # np.asarray takes it as a number too
        return float(x)
    if type(x) in _TENSOR_TYPES + _ARRAY_TYPES and x.ndim > 0:  # e.g. a list of (1,)-shaped results, one per row
        shape = tuple(x.shape)
        _fail(quiz, f"{what}의 항목이 숫자가 아니라 모양 {shape}인 {type(x).__name__}입니다. 숫자 하나씩(.item()) 넣거나, "
                    "torch.cat으로 텐서 하나로 합치세요.",
              f"{what} holds {type(x).__name__}s of shape {shape}, not numbers: put in single numbers (.item()) "
              "or join them into one tensor with torch.cat.")
    _fail(quiz, f"{what}에는 숫자를 넣으세요: 따옴표 없이 0.123처럼 씁니다 (지금 {type(x).__name__}).",
          f"{what} must hold numbers: write 0.123, without quotes (got {type(x).__name__}).")


def _array(x, quiz, what, returned_by=None):
    """The student's value as a fresh float64 numpy array; exact library types only (no subclasses that lie).

    ``returned_by`` (quizzes 4 and 5: "get_image_features"): the answer is the embedding tensor that model method
    returns (on transformers 5.x its ``.pooler_output``, taken with lecture 01's getattr line), as the statement and
    the visible test say; else (quiz 1) a tensor, a numpy array or a (nested) list or tuple
    of numbers.
    """
    if returned_by and type(x).__name__ == "BaseModelOutputWithPooling":  # transformers 5.x's return value, kept whole
        _fail(quiz, f"{what}이(가) 텐서가 아니라 model.{returned_by}의 출력 객체입니다 (transformers 5.x). 강의 01처럼 "
                    f'텐서를 꺼내세요: {what} = getattr(features, "pooler_output", features)',
              f"{what} is the output object of model.{returned_by} (transformers 5.x), not the tensor. Take the "
              f'tensor as lecture 01 does: {what} = getattr(features, "pooler_output", features)')
    if returned_by and type(x) not in _TENSOR_TYPES:  # the visible test's words
        got = type(x).__name__
        _fail(quiz, f"{what}은(는) model.{returned_by}가 반환한 torch.Tensor여야 합니다 (지금 {got}). "
                    "리스트라면 torch.cat으로 합치고, .numpy()는 빼세요.",
              f"{what} must be the torch.Tensor returned by model.{returned_by}, not {got}: join a list with "
              "torch.cat, and drop .numpy().")
    if type(x) in _TENSOR_TYPES and x.is_complex() or type(x) in _ARRAY_TYPES and x.dtype.kind not in "biuf":
        _fail(quiz, f"{what}에는 숫자를 넣으세요: 따옴표 없이 0.123처럼 씁니다 (지금 {x.dtype}의 {type(x).__name__}).",
              f"{what} must hold numbers: write 0.123, without quotes (got a {type(x).__name__} of {x.dtype}).")
    if type(x) in _TENSOR_TYPES:
        out = np.array(x.detach().cpu().double().numpy(), dtype=np.float64)
    elif type(x) in _ARRAY_TYPES:
        out = np.array(np.asarray(x), dtype=np.float64)
    elif type(x) in (list, tuple):
        def conv(v):
            return [conv(e) for e in v] if type(v) in (list, tuple) else _leaf(v, quiz, what)
        try:
            out = np.array(conv(x), dtype=np.float64)
        except ValueError:
            _fail(quiz, f"{what}의 행 길이가 서로 다릅니다.", f"{what} has rows of different lengths.")
    else:
        _fail(quiz, f"{what}은(는) torch 텐서, numpy 배열 또는 숫자의 리스트여야 합니다 (지금 {type(x).__name__}).",
              f"{what} must be a torch tensor, a numpy array or a list of numbers, not {type(x).__name__}.")
    if not np.all(np.isfinite(out)):
        _fail(quiz, f"{what}에 nan/inf가 있습니다.", f"{what} contains nan or inf.")
    return out


def _shape_hint(got, shape):
    """(Korean, English) advice for a value of shape ``got`` where ``shape`` is wanted, or ("", "")."""
    if len(got) == 2 and got == shape[::-1] and got != shape:
        return " 행과 열이 바뀌었습니다: .T(전치)를 빼세요.", " Rows and columns are swapped: drop the .T (transpose)."
    if math.prod(got) == math.prod(shape) and len(got) > len(shape):
        return (" 축이 더 있습니다: 나누어 구한 값은 torch.stack이 아니라 torch.cat으로 합치세요.",
                " It has extra dimensions: join parts with torch.cat, not torch.stack.")
    if math.prod(got) == math.prod(shape) and len(got) < len(shape):
        return (" 크기 1인 축이 빠졌습니다: [0]이나 squeeze()로 줄이지 말고 그대로 두세요.",
                " A dimension of size 1 is missing: keep it, do not take [0] or squeeze().")
    return "", ""


def _shape(arr, shape, quiz, what, hint=("", "")):
    if tuple(arr.shape) != shape:
        ko, en = _shape_hint(tuple(arr.shape), shape)
        _fail(quiz, f"{what}의 모양은 {shape}이어야 합니다 (지금 {tuple(arr.shape)}).{ko or hint[0]}",
              f"{what} must have shape {shape}, got {tuple(arr.shape)}.{en or hint[1]}")


def _count_en(count) -> str:
    return f"{count} item" + ("" if count == 1 else "s")


def _basenames(filenames, n, quiz, paths=False):
    """The file names of a list of ``n`` paths. ``paths`` (quiz 3, whose task asks for each file's path): a bare
    file name, without its folder, fails; quiz 4 reads the same list and does not mark it down twice."""
    if type(filenames) not in (list, tuple) or len(filenames) != n:
        now = f"항목 {len(filenames)}개" if type(filenames) in (list, tuple) else type(filenames).__name__
        now_en = _count_en(len(filenames)) if type(filenames) in (list, tuple) else f"a {type(filenames).__name__}"
        _fail(quiz, f"image_filenames는 파일 경로 {n}개의 리스트여야 합니다 (지금 {now}).",
              f"image_filenames must be a list of {n} paths (now {now_en}).")
    names = []
    for i, f in enumerate(filenames):
        if not _is_path(f):
            _fail(quiz, f"image_filenames의 항목은 파일 경로(문자열)여야 합니다 (image_filenames[{i}]: "
                        f"{type(f).__name__}). os.path.join(gallery_dir, 이름)을 넣으세요.",
                  f"image_filenames must hold file paths (str), not {type(f).__name__} (image_filenames[{i}]): "
                  "put in os.path.join(gallery_dir, name).")
        path = str(os.fspath(f))
        if paths and not os.path.dirname(path):
            _fail(quiz, f"image_filenames[{i}]는 폴더 없는 파일 이름({path!r})입니다. 문제는 파일 경로를 묻습니다: "
                        "os.path.join(gallery_dir, 이름)을 넣으세요 (퀴즈 6이 이 경로를 반환합니다).",
                  f"image_filenames[{i}] is a bare file name ({path!r}), without its folder; the task asks for "
                  "each file's path: put in os.path.join(gallery_dir, name) (quiz 6 returns these paths).")
        names.append(os.path.basename(path))
    return names


def _texts(value, n, quiz, what):
    """The student's ``n`` texts as a list of str: a list or tuple of them, or for one text also the bare string
    (the notebook's processor takes all three); a numpy str counts as a str."""
    texts = [value] if type(value) in _STR_TYPES and n == 1 else value
    if type(texts) not in (list, tuple) or len(texts) != n or any(type(t) not in _STR_TYPES or not t.strip() for t in texts):
        if n == 1:
            _fail(quiz, f"{what}은(는) 비어 있지 않은 문자열 하나이거나, 그런 문자열 하나가 든 리스트여야 합니다 "
                        f"(예: ['a dog']; 지금 {_what_texts(texts, what, n)[0]}).",
                  f"{what} must be one non-empty string, or a list holding one, e.g. ['a dog'] "
                  f"(now {_what_texts(texts, what, n)[1]}).")
        ko, en = _what_texts(texts, what, n)
        _fail(quiz, f"{what}은(는) 비어 있지 않은 문자열 {n}개의 리스트여야 합니다 (지금 {ko}).",
              f"{what} must be a list of {n} non-empty strings (now {en}).")
    texts = [str(t) for t in texts]
    try:
        reference.check_text_length(texts)
    except reference.TextTooLong as error:
        _too_long(quiz, what, error.index, error.limit, chars=error.chars)
    return texts


def _what_texts(texts, what, n):
    """(Korean, English) words for what a wrong ``texts`` value (wanted: ``n`` texts) is."""
    if type(texts) not in (list, tuple):
        return f"{type(texts).__name__} 하나", f"one {type(texts).__name__}"
    bad = next((i for i, t in enumerate(texts) if type(t) not in _STR_TYPES or not t.strip()), None)
    if len(texts) != n or bad is None:
        return f"항목 {len(texts)}개", _count_en(len(texts))
    if type(texts[bad]) in _STR_TYPES:
        return f"{what}[{bad}]이(가) 빈 문자열", f"{what}[{bad}] is empty"
    return f"{what}[{bad}]이(가) {type(texts[bad]).__name__}", f"{what}[{bad}] is a {type(texts[bad]).__name__}"


def _language_hint(texts):
    """(Korean, English) sentences added to a failure when a query is written in Korean, else ("", "")."""
    if any(_HANGUL.search(t) for t in texts):
        return (" 검색어가 한국어입니다: CLIP은 영어 문장으로 배웠으니 영어로 쓰세요.",
                " The query is in Korean: CLIP learned from English sentences, so write it in English.")
    return "", ""


def _too_long(quiz, what, index, limit, tokens=None, chars=None):
    """The quiz cell's own ``processor(text=…)`` fails on such a text too (CLIP reads ``limit`` tokens)."""
    ko_size, en_size = (f"{tokens}토큰으로", f"{tokens} tokens") if tokens is not None else (f"{chars}자로", f"{chars} characters")
    _fail(quiz, f"{what}[{index}]이(가) {ko_size}, CLIP이 읽는 {limit}토큰(영어 단어 50개쯤)보다 깁니다. "
                "짧게 줄이세요 (노트북의 processor 셀도 이 문장에서 오류를 냅니다).",
          f"{what}[{index}] is {en_size} long, more than the {limit} tokens CLIP reads (some 50 English "
          "words). Shorten it (the notebook's own processor cell fails on it too).")


def _embed_texts(texts, quiz, what="texts"):
    """The student's texts embedded by the grading model in a fresh interpreter (no student patches there)."""
    key = tuple(texts)
    if key not in _STATE["texts"]:
        command = [_STATE["python"], "-I", "-m", "clipcourse.reference", "embed-texts", "--model", _STATE["model"]]
        try:
            done = subprocess.run(command, input=json.dumps(texts), capture_output=True, text=True,
                                  env=_STATE["env"], timeout=900)
            reply = json.loads(done.stdout) if done.returncode == 0 else None
        except (subprocess.TimeoutExpired, ValueError, OSError) as error:
            done, reply = error, None
        if not reply or reply.get("model_digest") != _STATE["model_digest"]:
            detail = getattr(done, "stderr", "") or str(done)
            _fail(quiz, f"채점 모델로 텍스트를 임베딩하지 못했습니다: {detail[-500:]}",
                  f"Embedding the texts with the grading model failed: {detail[-500:]}")
        # a text too long for the model is an answer (kept, so quiz 7's five tests ask once), not a failure
        _STATE["texts"][key] = reply["too_long"] if isinstance(reply.get("too_long"), dict) else \
            np.array(reply["embeddings"], dtype=np.float64)
    found = _STATE["texts"][key]
    if isinstance(found, dict):
        _too_long(quiz, what, found.get("index"), found.get("limit"), found.get("tokens"), found.get("chars"))
    return found


def _quietly(func, *args):
    """Call student code without letting its prints or warnings reach the test cell's output."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        return func(*args)


# ---- one check per quiz ----------------------------------------------------------------------------
#: The notebook sections that explain what a verdict is about, (Korean, English): a verdict names the symptom
#: and points here, never to the solution's code.
SEE = {
    "row": ("02 노트북의 'Example 1'", "notebook 02, 'Example 1'"),
    "pairs": ("02 노트북의 'Example 3'과 '왜 unsqueeze(1)과 dim=2일까?'",
              "notebook 02, 'Example 3' and 'Why unsqueeze(1) and dim=2?'"),
    "norm": ("02 노트북의 '같은 (2, 4) 행렬을 행렬 곱으로'", "notebook 02, 'The same (2, 4) matrix with a matrix product'"),
    "argmax": ("03 노트북의 '1. argmax와 topk'", "notebook 03, '1. argmax and topk'"),
    "search": ("03 노트북의 '2. 강아지 이미지 9장에서 Top-3 검색'", "notebook 03, '2. A Top-3 search among nine dog drawings'"),
}


def _see(key):
    ko, en = SEE[key]
    return f" ({ko} 참고)", f" (see {en})"


def _quiz1_mistakes(rowwise):
    """(value, Korean, English): what the usual wrong computations of quiz 1 give, to say which one it was.
    Each names the symptom and the section that explains it, not the code that would be right."""
    v1, v2 = np.array(reference.QUIZ1_VEC1, dtype=np.float64), np.array(reference.QUIZ1_VEC2, dtype=np.float64)

    def pair(a, b):
        return (a * b).sum(axis=1) if rowwise else a @ b.T

    def unit(a, axis):
        return a / np.linalg.norm(a, axis=axis, keepdims=True)

    norm_ko, norm_en = _see("norm")
    row_ko, row_en = _see("row")
    found = [(pair(v1, v2), "내적만 구했습니다: 코사인 유사도는 내적을 두 벡터의 길이(norm)로 나눈 값입니다" + norm_ko + ".",
              "it is the plain dot product: the cosine similarity divides it by both vectors' lengths (norms)"
              + norm_en + "."),
             (pair(unit(v1, 0), unit(v2, 0)), "길이(norm)를 열 방향(dim=0)으로 구했습니다: 벡터는 행이므로 길이도 행마다 "
              "하나입니다" + row_ko + ".",
              "the norms were taken down the columns (dim=0): each vector is a row, so each row has its own "
              "length" + row_en + "."),
             (pair(v1, v2) / (np.linalg.norm(v1) * np.linalg.norm(v2)),
              "행렬 전체의 길이(norm) 하나로 나누었습니다: 벡터(행)마다 길이가 따로 있습니다" + row_ko + ".",
              "it was divided by the length (norm) of the whole matrix, one number for all rows: each vector "
              "(row) has its own length" + row_en + ".")]
    if not rowwise:
        pairs_ko, pairs_en = _see("pairs")
        found.append((reference.quiz1_answers()[1].T, "행과 열이 바뀌었습니다: cos_matrix[i][j]는 vec1[i]와 vec2[j]의 "
                      "유사도여야 하는데, 지금은 행을 따라 vec2가 바뀝니다" + pairs_ko + ".",
                      "rows and columns are swapped: cos_matrix[i][j] must be for vec1[i] and vec2[j], but along "
                      "your rows vec2 changes" + pairs_en + "."))
    return found


def _check_quiz1(value, expected, quiz, what, guard=True):
    if guard:
        _guard(quiz)
    rowwise = expected.ndim == 1
    arr = _array(value, quiz, what)
    row_ko, row_en = _see("row")
    pairs_ko, pairs_en = _see("pairs")
    _shape(arr, expected.shape, quiz, what,
           (" 벡터는 행이므로, 행마다 숫자 하나: dim=1 방향으로 계산하세요" + row_ko + ".",
            " The vectors are the rows, one number per row: compute along dim=1" + row_en + ".") if rowwise else
           (" vec1의 행마다 vec2의 모든 행과 비교한 표입니다" + pairs_ko + ".",
            " It pairs every row of vec1 with every row of vec2" + pairs_en + "."))
    if not np.allclose(arr, expected, rtol=0, atol=1e-3):
        for wrong, ko, en in _quiz1_mistakes(rowwise):
            if np.allclose(arr, wrong, rtol=0, atol=1e-3):
                _fail(quiz, f"{what}의 값이 코사인 유사도와 다릅니다. {ko}", f"{what} does not hold the cosine similarities; {en}")
        if np.any(np.abs(arr) > 1 + 1e-6):
            _fail(quiz, f"{what}에 -1과 1 밖의 값이 있습니다: 코사인 유사도는 -1과 1 사이입니다. 내적을 두 벡터의 "
                        "길이(norm)로, 길이는 행마다 따로 구해 나누었나요?" + row_ko + ".",
                  f"{what} holds values outside -1 and 1, where a cosine similarity lies: is the dot product "
                  "divided by both vectors' lengths (norms), each row's own?" + row_en + ".")
        if np.allclose(arr, expected, rtol=0, atol=1e-2):
            _fail(quiz, f"{what}의 값이 조금 다릅니다: 소수 셋째 자리까지 정확히 (반올림해서) 적으세요.",
                  f"{what} is slightly off: give the values to 3 decimals (rounded).")
        _fail(quiz, f"{what}의 값이 코사인 유사도와 다릅니다 (소수 셋째 자리까지 맞아야 합니다).",
              f"{what} does not hold the cosine similarities (3 decimals are enough).")


@_learner_facing
def hint_quiz1(cos_rowwise=_MISSING, cos_matrix=_MISSING):
    """Quiz 1's visible tests: the hidden check's own verdict, without the guard. Quiz 1's answers are fixed
    numbers, so the hint can tell the whole truth (a wrong value never passes, a usual mistake is named)
    while the test cell shows no answer value."""
    if cos_rowwise is not _MISSING:
        _check_quiz1(cos_rowwise, reference.quiz1_answers()[0], "퀴즈 1-a", "cos_rowwise", guard=False)
    if cos_matrix is not _MISSING:
        _check_quiz1(cos_matrix, reference.quiz1_answers()[1], "퀴즈 1-b", "cos_matrix", guard=False)


@_learner_facing
def check_quiz1_rowwise(cos_rowwise):
    _check_quiz1(cos_rowwise, reference.quiz1_answers()[0], "퀴즈 1-a", "cos_rowwise")


@_learner_facing
def check_quiz1_matrix(cos_matrix):
    _check_quiz1(cos_matrix, reference.quiz1_answers()[1], "퀴즈 1-b", "cos_matrix")


@_learner_facing
def check_quiz2(text):
    quiz = "퀴즈 2"
    _guard(quiz)
    refs = _refs(quiz)
    query = _texts(text, 1, quiz, "text")
    scores = reference.cosine(_embed_texts(query, quiz, "text"), refs.dogs)[0]
    top3 = sorted(refs.dog_names[i] for i in np.argsort(-scores, kind="stable")[:3])
    wanted = sorted(_STATE["targets"]["quiz2"])
    if top3 != wanted:
        ko, en = _language_hint(query)
        if not ko:
            ko, en = " 달리는 모습을 영어로 묘사해 보세요.", " Describe the running in English."
        _fail(quiz, f"채점 모델에서 {query[0]!r}의 Top-3: {top3}. 목표(달리는 강아지): {wanted}.{ko}",
              f"Under the grading model the Top-3 of {query[0]!r} is {top3}; wanted the running dogs {wanted}.{en}")


@_learner_facing
def check_quiz3(images, image_filenames):
    quiz = "퀴즈 3"
    _guard(quiz)
    refs = _refs(quiz)
    n = len(refs.gallery_names)
    names = _basenames(image_filenames, n, quiz, paths=True)
    if sorted(names) != sorted(refs.gallery_names):
        _fail(quiz, f"image_filenames가 gallery 폴더의 이미지 {n}장과 다릅니다.",
              f"image_filenames are not the {n} gallery images.")
    if type(images) not in (list, tuple) or len(images) != n:
        now = f"항목 {len(images)}개" if type(images) in (list, tuple) else type(images).__name__
        now_en = _count_en(len(images)) if type(images) in (list, tuple) else f"a {type(images).__name__}"
        _fail(quiz, f"images는 PIL 이미지 {n}장의 리스트여야 합니다 (지금 {now}).",
              f"images must be a list of {n} PIL images (now {now_en}).")
    gallery = _STATE["data_dir"] / "gallery"
    for i, (image, name) in enumerate(zip(images, names)):
        if not isinstance(image, Image.Image) or not type(image).__module__.startswith("PIL."):
            _fail(quiz, f"images[{i}]가 PIL 이미지가 아닙니다.", f"images[{i}] is not a PIL image.")
        with Image.open(gallery / name) as im:
            expected = np.asarray(im.convert("RGB"))
        if not np.array_equal(np.asarray(image.convert("RGB")), expected):
            _fail(quiz, f"images[{i}]가 image_filenames[{i}] ({name})의 이미지가 아닙니다. 순서를 맞추세요.",
                  f"images[{i}] is not the picture in image_filenames[{i}] ({name}); keep both in the same order.")


def _unit_rows(a):
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def _normalised(arr, expected):
    """True when ``arr`` holds ``expected``'s rows divided by their lengths (an L2-normalised embedding)."""
    return bool(np.allclose(np.linalg.norm(arr, axis=-1), 1.0, atol=1e-3)
                and np.allclose(arr, _unit_rows(expected), rtol=1e-3, atol=1e-3))


def _normalised_message(what, function):
    return (f"{what}이(가) 길이 1로 정규화되어 있습니다: 정규화하지 말고 model.{function}가 반환한 값을 그대로 "
            "저장하세요 (코사인 유사도는 나중에 따로 구합니다).",
            f"{what} is normalised to length 1: store what model.{function} returns, unchanged "
            "(the cosine similarity comes later).")


@_learner_facing
def check_quiz4(image_embeddings, image_filenames):
    quiz = "퀴즈 4"
    _guard(quiz)
    refs = _refs(quiz)
    n, d = refs.gallery.shape
    arr = _array(image_embeddings, quiz, "image_embeddings", returned_by="get_image_features")
    _shape(arr, (n, d), quiz, "image_embeddings", (f" 이미지 {n}장을 모두 임베딩하세요 (한 번에, 또는 나누어 torch.cat으로).",
                                                  f" Embed all {n} images (at once, or in parts joined by torch.cat)."))
    names = _basenames(image_filenames, n, quiz)
    if sorted(names) != sorted(refs.gallery_names):
        _fail(quiz, "image_filenames가 gallery 이미지 200장이 아니어서 비교할 수 없습니다.",
              "image_filenames are not the gallery images, so the embeddings cannot be checked.")
    row = {name: i for i, name in enumerate(refs.gallery_names)}
    expected = refs.gallery[[row[name] for name in names]].astype(np.float64)
    scale = float(np.max(np.abs(expected)))
    if not np.allclose(arr, expected, rtol=1e-3, atol=1e-3 * scale):
        if _normalised(arr, expected):
            _fail(quiz, *_normalised_message("image_embeddings", "get_image_features"))
        nearest = np.argmax(_unit_rows(arr) @ _unit_rows(expected).T, axis=1)
        if len(set(nearest.tolist())) == n and np.allclose(arr, expected[nearest], rtol=1e-3, atol=1e-3 * scale):
            _fail(quiz, "image_embeddings의 행 순서가 image_filenames와 다릅니다: images와 image_filenames를 "
                        "같은 순서로 만들고 images를 그 순서대로 임베딩하세요.",
                  "The rows of image_embeddings are not in the order of image_filenames: build images and "
                  "image_filenames in the same order and embed images in that order.")
        _fail(quiz, "image_embeddings가 같은 모델로 image_filenames 순서대로 임베딩한 값과 다릅니다. "
                    "model.get_image_features가 반환한 값을 그대로 저장하세요.",
              "image_embeddings differ from the embeddings of image_filenames (same order) under the same model: "
              "store what model.get_image_features returns.")


@_learner_facing
def check_quiz5(text_embedding):
    quiz = "퀴즈 5"
    _guard(quiz)
    refs = _refs(quiz)
    arr = _array(text_embedding, quiz, "text_embedding", returned_by="get_text_features")
    _shape(arr, refs.quiz5.shape, quiz, "text_embedding")
    expected = refs.quiz5.astype(np.float64)
    if not np.allclose(arr, expected, rtol=1e-3, atol=1e-3 * float(np.max(np.abs(expected)))):
        if _normalised(arr, expected):
            _fail(quiz, *_normalised_message("text_embedding", "get_text_features"))
        _fail(quiz, f"text_embedding이 주어진 텍스트 {reference.QUIZ5_TEXT!r}의 임베딩과 다릅니다. text를 바꾸지 말고 "
                    "model.get_text_features로 임베딩하세요.",
              f"text_embedding is not the embedding of the given text {reference.QUIZ5_TEXT!r}: keep text as "
              "given and embed it with model.get_text_features.")


def _quiz6_probes(refs):
    """(query, images, names, acceptable answers): the real search, then cases a hard-coded name, a
    different query, a global variable or a dot product cannot all pass. Cosine picks row a; the
    dot product picks row b, a long vector that points a little away from the query."""
    gallery = refs.gallery.astype(np.float64)
    unit = gallery / np.maximum(np.linalg.norm(gallery, axis=1, keepdims=True), 1e-12)
    names = [str(_STATE["data_dir"] / "gallery" / name) for name in refs.gallery_names]
    scores = refs.quiz6_scores()
    probes = [(refs.quiz5, refs.gallery, names, {names[i] for i in np.flatnonzero(scores >= scores.max() - 1e-5)})]
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    distinct = [i for i in range(len(names)) if sim[i].max() < 0.999]
    seed = _STATE.get("probe_seed")
    rng = random.Random(seed) if seed else None
    picks = distinct[len(distinct) // 5::max(1, len(distinct) // 3)][:3] if rng is None else rng.sample(distinct, 3)
    for k, a in enumerate(picks):
        if rng is None:
            b = distinct[(distinct.index(a) + 1) % len(distinct)]
        else:  # b not nearly opposite to a, so the dot product surely prefers the long row b
            b = rng.choice([i for i in distinct if i != a and sim[a, i] > -0.5])
        rows = unit.copy()
        mix = unit[a] + unit[b]
        rows[b] = 100.0 * mix / np.linalg.norm(mix)
        shift = 7 * (k + 1) if rng is None else rng.randrange(1, len(names))
        shifted = names[shift:] + names[:shift]
        probes.append((3.0 * unit[a][None, :], rows, shifted, {shifted[a]}))
    return probes


def _quiz6_mistake(answer, probe, first_answer, global_names):
    """What a wrong Top-1 answer on a probe looks like it came from: (Korean, English), or None."""
    query, images, names, accepted = probe
    unit = np.asarray(images, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)[0]

    def named(i):
        return answer in (names[i], os.path.basename(names[i])) and names[i] not in accepted

    if named(int(np.argmax(unit @ q))):
        return ("가장 큰 내적(dot product)의 이미지입니다. 코사인 유사도를 쓰세요",
                "it is the image with the largest dot product: use the cosine similarity")
    cosine = (unit @ q) / np.maximum(np.linalg.norm(unit, axis=1) * np.linalg.norm(q), 1e-12)
    if named(int(np.argmin(cosine))):
        return ("코사인 유사도가 가장 작은 이미지입니다. argmin이 아니라 argmax를 쓰고, cosine_similarity의 dim이 "
                "맞는지(기본값 dim=1) 보세요",
                "it is the image with the smallest cosine similarity: use argmax, not argmin, and check "
                "cosine_similarity's dim (default dim=1)")
    axis = _dim0_index(torch.tensor(np.asarray(query, dtype=np.float32)), torch.tensor(unit.astype(np.float32)))
    if axis < len(names) and named(axis):
        return _quiz6_axis()
    right = names.index(sorted(accepted)[0])
    if global_names is not names and answer in (global_names[right], os.path.basename(global_names[right])):
        return ("인자가 아닌 다른 목록(노트북의 image_filenames)의 이름입니다. 인자 image_filenames를 쓰세요",
                "it comes from another list (the notebook's image_filenames): use the argument image_filenames")
    if answer == first_answer:
        return ("입력이 달라도 같은 답입니다. 인자로 받은 text_embedding과 image_embeddings를 쓰세요",
                "it is the same answer as for the first input: use the arguments text_embedding and image_embeddings")
    if named(0):
        return ("첫 항목(인덱스 0)입니다: argmax(또는 topk)를 유사도가 이미지 수만큼 있는 축에서 구하세요",
                "it is the first entry (index 0): take argmax (or topk) along the dimension that holds "
                "one similarity per image")
    if any(named(i) for i in (right - 1, right + 1) if 0 <= i < len(names)):
        return ("Top-1 바로 옆의 항목입니다. 인덱스에 1을 더하거나 빼지 마세요",
                "it is the entry next to the Top-1: do not add or subtract 1 from the index")
    return None


def _dim0_index(text_embedding, image_embeddings):
    """The index a search finds when it takes the cosine similarity along dim=0 (down the images, one value
    per embedding dimension) instead of along each embedding: a common mistake."""
    with torch.no_grad():
        return int(F.cosine_similarity(text_embedding, image_embeddings, dim=0).argmax().item())


def _quiz6_axis():
    """(Korean, English) for similarities taken along the wrong axis (dim=0): one value per embedding dimension
    (512 of them), not one per image, so argmax picks a dimension, not an image."""
    ko_see, en_see = _see("search")
    return ("코사인 유사도를 엉뚱한 축(dim=0)으로 구한 것 같습니다. 그러면 유사도가 이미지마다 하나가 아니라 임베딩 "
            f"차원마다 하나(512개)가 되고, argmax는 이미지가 아니라 차원을 고릅니다{ko_see}",
            "the cosine similarity seems to be taken along the wrong axis (dim=0): that gives one value per "
            "embedding dimension (512), not one per image, and argmax then picks a dimension, not an "
            f"image{en_see}")


def _quiz6_not_a_name(answer):
    """(Korean, English) for a top1_filename answer that is not a file name or path."""
    what = f"{type(answer).__name__}: {answer!r:.60}"
    if answer is None:
        return ("top1_filename이 아무것도 반환하지 않았습니다 (None). print가 아니라 return으로 파일 이름을 반환하세요.",
                "top1_filename returned nothing (None): return the file name with return, not print.")
    integer = type(answer) is int or isinstance(answer, np.integer) \
        or type(answer) is np.ndarray and answer.ndim == 0 and answer.dtype.kind in "iu" \
        or type(answer) is torch.Tensor and answer.dim() == 0 and not answer.is_floating_point()
    if integer:
        return (f"top1_filename이 인덱스({what})를 반환했습니다. 파일 이름 image_filenames[인덱스]를 반환하세요 "
                "(텐서라면 .item()으로 숫자를 꺼내서).",
                f"top1_filename returned an index ({what}): return the file name image_filenames[index] "
                "(with .item() for a tensor).")
    if type(answer) in (list, tuple):
        return (f"top1_filename이 {type(answer).__name__}를 반환했습니다 ({answer!r:.60}). 리스트가 아니라 "
                "파일 경로 하나(문자열)를 반환하세요.",
                f"top1_filename returned a {type(answer).__name__} ({answer!r:.60}): return one path (a str), not a list.")
    return (f"top1_filename은 image_filenames의 항목이나 그 파일 이름을 반환해야 합니다 (지금 {what}).",
            f"top1_filename must return an entry of image_filenames or its file name, got {what}.")


@_learner_facing
def check_quiz6(top1_filename):
    quiz = "퀴즈 6"
    _guard(quiz)
    refs = _refs(quiz)
    if not callable(top1_filename) or isinstance(top1_filename, type):  # def, lambda, decorated, partial …
        _fail(quiz, f"top1_filename은 함수여야 합니다 (지금 {type(top1_filename).__name__}).",
              f"top1_filename must be a function, not {type(top1_filename).__name__}.")
    probes = _quiz6_probes(refs)
    answers = []
    for query, images, names, accepted in probes:
        args = (torch.tensor(np.asarray(query, dtype=np.float32)), torch.tensor(np.asarray(images, dtype=np.float32)),
                list(names))
        try:
            answer = _quietly(top1_filename, *args)
        except Exception as error:
            if type(error).__name__ == "IndexError" and _dim0_index(*args[:2]) >= len(args[2]):
                ko, en = _quiz6_axis()
                _fail(quiz, f"top1_filename이 IndexError를 냈습니다: 이미지 수({len(args[2])})보다 큰 인덱스입니다. {ko}.",
                      f"top1_filename raised IndexError, an index past the {len(args[2])} images: {en}.")
            if type(error).__name__ == "NotImplementedError":  # the grader re-raises a class of that name
                _fail(quiz, "top1_filename이 NotImplementedError를 냈습니다: 함수 안의 raise NotImplementedError()를 "
                            "지우고 코드를 쓰세요.",
                      "top1_filename raised NotImplementedError: delete raise NotImplementedError() in the "
                      "function and write your code.")
            _fail(quiz, f"top1_filename이 오류를 냈습니다: {type(error).__name__}: {error} (채점 입력: text_embedding "
                        f"{tuple(args[0].shape)}, image_embeddings {tuple(args[1].shape)}, 경로 {len(args[2])}개의 "
                        "image_filenames; 노트북에서 함수를 실행해 오류를 고치세요)",
                  f"top1_filename raised {type(error).__name__}: {error} (inputs: text_embedding "
                  f"{tuple(args[0].shape)}, image_embeddings {tuple(args[1].shape)}, image_filenames of "
                  f"{len(args[2])} paths; run it in the notebook and fix the error)")
        answers.append(answer)
    _guard(quiz)  # the student's function ran in between
    first = None
    for number, (answer, probe) in enumerate(zip(answers, probes)):
        if not (type(answer) in _STR_TYPES or isinstance(answer, os.PathLike) and type(answer).__module__.startswith("pathlib")):
            _fail(quiz, *_quiz6_not_a_name(answer))
        got = str(os.fspath(answer))
        first = got if number == 0 else first
        accepted = probe[3]
        if got in accepted or got in {os.path.basename(a) for a in accepted}:
            continue
        wanted = os.path.basename(sorted(accepted)[0])
        if number == 0:
            why = _quiz6_mistake(got, probe, None, probe[2])
            ko, en = (f": {why[0]}.", f": {why[1]}.") if why else (
                " (image_filenames의 항목 또는 그 파일 이름). 인자로 받은 세 값과 코사인 유사도로 찾으세요.",
                " (the entry of image_filenames or its file name): search with the three arguments and the "
                "cosine similarity.")
            _fail(quiz, f"top1_filename이 {got!r}를 반환했습니다. 주어진 텍스트 {reference.QUIZ5_TEXT!r}의 Top-1은 "
                        f"{wanted}입니다{ko}",
                  f"top1_filename returned {got!r}; the Top-1 of the given text {reference.QUIZ5_TEXT!r} is "
                  f"{wanted}{en}")
        why = _quiz6_mistake(got, probe, first, probes[0][2])
        ko, en = why or ("인자로 받은 세 값과 코사인 유사도로 찾으세요",
                         "search with the three arguments and the cosine similarity")
        _fail(quiz, f"다른 입력(채점용 예 {number})에서 top1_filename이 {os.path.basename(got)!r}를 반환했습니다. "
                    f"Top-1은 {wanted}입니다: {ko}.",
              f"On another input (grading example {number}) top1_filename returned {os.path.basename(got)!r}, "
              f"the Top-1 is {wanted}: {en}.")


@_learner_facing
def check_quiz7(texts, number):
    """Picture ``number`` (1 … 5): the Top-1 of texts[number - 1] over the gallery must be that picture."""
    quiz = f"퀴즈 7-{number}"
    _guard(quiz)
    refs = _refs(quiz)
    targets = _STATE["targets"]["quiz7"]
    queries = _texts(texts, len(targets), quiz, "texts")
    scores = reference.cosine(_embed_texts(queries, quiz), refs.gallery)
    row = scores[number - 1]
    top1 = refs.gallery_names[int(np.argmax(row))]
    if top1 != targets[number - 1]:
        rank = int(np.sum(row > row[refs.gallery_names.index(targets[number - 1])])) + 1
        ko, en = _language_hint(queries[number - 1:number])
        if not ko:
            ko, en = (f" {number}번 이미지에만 있는 특징(색, 모양, 종류)을 영어로 적어 보세요.",
                      f" Name in English what only picture {number} shows (colour, shape, kind).")
        _fail(quiz, f"채점 모델에서 {queries[number - 1]!r}의 Top-1은 {number}번 이미지가 아니라 {top1}입니다 "
                    f"({number}번 이미지는 {rank}위).{ko}",
              f"Under the grading model the Top-1 of {queries[number - 1]!r} is {top1}, not picture {number} "
              f"(picture {number} ranks {rank}).{en}")


# ---- quiz 8 (quiz_retrieval): the student's functions, called on small fixed embeddings ------------------
# Every probe is made here, no model: grading takes seconds and is the same on every machine. The expected
# answers come from clipcourse.search (stable rankings: of two equal scores the lower index ranks first).
def _quiz8_rng():
    """Fixed probes for practice; in a class grading run, extra ones drawn from the grader's secret."""
    seed = _STATE.get("probe_seed")
    return np.random.default_rng(int.from_bytes(seed.encode()[:16], "little") if seed else 8)


def _quiz8_call(function, name, quiz, args, case):
    """The student's function on one probe (prints and warnings kept out of the test's output)."""
    if not isinstance(function, types.FunctionType):
        _fail(quiz, f"{name}은(는) def로 정의한 함수여야 합니다 (지금 {type(function).__name__}).",
              f"{name} must be a function defined with def, not {type(function).__name__}.")
    try:
        return _quietly(function, *args)
    except Exception as error:
        if type(error).__name__ == "NotImplementedError":  # the grader re-raises a class of that name
            _fail(quiz, f"{name} 안의 raise NotImplementedError()를 지우고 코드를 쓰세요.",
                  f"Delete raise NotImplementedError() in {name} and write your code.")
        shapes = ", ".join(str(tuple(a.shape)) if hasattr(a, "shape") else repr(a) for a in args)
        _fail(quiz, f"{name}이(가) 채점 입력({case[0]}; 인자 {shapes})에서 오류를 냈습니다: "
                    f"{type(error).__name__}: {str(error)[:200]}",
              f"{name} raised {type(error).__name__}: {str(error)[:200]} on a grading input ({case[1]}; "
              f"arguments {shapes}).")


def _quiz8_number(value, quiz, name):
    if value is None:
        _fail(quiz, f"{name}이(가) 아무것도 반환하지 않았습니다 (None). print가 아니라 return으로 반환하세요.",
              f"{name} returned nothing (None): use return, not print.")
    return _leaf(value, quiz, f"{name}의 반환값")


def _quiz8_scores_probes():
    """(scores, relevant, case words): ties, one relevant item, k > gallery, and random ones."""
    scores = np.array([[0.9, 0.1, 0.5, 0.3], [0.25, 0.25, 0.75, 0.25], [0.0, 0.5, 0.125, 0.875]], np.float32)
    relevant = np.array([[0, 1, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]], bool)
    probes = [(scores, relevant, ("동점이 있는 작은 예", "a small example with ties")),
              (scores[1:2], relevant[1:2], ("동점, 관련 항목 하나", "ties, one relevant item")),
              (np.full((1, 5), 0.5, np.float32), np.eye(5, dtype=bool)[[3]], ("점수가 모두 같음", "all scores equal"))]
    rng = _quiz8_rng()
    for q, n in ((6, 12), (4, 30)):
        rel = rng.random((q, n)) < 0.3
        rel[np.arange(q), rng.integers(0, n, q)] = True
        probes.append((rng.normal(size=(q, n)).astype(np.float32), rel, ("무작위 예", "a random example")))
    return probes


def _quiz8_same(got, expected, quiz, name, args_text, case):
    if not math.isfinite(got) or abs(got - expected) > 1e-5:
        _fail(quiz, f"{name}({args_text})이(가) {got:.4f}를 반환했습니다. 정답은 {expected:.4f}입니다 ({case[0]}).",
              f"{name}({args_text}) returned {got:.4f}; the answer is {expected:.4f} ({case[1]}).")


@_learner_facing
def check_quiz8a(recall_at_k):
    from . import search

    quiz = "퀴즈 8-a"
    _guard(quiz)
    runs = []
    for scores, relevant, case in _quiz8_scores_probes():
        for k in (1, 2, 3, scores.shape[1] + 5):
            got = _quiz8_call(recall_at_k, "recall_at_k", quiz, (torch.tensor(scores), torch.tensor(relevant), k), case)
            runs.append((got, search.recall_at_k(scores, relevant, k), k, scores.shape, case))
    _guard(quiz)
    for got, expected, k, shape, case in runs:
        why = case if k <= shape[1] else (f"{case[0]}, k가 갤러리({shape[1]}개)보다 큼", f"{case[1]}, k larger than the gallery of {shape[1]}")
        _quiz8_same(_quiz8_number(got, quiz, "recall_at_k"), expected, quiz, "recall_at_k", f"scores {shape}, k={k}", why)


@_learner_facing
def check_quiz8b(mean_reciprocal_rank):
    from . import search

    quiz = "퀴즈 8-b"
    _guard(quiz)
    runs = []
    for scores, relevant, case in _quiz8_scores_probes():
        got = _quiz8_call(mean_reciprocal_rank, "mean_reciprocal_rank", quiz, (torch.tensor(scores), torch.tensor(relevant)), case)
        runs.append((got, search.mean_reciprocal_rank(scores, relevant), scores.shape, case))
    _guard(quiz)
    for got, expected, shape, case in runs:
        _quiz8_same(_quiz8_number(got, quiz, "mean_reciprocal_rank"), expected, quiz, "mean_reciprocal_rank",
                    f"scores {shape}", case)


def _quiz8_indices(value, quiz, name):
    """A list or tuple of ints, or a 1-D integer tensor or array, as a list of int."""
    if type(value) in _TENSOR_TYPES + _ARRAY_TYPES and value.ndim == 1 and str(value.dtype).split(".")[-1].startswith(("int", "uint")):
        return [int(i) for i in value.tolist()]
    if type(value) in (list, tuple):
        out = []
        for item in value:
            if type(item) is int or isinstance(item, np.integer) and type(item).__module__ == "numpy" \
                    or type(item) in _TENSOR_TYPES and item.dim() == 0 and not item.is_floating_point():
                out.append(int(item))
            else:
                break
        else:
            return out
    what = f"{type(value).__name__}" + (f" {tuple(value.shape)} {value.dtype}" if hasattr(value, "shape") else "")
    _fail(quiz, f"{name}은(는) 인덱스(정수)의 리스트나 1차원 정수 텐서를 반환해야 합니다 (지금 {what}).",
          f"{name} must return a list of indices (ints) or a 1-D integer tensor, not {what}.")


def _quiz8_distinct(rng, top, shape, query_row=False):
    """A random query and gallery whose best ``top`` cosines are 1e-4 apart or more, so no float32 rounding
    can swap them: (query (1, D), gallery) or, with ``query_row``, (gallery, the query's row)."""
    while True:
        rows = rng.normal(size=shape).astype(np.float32) * rng.uniform(0.3, 3, (shape[0], 1)).astype(np.float32)
        index = int(rng.integers(shape[0]))
        query = rows[index:index + 1] if query_row else rng.normal(size=(1, shape[1])).astype(np.float32)
        scores = np.sort(reference.cosine(query, rows)[0])[::-1][int(query_row):int(query_row) + top + 1]
        if np.all(-np.diff(scores) > 1e-4):
            return (rows, index) if query_row else (query, rows)


@_learner_facing
def check_quiz8c(similar_images):
    from . import search

    quiz = "퀴즈 8-c"
    _guard(quiz)
    base = np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 1, 0], [0.8, 0, 0.6], [0, 0, 1]], np.float32)
    lengths = np.array([1, 9, 0.5, 3, 20], np.float32)[:, None]   # a dot product prefers the long rows
    twin = np.vstack([base[:3], base[:1], base[3:]])               # row 3 is row 0 again: a tie with the query
    rng = _quiz8_rng()
    probes = [(base * lengths, 0, 2, ("길이가 1이 아닌 임베딩", "embeddings not of length 1")),
              (twin, 0, 3, ("질문 이미지와 똑같은 이미지가 하나 더 있음", "another picture identical to the query")),
              (np.vstack([twin[:1], twin[:1], twin]), 2, 2, ("동점: 낮은 인덱스가 먼저", "ties: the lower index first")),
              (base, 4, 10, ("k가 이미지 수보다 큼", "k larger than the number of pictures")),
              (*_quiz8_distinct(rng, 6, (40, 16), query_row=True), 5, ("무작위 예", "a random example"))]
    runs = []
    for embeddings, index, k, case in probes:
        got = _quiz8_call(similar_images, "similar_images", quiz, (index, torch.tensor(embeddings), k), case)
        runs.append((got, search.search(embeddings[index], embeddings, k, exclude=index)[1][0].tolist(), index, k, embeddings.shape, case))
    _guard(quiz)
    for got, expected, index, k, shape, case in runs:
        got = _quiz8_indices(got, quiz, "similar_images")
        if index in got:
            _fail(quiz, f"similar_images({index}, …, k={k})의 결과에 질문 이미지 {index}이(가) 들어 있습니다: 질문 이미지는 빼세요 ({case[0]}).",
                  f"similar_images({index}, …, k={k}) returned the query picture {index} itself: leave it out ({case[1]}).")
        if got != expected:
            _fail(quiz, f"similar_images({index}, 임베딩 {shape}, k={k})이(가) {got}를 반환했습니다. 정답은 {expected}입니다 "
                        f"({case[0]}). 코사인 유사도 순서, 동점이면 낮은 인덱스가 먼저입니다.",
                  f"similar_images({index}, embeddings {shape}, k={k}) returned {got}; the answer is {expected} "
                  f"({case[1]}): by cosine similarity, ties with the lower index first.")


@_learner_facing
def check_quiz8d(ensemble_embedding):
    quiz = "퀴즈 8-d"
    _guard(quiz)
    rng = _quiz8_rng()
    probes = [(np.array([[3.0, 0.0], [0.0, 0.5]], np.float32), ("길이가 다른 두 행", "two rows of different lengths")),
              (np.array([[0.0, 4.0, 3.0]], np.float32), ("템플릿 하나", "one template")),
              (rng.normal(size=(7, 32)).astype(np.float32) * rng.uniform(0.2, 5, (7, 1)).astype(np.float32),
               ("무작위 예", "a random example"))]
    runs = [(_quiz8_call(ensemble_embedding, "ensemble_embedding", quiz, (torch.tensor(rows),), case), rows, case)
            for rows, case in probes]
    _guard(quiz)
    for got, rows, case in runs:
        expected = _unit_rows(_unit_rows(rows.astype(np.float64)).mean(axis=0))
        arr = _array(got, quiz, "ensemble_embedding의 반환값")
        _shape(arr, expected.shape, quiz, f"ensemble_embedding(모양 {rows.shape}의 임베딩)의 반환값",
               (" 템플릿 축(dim=0)으로 평균을 내세요.", " Average over the templates (dim=0)."))
        if not np.allclose(arr, expected, atol=1e-4):
            raw = _unit_rows(rows.astype(np.float64).mean(axis=0))
            ko, en = ((" 평균을 내기 전에 행마다 길이 1로 정규화하세요.", " Normalise each row to length 1 before averaging.")
                      if np.allclose(arr, raw, atol=1e-4) else
                      (" 평균을 낸 뒤 다시 길이 1로 정규화하세요.", " Normalise the average to length 1 again.")
                      if np.allclose(_unit_rows(arr), expected, atol=1e-4) else ("", ""))
            _fail(quiz, f"ensemble_embedding(모양 {rows.shape})의 값이 틀렸습니다 ({case[0]}).{ko}",
                  f"ensemble_embedding (rows of shape {rows.shape}) returned wrong values ({case[1]}).{en}")


@_learner_facing
def check_quiz8e(match_or_none):
    from . import search

    quiz = "퀴즈 8-e"
    _guard(quiz)
    # rows 1 and 2 are the same picture (an exact tie in any arithmetic); row 4 wins a dot product, not the cosine
    images = np.array([[1, 0], [1.2, 1.6], [1.2, 1.6], [-50, 0], [8, 6]], np.float32)
    random_query, random_images = _quiz8_distinct(_quiz8_rng(), 1, (30, 8))
    best = float(search.search(random_query, random_images, 1)[0][0, 0])
    probes = [(np.array([[3.0, 4.0]], np.float32), images, 0.9, ("동점, 길이가 1이 아닌 임베딩", "ties, embeddings not of length 1")),
              (np.array([[3.0, 4.0]], np.float32), images, 0.999, ("문턱 위의 가장 좋은 짝", "a best match above the threshold")),
              (np.array([[0.0, 2.0]], np.float32), images, 0.9, ("문턱보다 낮음: None", "below the threshold: None")),
              (np.array([[-1.0, 0.0]], np.float32), images[:3], -0.7, ("동점, 음수 문턱", "ties, a negative threshold")),
              (random_query, random_images, best - 0.01, ("무작위 예", "a random example")),
              (random_query, random_images, best + 0.01, ("무작위 예, 문턱보다 낮음", "a random example, below the threshold"))]
    runs = []
    for query, rows, threshold, case in probes:
        got = _quiz8_call(match_or_none, "match_or_none", quiz, (torch.tensor(query), torch.tensor(rows), threshold), case)
        scores = search.normalize(rows) @ search.normalize(query)[0]
        runs.append((got, search.best_or_none(scores, threshold), threshold, rows.shape, case))
    _guard(quiz)
    for got, expected, threshold, shape, case in runs:
        if got is not None:
            listed = _quiz8_indices([got] if type(got) not in _TENSOR_TYPES + _ARRAY_TYPES or got.ndim == 0 else got,
                                    quiz, "match_or_none")
            got = listed[0] if len(listed) == 1 else listed
        if got != expected:
            _fail(quiz, f"match_or_none(임베딩 {shape}, threshold={threshold:.3f})이(가) {got!r}를 반환했습니다. 정답은 "
                        f"{expected!r}입니다 ({case[0]}). 코사인 유사도가 가장 큰 이미지의 인덱스, 그 값이 threshold보다 "
                        "작으면 None입니다.",
                  f"match_or_none(embeddings {shape}, threshold={threshold:.3f}) returned {got!r}; the answer is "
                  f"{expected!r} ({case[1]}): the index of the highest cosine similarity, or None when it is below "
                  "the threshold.")
