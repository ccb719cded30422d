"""What the real CLIP answers in the lecture's examples, and a plain note when the model in use does not.

The notebooks say what ``openai/clip-vit-base-patch32`` (the lecture's model) does in each example and
ask the student to compare it with the output above. Any model may be running (``choose_model``), so
after an example a cell passes the answers the model just gave to :func:`compare`, next to the real
CLIP's answers written out in the cell. It prints whether they agree, and says plainly which answers
differ, naming the course's offline model as such ("강좌용 CLIP" / "the course CLIP").

The note is in the notebook's language: English when the notebook runs in a folder named ``en``
(``notebooks/en/``: Jupyter and ``clipcourse.notebooks`` start the kernel in the notebook's folder),
Korean otherwise. The code cells of both editions are identical; only this choice differs.
"""
from pathlib import Path

from .models import REAL_MODEL
from .paths import OFFLINE_MODEL_DIR

_WORDS = {
    "ko": {
        "course": "강좌용 CLIP은",
        "real": "실제 CLIP은",
        "other": "지금 모델({name})은",
        "same": "{who} 여기서 실제 CLIP과 같은 답을 냈습니다.",
        "real_same": "{who} 여기서 이 노트북의 설명대로 답했습니다.",
        "differs": "{who} 여기서 실제 CLIP과 다른 답을 냈습니다 (✘):",
        "real_differs": "{who} 여기서 이 노트북의 설명과 다른 답을 냈습니다 (✘):",
        "expected": "실제 CLIP: {answer}",
    },
    "en": {
        "course": "The course CLIP",
        "real": "The real CLIP",
        "other": "The model in use ({name})",
        "same": "{who} gave the same answer as the real CLIP here.",
        "real_same": "{who} answered here as this notebook says.",
        "differs": "{who} answered differently from the real CLIP here (✘):",
        "real_differs": "{who} answered differently from what this notebook says here (✘):",
        "expected": "real CLIP: {answer}",
    },
}


def edition(folder=None):
    """``"en"`` for a notebook in a folder named ``en``, else ``"ko"`` (the primary edition)."""
    return "en" if Path(folder or Path.cwd()).name == "en" else "ko"


def which(model_name):
    """``"course"`` for the course's offline CLIP, ``"real"`` for openai/clip-vit-base-patch32, else ``"other"``."""
    name = str(model_name)
    path = Path(name).expanduser()
    if path.is_dir() and path.resolve() == Path(OFFLINE_MODEL_DIR).resolve():
        return "course"
    if name == REAL_MODEL or "models--" + REAL_MODEL.replace("/", "--") in name:
        return "real"  # the hub id, or its snapshot folder in the Hugging Face cache
    return "other"


def _show(value):
    value = str(value)
    return repr(value) if " " in value else value


def differing(answers, real_clip):
    """The questions whose answer is not the real CLIP's, in ``real_clip``'s order."""
    missing = [question for question in real_clip if question not in answers]
    if missing:
        raise KeyError(f"compare: no answer given for {missing}; pass one answer per question in real_clip.")
    return [question for question, expected in real_clip.items() if str(answers[question]) != str(expected)]


def compare(model_name, answers, real_clip, language=None):
    """Print one verdict line and one line per question: the model's answer, ✔ or ✘ and the real CLIP's.

    ``answers``: {question: the answer the model gave}, e.g. ``{"cat.jpg": "A nuclear submarine"}``.
    ``real_clip``: {question: the real CLIP's answer} for the same questions.
    Prints only (a notebook cell shows no return value); ``differing`` gives the list for code.
    """
    differ = differing(answers, real_clip)
    words = _WORDS[language or edition()]
    kind = which(model_name)
    who = words[kind].format(name=model_name)
    verdict = ("real_" if kind == "real" else "") + ("differs" if differ else "same")
    print(words[verdict].format(who=who))
    for question, expected in real_clip.items():
        line = f"  {'✘' if question in differ else '✔'} {_show(question)} -> {_show(answers[question])}"
        if question in differ:
            line += f"   ({words['expected'].format(answer=_show(expected))})"
        print(line)
