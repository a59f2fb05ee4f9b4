#!/usr/bin/env python3
"""Fails when a Swift code block of the README is not, verbatim, code that `make test` compiles.

    python3 scripts/check-readme-snippets.py

Every ```swift block in README.md must follow a `<!-- snippet: NAME -->` line, and a Swift file
under Examples/ must hold the same lines between `// snippet: NAME` and `// end snippet`
(compared after removing the region's common indentation). The examples are built by
`make test`, so a README snippet that drifts from them, or stops compiling, fails the build.
"""

import os
import re
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = re.compile(r"^<!-- snippet: ([\w-]+) -->$")


def readme_blocks(path):
    """(name or None, line number, code) for every ```swift block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, index = [], 0
    while index < len(lines):
        if lines[index].strip() == "```swift":
            start = index
            name = None
            for back in (index - 1, index - 2):
                if back >= 0 and MARKER.match(lines[back].strip()):
                    name = MARKER.match(lines[back].strip()).group(1)
                    break
            index += 1
            body = []
            while index < len(lines) and lines[index].strip() != "```":
                body.append(lines[index])
                index += 1
            blocks.append((name, start + 1, "\n".join(body).rstrip()))
        index += 1
    return blocks


def example_snippets(folder):
    snippets = {}
    for directory, _, files in os.walk(folder):
        if "/.build" in directory:
            continue
        for file in files:
            if not file.endswith(".swift"):
                continue
            path = os.path.join(directory, file)
            lines = open(path, encoding="utf-8").read().split("\n")
            for number, line in enumerate(lines):
                found = re.match(r"^\s*// snippet: ([\w-]+)\s*$", line)
                if not found:
                    continue
                end = next((i for i in range(number + 1, len(lines)) if lines[i].strip() == "// end snippet"), None)
                if end is None:
                    sys.exit(f"{path}:{number + 1}: snippet {found.group(1)} has no `// end snippet`")
                snippets[found.group(1)] = (path, textwrap.dedent("\n".join(lines[number + 1 : end])).rstrip())
    return snippets


def main():
    readme = os.path.join(ROOT, "README.md")
    snippets = example_snippets(os.path.join(ROOT, "Examples"))
    failures = []
    blocks = readme_blocks(readme)
    for name, line, code in blocks:
        if name is None:
            failures.append(f"README.md:{line}: a swift block without a `<!-- snippet: NAME -->` line above it")
        elif name not in snippets:
            failures.append(f"README.md:{line}: snippet {name} is in no file under Examples/ (`// snippet: {name}`)")
        elif snippets[name][1] != code:
            path = os.path.relpath(snippets[name][0], ROOT)
            failures.append(f"README.md:{line}: snippet {name} differs from {path}; copy the example's region into the README")
    for failure in failures:
        print(f"check-readme-snippets: {failure}", file=sys.stderr)
    if failures:
        return 1
    print(f"check-readme-snippets: {len(blocks)} README snippets match the compiled examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
