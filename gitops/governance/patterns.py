"""The patterns of GitHub's rulesets, matched the way GitHub matches them.

GitHub documents ruleset patterns (branch and tag names, and a push ruleset's restricted file
paths) as Ruby's `File.fnmatch` with the `File::FNM_PATHNAME` flag: `*`, `?` and `[…]` never match
a `/`; `**/` matches zero or more whole directories; a `**` not followed by `/` is an ordinary
wildcard of one path segment (so `envs/prod/**` matches `envs/prod/api` but not
`envs/prod/api/values.yaml`; `envs/prod/**/*` matches both); a wildcard never matches a leading
`.` of a segment (no `FNM_DOTMATCH`); case counts. GitHub does not support a backslash as a quote,
`[^…]` as a complement, or braces (no `FNM_EXTGLOB`: a brace is a literal character).

A pattern using syntax GitHub does not support cannot be evaluated the way GitHub does, so
`matches` answers None for it, never a guess: the caller reports what depends on it as unknown.
The cases of ruby/spec's `File.fnmatch` spec are vendored in the tests.
"""

from __future__ import annotations

import functools
import re


def matches(pattern: str, name: str, *, some: str | None = None) -> bool | None:
    """Whether `name` (a ref like `refs/heads/main`, or a file path) matches `pattern`; None when
    the pattern uses syntax GitHub does not support.

    A segment of `name` equal to `some` stands for a name not known here (a service's directory):
    the answer is then whether the pattern matches `name` for some such name, so any pattern segment
    other than a `**/` matches it, unless it starts with `.` (the names it stands for never do). That
    may say yes for a segment no name satisfies (`[.]x`): callers ask it only where a yes is the
    cautious answer."""
    pattern_segments = tuple(pattern.split("/"))
    name_segments = tuple(name.split("/"))
    compiled = {segment: _segment_regex(segment) for segment in set(pattern_segments)}
    if None in compiled.values():
        return None

    def segment_matches(pattern_segment: str, name_segment: str) -> bool:
        if name_segment == some:
            return not pattern_segment.startswith(".")
        if name_segment.startswith(".") and not pattern_segment.startswith("."):
            return False
        return compiled[pattern_segment].fullmatch(name_segment) is not None

    # Memoised on positions: at most len(pattern) × len(name) states, whatever the pattern.
    @functools.cache
    def match(p: int, n: int) -> bool:
        if p == len(pattern_segments):
            return n == len(name_segments)
        if pattern_segments[p] == "**" and p + 1 < len(pattern_segments):
            # `**/`: try the rest here, then one directory deeper; never into a dot directory.
            for skip in range(n, len(name_segments)):
                if match(p + 1, skip):
                    return True
                if name_segments[skip].startswith("."):
                    return False
            return False
        return (n < len(name_segments) and segment_matches(pattern_segments[p], name_segments[n])
                and match(p + 1, n + 1))

    return match(0, 0)


def _segment_regex(segment: str) -> re.Pattern[str] | None:
    """One `/`-free segment of a pattern as a regular expression; None for what GitHub does not
    support (a backslash, `[^…]`) or cannot mean (an unterminated or empty `[…]`)."""
    parts, i = [], 0
    while i < len(segment):
        char = segment[i]
        if char == "\\":
            return None
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char == "[":
            end = segment.find("]", i + 2)
            if end < 0 or segment[i + 1] == "^":
                return None
            body = segment[i + 1:end]
            negated = body.startswith("!")
            body = body.removeprefix("!")
            if not body:
                return None
            escaped = "".join("\\" + c if c in "\\]^[" else c for c in body)
            parts.append(f"[^{escaped}]" if negated else f"[{escaped}]")
            i = end
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts), re.S)
