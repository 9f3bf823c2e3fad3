"""Import TensorFlow without its C++ start-up notice.

Importing TensorFlow (2.21) on a CPU with oneDNN enabled (the default on x86) prints, from two
of its shared libraries, "WARNING: All log messages before absl::InitializeLog() is called are
written to STDERR" followed by "I... port.cc:...] oneDNN custom operations are on...": twice per
process. It is logged through Abseil before Abseil logging is initialised, a path that ignores
TF_CPP_MIN_LOG_LEVEL and every log threshold (abseil-cpp PR #1957, still open), and it happens
in C++, below Python's warnings and logging. So we import TensorFlow once with the process's
stderr (file descriptor 2) captured, and write back everything it printed except those lines.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

_NOTICE = re.compile(r"All log messages before absl::InitializeLog\(\) is called|\] oneDNN custom operations are on")


def filter_notice(text: str) -> str:
    """`text` without the lines of TensorFlow's start-up notice."""
    return "".join(line for line in text.splitlines(keepends=True) if not _NOTICE.search(line))


def import_tensorflow() -> None:
    """Import TensorFlow (a no-op when already imported) with the start-up notice removed from
    what it writes to stderr; anything else it writes there is passed through."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            sys.stderr.write(filter_notice(capture.read().decode(errors="replace")))
            sys.stderr.flush()
