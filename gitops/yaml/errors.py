"""One format for every YAML error the program reports: `file:line:column: problem`, then the line
and a caret under the column.

It takes what every YAML library's marked error carries (ruamel.yaml's and PyYAML's alike: a
problem and a mark with 0-based line and column), reads the line from the text itself, and leaves
out the parser's own advice (ruamel's "To suppress this check see …" names options of ruamel,
which the tool's users cannot set).
"""

from __future__ import annotations

# Long lines are cut around the column, so a one-line file does not land whole in an error.
_SHOWN_WIDTH = 120


def format_at(where: str, text: str, line: int, column: int, problem: str) -> str:
    """`where:LINE:COLUMN: problem`, the offending line and a caret (line and column 0-based).
    An error at the very end of the text (an unclosed bracket) shows the last line."""
    lines = text.splitlines()
    shown_line, shown_column = line, column
    if line >= len(lines) and lines:
        shown_line, shown_column = len(lines) - 1, len(lines[-1])
    source = lines[shown_line] if 0 <= shown_line < len(lines) else ""
    start = max(0, shown_column - _SHOWN_WIDTH // 2)
    excerpt = source[start:start + _SHOWN_WIDTH].expandtabs(1)
    caret = " " * (shown_column - start) + "^"
    return f"{where}:{line + 1}:{column + 1}: {problem}\n  {excerpt}\n  {caret}"


def format_yaml_error(where: str, text: str, error: Exception) -> str:
    """A marked YAML error of ruamel.yaml or PyYAML in `text` (the content of `where`)."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "context", None)
    if problem is None:
        problem = " ".join(str(error).split())
    problem = problem.split("\n")[0].strip().rstrip(":")
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark and problem != context:
        problem += f" ({context} at {context_mark.line + 1}:{context_mark.column + 1})"
    if mark is None:
        return f"{where}: {problem}"
    return format_at(where, text, mark.line, mark.column, problem)
