"""Rehearsals and benchmarks for instructors and maintainers (not tests; CI never runs them).

* ``python -m bench.realsize`` (``make real-size``): the course, its quizzes and a class graded at the
  real CLIP's size, with a random-weight ViT-B/32 stand-in (clipcourse/standin.py).
* ``python -m bench.ratios`` (``make bench-real``): ratios measured side by side in one run.

Both write JSON under the git-ignored ``build/real-size/``.
"""
