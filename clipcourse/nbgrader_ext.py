"""nbgrader plug-ins for this course (named in nbgrader_config.py).

nbgrader scores a test cell 0 as soon as it printed anything on stderr (nbgrader.utils.determine_grade),
so a library warning in a test that passed costs the student the points. StderrNotScored keeps that
text, marked and moved to stdout, in graded cells that raised no error; a failing test still raises,
and nbgrader's Execute records an error output for it even when the kernel hid the traceback.
"""
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor


class StderrNotScored(NbGraderPreprocessor):
    """Graded code cells without an error output: stderr stream outputs become marked stdout."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and utils.is_grade(cell) \
                and not any(out.output_type == "error" for out in cell.outputs):
            for out in cell.outputs:
                if out.output_type == "stream" and out.name == "stderr":
                    out.name = "stdout"
                    out.text = "".join(f"[stderr, not scored] {line}" for line in out.text.splitlines(True))
        return cell, resources
