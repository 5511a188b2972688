"""How the tools write a file: whole or not at all."""

from __future__ import annotations

from pathlib import Path


def write_whole(target: Path, content: str) -> None:
    """`content` written to a new file beside `target`, which then takes its place: a full disk
    leaves the old file as it was, never half of the new one. The old file is removed just
    before the rename: written over in place, or renamed over, it made ext4 allocate the blocks
    at once (mount option `auto_da_alloc`, on by default: Linux commit afd4672dc761), 7-48 ms a
    synth against 5-11 for new files. A link there is replaced, never written through."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")  # a killed run's: the next takes it
    try:
        partial.write_text(content, encoding="utf-8")
    except OSError as error:  # told as the file it is for, not the partial one
        partial.unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(target)) from None
    target.unlink(missing_ok=True)
    partial.rename(target)


def cannot_write(error: OSError, where: Path) -> str:
    """The one line a tool prints when it cannot write its output (no traceback)."""
    target = Path(error.filename) if error.filename else where
    blocked = next((p for p in (target, *target.parents) if p.is_file()), None)
    if isinstance(error, FileExistsError | NotADirectoryError) and blocked:
        return f"cannot write {target}: {blocked} is a file, not a folder"
    return f"cannot write {target}: {error.strerror or error}"
