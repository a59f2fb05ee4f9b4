#!/usr/bin/env python3
"""A flame graph (SVG) of a `perf record -g` profile, with the standard library only.

    perf record -g -p PID -o run.data -- sleep 5
    python3 Benchmarks/http/flamegraph.py run.data run.svg --title "sticky-write (memcached)"

Stacks come from `perf script`, Swift symbols are demangled by `swift demangle --simplified`
when the toolchain is on PATH. Each box is a function; its width is its share of the samples
taken in it and in what it called; the boxes above it are its callees. Colours tell where the
code lives: the Swift runtime and concurrency library, SwiftNIO, this package's modules, the
web framework, the kernel, the C library. Hover a box for its name and share. The benchmark
(`run.py --profile DIR`) writes one per scenario.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(?P<symbol>.+?)\s+\((?P<dso>[^)]*)\)\s*$")
OFFSET = re.compile(r"\+0x[0-9a-f]+$")
OWN_MODULES = ("SessionManager", "Memcached", "Redis", "Pipelined", "Demo", "DistributedSession", "PersistDriver", "msm")


def collapse(perf_script: str) -> Counter[str]:
    """`perf script` text -> {"root;caller;...;leaf": samples}."""
    stacks: Counter[str] = Counter()
    frames: list[str] = []
    for line in perf_script.splitlines() + [""]:
        if not line.strip():
            if frames:
                stacks[";".join(reversed(frames))] += 1
            frames = []
            continue
        match = FRAME.match(line)
        if match:
            symbol = OFFSET.sub("", match.group("symbol"))
            if symbol == "[unknown]":
                dso = Path(match.group("dso")).name
                symbol = dso if dso.startswith("[") else f"[{dso or 'unknown'}]"
            frames.append(symbol.replace(";", ":"))
    return stacks


def demangled_names(stacks: Counter[str]) -> dict[str, str]:
    """Mangled Swift frame -> its `swift demangle --simplified` name (empty without the toolchain).
    The tree keeps the mangled names: they carry the module names the colours need."""
    swift = shutil.which("swift")
    names = sorted({frame for stack in stacks for frame in stack.split(";") if frame.startswith(("$s", "_$s"))})
    if not swift or not names:
        return {}
    completed = subprocess.run([swift, "demangle", "--simplified"], input="\n".join(names), capture_output=True,
                               text=True, timeout=120)
    lines = completed.stdout.splitlines()
    if completed.returncode != 0 or len(lines) != len(names):
        return {}
    return {name: line[:200] for name, line in zip(names, lines)}


class Node:
    __slots__ = ("name", "count", "children")

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.children: dict[str, Node] = {}


def build_tree(stacks: Counter[str]) -> Node:
    root = Node("all")
    for stack, count in stacks.items():
        root.count += count
        node = root
        for frame in stack.split(";"):
            node = node.children.setdefault(frame, Node(frame))
            node.count += count
    return root


LEGEND = (("#4c9be8", "this package"), ("#7bc86c", "SwiftNIO"), ("#b57fd6", "Hummingbird, Vapor"),
          ("#e8a33d", "Swift runtime, concurrency"), ("#f2c57c", "other Swift"), ("#d9d9d9", "kernel, C library"))


def colour(name: str) -> str:
    """By where the code lives; `name` is the mangled one for Swift, which names its modules."""
    if name.startswith("swift_") or name.startswith("swift::") or "_swift_" in name or name.startswith("[libswift"):
        return "#e8a33d"  # Swift runtime and concurrency
    if any(module in name for module in OWN_MODULES):
        return "#4c9be8"  # this package
    if "Hummingbird" in name or "Vapor" in name:
        return "#b57fd6"  # web framework
    if "NIO" in name or "llhttp" in name:
        return "#7bc86c"  # SwiftNIO
    if name.startswith(("$s", "_$s")):
        return "#f2c57c"  # other Swift: the standard library, Foundation, other packages
    if name.startswith(("__", "do_", "tcp_", "ip_", "sock_", "entry_SYSCALL", "[kernel")) or name.islower() and "_" in name:
        return "#d9d9d9"  # kernel, C library
    return "#f2c57c"


def render(root: Node, title: str, names: dict[str, str] | None = None, width: int = 1200, row: int = 16) -> str:
    names = names or {}
    depth = 0
    boxes: list[str] = []
    total = max(root.count, 1)
    minimum = total / width * 0.5  # narrower than half a pixel: not drawn

    def place(node: Node, x: float, level: int) -> None:
        nonlocal depth
        depth = max(depth, level)
        box_width = node.count / total * width
        share = 100.0 * node.count / total
        shown = names.get(node.name, node.name)
        label = shown if box_width > 40 else ""
        max_chars = int(box_width / 7)
        if len(label) > max_chars:
            label = label[: max(0, max_chars - 2)] + ".." if max_chars > 3 else ""
        boxes.append((level, x, box_width, node.name, shown, share, label))
        offset = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            if child.count >= minimum:
                place(child, offset, level + 1)
            offset += child.count / total * width

    place(root, 0.0, 0)
    height = (depth + 1) * row + 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
             f'<text x="4" y="16" font-size="14">{html.escape(title)} ({root.count:,} samples)</text>']
    legend_x = 4.0
    for fill, meaning in LEGEND:
        parts.append(f'<rect x="{legend_x:.0f}" y="24" width="10" height="10" fill="{fill}"/>'
                     f'<text x="{legend_x + 14:.0f}" y="33">{html.escape(meaning)}</text>')
        legend_x += 24 + 7 * len(meaning)
    for level, x, box_width, name, shown, share, label in boxes:
        y = height - (level + 1) * row - 10
        parts.append(f'<g><title>{html.escape(shown)} ({share:.2f}%)</title>'
                     f'<rect x="{x:.1f}" y="{y}" width="{max(box_width - 0.5, 0.5):.1f}" height="{row - 1}" '
                     f'fill="{colour(name)}" rx="1"/>'
                     + (f'<text x="{x + 3:.1f}" y="{y + row - 4}">{html.escape(label)}</text>' if label else "")
                     + "</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def flame_graph(perf_data: Path, svg: Path, title: str) -> None:
    completed = subprocess.run(["perf", "script", "-i", str(perf_data)], capture_output=True, text=True, timeout=600)
    if completed.returncode != 0:
        raise RuntimeError(f"perf script failed: {completed.stderr.strip()[-300:]}")
    stacks = collapse(completed.stdout)
    if not stacks:
        raise RuntimeError(f"no samples with call stacks in {perf_data}")
    svg.write_text(render(build_tree(stacks), title, demangled_names(stacks)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Flame graph (SVG) of a perf record -g profile.")
    parser.add_argument("perf_data", type=Path)
    parser.add_argument("svg", type=Path)
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    try:
        flame_graph(args.perf_data, args.svg, args.title or args.perf_data.name)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        print(f"flamegraph: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
