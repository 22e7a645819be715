"""JAX's persistent compilation cache, on by default for the ``keras3-jax`` target.

On JAX nearly all the time of an example goes to XLA compiling programs: a
``jax.jit`` of the call path once per input shape, and in eager calls (models,
``predict``, ``fit``) the ``lax.scan`` of every recurrent layer on every call,
because each eager call traces a new step function. The programs repeat: the
same layer configuration and shape come back in later examples, in other
properties, in the other pytest-xdist worker and in the next run. JAX's
persistent compilation cache keys each compiled executable by the program
(without its source locations), the compile options, the device and the
jax/jaxlib versions, so a hit is the executable XLA would have produced.

The cache lives in ``RNN_HARNESS_JAX_CACHE`` (default
``$XDG_CACHE_HOME/rnn-harness/jax-compilation``, else ``~/.cache/...``);
``RNN_HARNESS_JAX_CACHE=off`` turns it off; a named directory that cannot be
written is a usage error, an unwritable default runs without the cache (with a
warning). A cache the user configured for JAX
themselves (``JAX_COMPILATION_CACHE_DIR``) is used as it is. The directory is
trimmed to ``MAX_CACHE_BYTES`` (oldest entries first) when a target starts. JAX
writes entries without a lock; an entry another worker is still writing reads
as a miss, never as a wrong program: entries are compressed (zlib or zstd), a
truncated one fails to decompress, and JAX then warns and compiles.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from harness.errors import HarnessUsageError

CACHE_ENV = "RNN_HARNESS_JAX_CACHE"
OFF_VALUES = ("off", "none", "0", "false", "no")
# Entries are 10-100 KB each; 1 GiB holds tens of thousands of programs.
MAX_CACHE_BYTES = 2**30


# The JAX options the cache is set up with; JAX releases before 0.4.26 or so lack some.
CACHE_OPTIONS = (
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
    "jax_compilation_cache_max_size",
)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rnn-harness" / "jax-compilation"


def cache_dir_from_env() -> Path | None:
    """The directory ``RNN_HARNESS_JAX_CACHE`` names, the default if unset, ``None`` if off."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in OFF_VALUES:
        return None
    return Path(value).expanduser() if value else default_cache_dir()


def enable_jax_compilation_cache() -> dict[str, Any]:
    """Point JAX's persistent cache at ``cache_dir_from_env()``; return what is in effect.

    Call before the first compilation of the process: JAX opens its cache once.
    Returns ``{"dir": None}`` when off, else the directory and who set it.
    """
    import jax

    missing = [name for name in CACHE_OPTIONS if not hasattr(jax.config, name)]
    if missing:  # an older JAX (e.g. in a release-line matrix): run without the cache
        return {"dir": None, "unsupported": f"jax {jax.__version__} has no {', '.join(missing)}"}
    own = jax.config.jax_compilation_cache_dir
    if own:
        return {"dir": str(own), "set_by": "JAX_COMPILATION_CACHE_DIR"}
    directory = cache_dir_from_env()
    if directory is None:
        return {"dir": None}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        writable = os.access(directory, os.W_OK)
        reason = "not writable"
    except OSError as error:
        writable, reason = False, error.strerror
    if not writable:
        message = (
            f"{CACHE_ENV}: cannot use {directory} for the JAX compilation cache ({reason}). "
            f"Set {CACHE_ENV} to a writable directory, or to 'off'."
        )
        if os.environ.get(CACHE_ENV, "").strip():
            raise HarnessUsageError(message)  # the user named it: say so, run nothing
        # The default place (a read-only home, say): run without the cache, and say it.
        warnings.warn(message + " Running without it (slower on JAX).", stacklevel=2)
        return {"dir": None, "warning": message}
    jax.config.update("jax_compilation_cache_dir", str(directory))
    # Every program counts: ours compile in 0.05-0.5 s, under JAX's default threshold of 1 s.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # No eviction inside JAX: its LRU cache lists the whole directory and reads every
    # entry's access time on each write, which made a run slower than no cache at all.
    # The directory is trimmed once per process instead.
    jax.config.update("jax_compilation_cache_max_size", -1)
    trim_cache(directory, MAX_CACHE_BYTES)
    return {"dir": str(directory), "set_by": CACHE_ENV, "max_bytes": MAX_CACHE_BYTES}


def trim_cache(directory: Path, max_bytes: int) -> int:
    """Delete the oldest entries until ``directory`` holds at most ``max_bytes``.

    Returns how many files were deleted. Another process may be using the cache:
    files that vanish meanwhile are skipped.
    """
    entries = []
    for path in directory.iterdir():
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    deleted = 0
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
        deleted += 1
    return deleted
