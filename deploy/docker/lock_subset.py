"""Print the part of requirements.lock that some packages need, hashes and all.

The lock is compiled for the whole monorepo (three services plus the test tools); an image
should hold one service's dependencies and nothing else. uv writes, under every pinned
requirement, the packages that pulled it in (``# via ...``), so the closure of a set of roots
can be read off the lock itself: a requirement belongs when one of its ``via`` parents does.
The result keeps the lock's versions and hashes, for ``uv pip install --require-hashes``.

Usage: python lock_subset.py requirements.lock incident-tickets incident-auth ... > subset.txt

Standard library only: it runs in the image's build stage before anything is installed.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==")
_VIA_INLINE = re.compile(r"^\s+#\s+via\s+(?P<parent>\S.*)$")
_VIA_HEADER = re.compile(r"^\s+#\s+via\s*$")
_VIA_ITEM = re.compile(r"^\s+#\s{3,}(?P<parent>\S.*)$")


def normalize(name: str) -> str:
    """PEP 503 name normalization, so 'PyYAML' and 'pyyaml' are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class LockEntry:
    name: str
    lines: list[str] = field(default_factory=list)
    parents: set[str] = field(default_factory=set)


def parse_lock(text: str) -> list[LockEntry]:
    entries: list[LockEntry] = []
    in_via_list = False
    for line in text.splitlines():
        match = _REQUIREMENT.match(line)
        if match:
            entries.append(LockEntry(normalize(match["name"]), [line]))
            in_via_list = False
            continue
        if not entries:
            continue
        entry = entries[-1]
        if inline := _VIA_INLINE.match(line):
            entry.parents.add(normalize(inline["parent"]))
        elif _VIA_HEADER.match(line):
            in_via_list = True
        elif in_via_list and (item := _VIA_ITEM.match(line)):
            entry.parents.add(normalize(item["parent"]))
        elif line.strip() and not line.lstrip().startswith("#"):
            entry.lines.append(line)  # a --hash continuation
    return entries


def closure(entries: list[LockEntry], roots: set[str]) -> list[LockEntry]:
    """Entries reachable from the roots through 'via' edges, in lock order."""
    needed = {normalize(root) for root in roots}
    changed = True
    while changed:
        changed = False
        for entry in entries:
            if entry.name not in needed and entry.parents & needed:
                needed.add(entry.name)
                changed = True
    return [entry for entry in entries if entry.name in needed]


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    entries = parse_lock(Path(argv[1]).read_text())
    selected = closure(entries, set(argv[2:]))
    if not selected:
        print(f"no requirement of {argv[1]} is needed by {argv[2:]}", file=sys.stderr)
        return 1
    for entry in selected:
        # The last line of an entry ends with a backslash continuation: drop it.
        lines = [*entry.lines[:-1], entry.lines[-1].rstrip(" \\")]
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
