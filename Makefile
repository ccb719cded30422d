# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
READY  := $(VENV)/.ready
# Tests and the demo never touch the network: the model picker then falls back to model/course-clip.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: demo test venv lab clean-venv render grade bench release check-quizzes check-quiz train evaluate real-size bench-real \
        hub hub-stop hub-remove hub-demo hub-grade bench-hub

venv: $(READY)

# Reinstalls only when requirements.txt or pyproject.toml change; later runs need no network.
$(READY): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Top-K search on the gallery, then the student release and a graded class of sample submissions.
demo: $(READY)
	$(OFFLINE) $(PY) -m clipcourse.demo
	$(MAKE) --no-print-directory release
	$(OFFLINE) $(PY) -m autograder demo

test: $(READY)
	$(OFFLINE) $(PY) -m pytest

# Executed copies of the lecture notebooks (.ipynb with outputs, and .html) in the git-ignored rendered/,
# to look at every figure without Jupyter; prints how long each notebook took.
render: $(READY)
	$(OFFLINE) $(PY) -m clipcourse.notebooks --out rendered notebooks/*.ipynb
	$(OFFLINE) $(PY) -m clipcourse.notebooks --out rendered/en notebooks/en/*.ipynb

# Grade a whole class (autograder/README.md): SUBMISSIONS is nbgrader's submitted/ layout or a folder of
# <student>.ipynb files; GRADE_ARGS passes options, e.g. GRADE_ARGS="--assignment quiz_search --jobs 4".
SUBMISSIONS ?= submitted
grade: $(READY)
	$(PY) -m autograder grade $(SUBMISSIONS) $(GRADE_ARGS)

# Grading speed (not a test): seconds per submission, 20 copies sequential vs parallel, overhead.
bench: $(READY)
	$(OFFLINE) $(PY) -m autograder bench

# At the real CLIP's size (not tests; CI never runs them; bench/__init__.py). real-size writes the random-weight
# ViT-B/32 stand-in into build/real-size/ and runs the notebooks, quiz solutions, check-quizzes and a class of 20
# graded with `make grade` through CLIP_MODEL (~1 h on 2 cores); bench-real measures ratios side by side.
# Both write JSON under build/real-size/. REAL_MODEL=course rehearses the course model instead.
REAL_MODEL ?= standin
real-size: $(READY)
	$(OFFLINE) $(PY) -m bench.realsize --model $(REAL_MODEL)

bench-real: $(READY)
	$(OFFLINE) $(PY) -m bench.ratios --model $(REAL_MODEL)

# The student version: release/<quiz>/ from source/<quiz>/ (committed; a test fails when they drift).
# nbgrader runs alembic for its gradebook, hence .venv/bin on PATH. Then the English edition of each quiz,
# release/<quiz>/en/ from source/<quiz>/en/, by the same nbgrader step with that folder as its "assignment"
# and no gradebook (the gradebook knows the Korean edition's cells; the grader takes the English ones from
# source/<quiz>/en/, autograder/edition.py). It comes second: generating <quiz> empties release/<quiz>/.
ASSIGNMENTS := quiz_cosine quiz_topk quiz_search quiz_guess quiz_retrieval
NBGRADER = PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(OFFLINE) $(PY) -m nbgrader
release: $(READY)
	for a in $(ASSIGNMENTS); do \
	  $(NBGRADER) generate_assignment $$a --force --log-level=ERROR || exit 1; \
	  $(NBGRADER) generate_assignment en --CourseDirectory.source_directory=source/$$a \
	    --CourseDirectory.release_directory=release/$$a --no-db --force --log-level=ERROR || exit 1; \
	done

# Self-study: your own quiz notebook graded with the real hidden tests by the course's grader, e.g.
# make check-quiz NOTEBOOK=release/quiz_cosine/quiz_cosine.ipynb (its own course folder under build/check-quiz/).
check-quiz: $(READY)
	@test -n "$(NOTEBOOK)" || { echo "usage: make check-quiz NOTEBOOK=release/quiz_cosine/quiz_cosine.ipynb"; exit 2; }
	$(OFFLINE) $(PY) -m autograder check "$(NOTEBOOK)"

# Before class: do the reference answers of quizzes 2 and 7 reach their targets with this model?
# (CLIP_MODEL=... make check-quizzes checks another model, e.g. the real openai/clip-vit-base-patch32.)
check-quizzes: $(READY)
	$(PY) -m clipcourse.check_quizzes

# The course's own CLIP (model/course-clip/README.md): the general stage (about 110 minutes on 2 CPU cores), then
# the course stage on the course's pictures and data/captions.csv (about 15 minutes), then its figures.
# Needs the Debian packages openclipart-png openclipart-svg tuxpaint-stamps-default wamerican, and npm (icon sets).
train: $(READY)
	$(PY) -m pip install --quiet --no-deps -r model/requirements-train.txt
	$(OFFLINE) $(PY) model/train.py
	$(MAKE) --no-print-directory evaluate

evaluate: $(READY)
	$(OFFLINE) $(PY) model/evaluate.py --write-card

# JupyterLab on the whole course, opened at notebooks/: students reach the quizzes in release/, and nbgrader's
# Validate button finds nbgrader_config.py in the working folder. tests/test_browser.py runs this recipe.
lab: $(READY)
	$(VENV)/bin/jupyter lab --LabApp.default_url=/lab/tree/notebooks

clean-venv:
	rm -rf $(VENV)

# A class on a local JupyterHub (hub/README.md; Linux, as root). `make hub` builds the hub's own environment
# under HUB_PREFIX from a Python every user can run, creates the roster's users, the course folder and the
# exchange, and starts the hub on 127.0.0.1:8000. HUB_ARGS passes options, e.g.
# HUB_ARGS="--roster my-class.txt --port 8100" or, to listen elsewhere (TLS required):
# HUB_ARGS="--ip 0.0.0.0 --ssl-cert /etc/ssl/hub.crt --ssl-key /etc/ssl/hub.key".
HUB_PYTHON ?= /usr/bin/python3
HUB_PREFIX ?= /opt/clip-hub
HUB_ARGS   ?=
HUB_RUN     = CLIP_HUB_PREFIX=$(HUB_PREFIX) $(HUB_PREFIX)/venv/bin/python -m hub
hub:
	CLIP_HUB_PREFIX=$(HUB_PREFIX) $(HUB_PYTHON) -m hub up $(HUB_ARGS)

hub-stop:
	CLIP_HUB_PREFIX=$(HUB_PREFIX) $(HUB_PYTHON) -m hub stop

# Stops the hub, then deletes the users it created (with their homes) and HUB_PREFIX.
hub-remove:
	CLIP_HUB_PREFIX=$(HUB_PREFIX) $(HUB_PYTHON) -m hub remove

# Simulated students through the running hub: release, fetch, submit, collect, boxed grading, feedback.
hub-demo:
	$(HUB_RUN) demo

# The hub's one way to grade: collect, the boxed grader (root), hand back, release_feedback.
ASSIGNMENT ?= quiz_cosine
hub-grade:
	$(HUB_RUN) grade $(ASSIGNMENT)

# 30 simulated students at once on the running hub (a bench, not a test; writes build/bench-hub.json).
bench-hub:
	$(HUB_RUN) bench
