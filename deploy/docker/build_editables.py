"""Build editable wheels of monorepo members, for an image that keeps their source layout.

Usage: python build_editables.py WHEEL_DIR MEMBER_DIR...

Each wheel holds a path entry (.pth) to its member's ``src`` (hatchling's dev-mode-dirs), so the
installed package runs from the copied sources: a service finds the Alembic scripts beside its
package source exactly as in the repository. The build backend must already be installed
(the image installs it from requirements.lock, hashes checked), so nothing is fetched here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    import hatchling.build  # imported late: the usage message needs no backend

    wheels = Path(argv[1]).resolve()
    members = [Path(member).resolve() for member in argv[2:]]  # before any chdir
    for member in members:
        os.chdir(member)  # the backend reads ./pyproject.toml
        print(hatchling.build.build_editable(str(wheels)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
