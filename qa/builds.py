"""Build folders on disk: holding, switching, pruning, durable writes, the corpus listing.

``qa.store`` decides what goes into a build; this module keeps the folders of an
index directory (``QA_INDEX``) safe from one another:

* an open Index and a running build hold a shared lock on their folder
  (``in-use.lock``): pruning leaves it alone;
* ``switch`` moves ``current`` to a new build and ``previous`` to the build it
  replaces, then prunes, all under one exclusive lock (``switch.lock``), so two
  builds finishing together never prune each other's current build;
* a ``.partial`` folder (a build being written) is removed only when nobody holds
  it and it is older than ``PARTIAL_GRACE``;
* files that must survive a crash are written to a temporary name, fsynced,
  renamed, and their folder fsynced.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from qa.documents import CORPUS_SUFFIXES, FILE_SUFFIXES, SIDECAR_SUFFIX, _suffix

LOCK = "in-use.lock"
SWITCH_LOCK = "switch.lock"
CURRENT = "current"
PREVIOUS = "previous"
PARTIAL = ".partial"
REMOVING = ".removing-"
# A .partial folder younger than this is never pruned, held or not: a build in another
# process creates its folder a moment before it holds it. Older and unheld: a build
# that crashed.
PARTIAL_GRACE = 3600.0


def crash_point(name: str) -> None:
    """Kill this process here when ``QA_CRASH_AT`` names this point (tests/test_crash.py
    proves that a kill at each point leaves an index that opens and serves)."""
    if os.environ.get("QA_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


# -- durable writes -----------------------------------------------------------
def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` survive a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, write: Callable[[object], None], kind: str) -> None:
    """``write(file)`` to a temporary name, fsync, rename over ``path``, fsync its folder:
    whoever reads ``path`` sees the old file or the whole new one, even after a crash.
    ``kind`` names the crash point between the write and the rename."""
    # A name of this writer's own: two processes rewriting one manifest never share a temporary.
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    crash_point(f"{kind}-tmp-written")
    os.replace(tmp, path)
    fsync_folder(path.parent)


def remove_stale_temporaries(folder: Path, pattern: str, older_than: float = 0.0) -> None:
    """Temporaries (``write_durably``) matching ``pattern`` left by a writer that was killed."""
    for path in folder.glob(pattern):
        try:
            if time.time() - path.stat().st_mtime >= older_than:
                path.unlink()
        except FileNotFoundError:
            pass


# -- holding ------------------------------------------------------------------
def hold(folder: Path):
    """A shared lock on a build folder, held by an open Index and by the build writing it:
    ``prune`` leaves the folder alone while anyone holds it. Released when the
    returned file is closed (or garbage-collected with its Index)."""
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise  # the folder is gone
    except OSError:
        return None  # a read-only copy of an index: nothing prunes it
    fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a pruner removes it; Index checks it is still there
    return open(fd, "rb")


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# -- switching ----------------------------------------------------------------
def target(root: Path, name: str) -> Path | None:
    """The build folder the ``current`` or ``previous`` symlink names, if it is there."""
    link = root / name
    if not link.is_symlink():
        return None
    folder = link.resolve()
    return folder if folder.is_dir() else None


def _link(root: Path, name: str, build: Path) -> None:
    tmp = root / f".{name}-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(build.relative_to(root), tmp)
    os.replace(tmp, root / name)  # atomic: readers see the old build or the new one


def switch(root: Path, build: Path, is_good: Callable[[Path], bool]) -> None:
    """Make ``build`` current; the build it replaces becomes ``previous`` when
    ``is_good`` says it is complete and consistent (else ``previous`` stays as it was,
    the last good one); then remove the builds that are neither, unless held."""
    with _exclusive(root / SWITCH_LOCK):  # one switch at a time: nobody prunes what we link
        for name in (CURRENT, PREVIOUS):
            for stale in root.glob(f".{name}-*"):  # temporary links of a switch that was killed
                stale.unlink(missing_ok=True)
        old = target(root, CURRENT)
        if old is not None and old != build and is_good(old):
            _link(root, PREVIOUS, old)
            fsync_folder(root)
            crash_point("switch-previous-linked")
        _link(root, CURRENT, build)
        fsync_folder(root)
        crash_point("switch-current-linked")
        prune(root, keep={build, target(root, PREVIOUS)})


# -- pruning ------------------------------------------------------------------
def prune(root: Path, keep: set[Path | None]) -> None:
    """Remove the builds in ``keep`` (the current and the previous good one) never, those
    an open Index or a running build holds not now (a later build removes them once
    they are let go, so a search still running on an old build is never cut off), and
    a ``.partial`` that is recent not at all."""
    keep = {folder.resolve() for folder in keep if folder is not None}
    for folder in (root / "builds").iterdir():
        if folder.resolve() in keep:
            continue
        if folder.name.startswith(REMOVING):  # a removal that was killed half-way
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.name.endswith(PARTIAL) and _recent(folder):
            continue
        else:
            _remove_unless_held(folder)


def _recent(folder: Path) -> bool:
    try:
        return time.time() - folder.stat().st_mtime < PARTIAL_GRACE
    except FileNotFoundError:
        return True  # gone already: nothing to do


def _remove_unless_held(folder: Path) -> None:
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):  # a build without a lock file, or a stray file
        _remove(folder)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # open somewhere (or being built): a later build removes it
    else:
        _remove(folder)  # holding the lock: nobody opens it meanwhile
    finally:
        os.close(fd)


def _remove(folder: Path) -> None:
    """Renamed first, atomically: an Index opening the folder meanwhile finds it gone
    (and opens ``current`` again) rather than half of it."""
    doomed = folder.with_name(REMOVING + folder.name.lstrip("."))
    try:
        os.rename(folder, doomed)
    except FileNotFoundError:
        return
    crash_point("prune-renamed")
    if doomed.is_dir():
        shutil.rmtree(doomed, ignore_errors=True)
    else:
        doomed.unlink(missing_ok=True)


# -- the corpus listing -------------------------------------------------------
def corpus_listing(corpus: Path) -> dict[str, list[int]]:
    """``{file: [size, mtime_ns]}`` of every file a build of ``corpus`` reads (documents
    and sidecars, not hidden ones), relative to the corpus folder (a single-file corpus:
    its name). What ``index_is_current`` compares to tell a changed corpus."""
    corpus = Path(corpus)
    if corpus.is_file():
        return {corpus.name: _stamp(corpus)}
    if not corpus.is_dir():
        return {}
    listing = {}
    for file in corpus.rglob("*"):
        relative = file.relative_to(corpus)
        if file.is_file() and is_read_by_build(relative):
            listing[relative.as_posix()] = _stamp(file)
    return dict(sorted(listing.items()))


def is_read_by_build(relative: Path) -> bool:
    if any(part.startswith(".") for part in relative.parts):
        return False  # hidden files and folders (.git, editor swap files)
    name = relative.name.lower()
    return name.endswith(SIDECAR_SUFFIX) or _suffix(relative) in FILE_SUFFIXES + CORPUS_SUFFIXES


def _stamp(file: Path) -> list[int]:
    st = file.stat()
    return [st.st_size, st.st_mtime_ns]
