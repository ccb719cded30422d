"""Grading a whole class with nbgrader: one command, parallel, boxed, with feedback that hides hidden tests.

    python -m autograder grade SUBMISSIONS_DIR [--assignment A] [--jobs N] ...

See autograder/README.md for the design (sandbox, guard, feedback) and its limits.
"""
