"""Copy GOV.UK Frontend's built CSS, JavaScript, fonts and images from npm's ``node_modules`` into the package.

``make`` runs this after ``npm install`` (docs/decisions.md "Console assets"): the node then serves them from
``console/static/govuk/`` with no Node.js at run time, and a wheel built afterwards carries them. The CSS names its
fonts and images at ``/assets/…``; they are rewritten relative to the stylesheet, where they are copied.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent / "static" / "govuk"
FILES = ("govuk-frontend.min.css", "govuk-frontend.min.js")


def copy(dist: Path, target: Path = TARGET) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    css = (dist / FILES[0]).read_text(encoding="utf-8")
    (target / FILES[0]).write_text(css.replace("url(/assets/", "url(assets/"), encoding="utf-8")
    shutil.copy2(dist / FILES[1], target / FILES[1])
    shutil.copytree(dist / "assets", target / "assets")


def main() -> None:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "node_modules/govuk-frontend/dist/govuk")
    if not (dist / FILES[0]).exists():
        print(f"GOV.UK Frontend not found at {dist}: run npm install first (the console will be unstyled)")
        raise SystemExit(1)
    copy(dist)
    print(f"GOV.UK Frontend copied into {TARGET}")


if __name__ == "__main__":
    main()
