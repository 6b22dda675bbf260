"""Start a test's subprocess with SIGINT at its default, as from a terminal.

A shell without job control starts a background job (the README's test
command run with ``&`` from a script) with SIGINT ignored, and an ignored
signal stays ignored in every process that the job starts: Python then never
installs its KeyboardInterrupt handler, and a SIGINT sent to play a user's
Ctrl-C does nothing.  Tests that send SIGINT start their child with
:func:`popen_interruptible`: for the moment of the start this process handles
SIGINT (a handled signal is reset to its default in a new program), so the
child begins with SIGINT at its default wherever pytest was started.  No code
runs in the child between fork and exec (``preexec_fn`` is unsafe once the
test process has threads, e.g. a Dask client's).
"""

import signal
import subprocess


def popen_interruptible(*args, **kwargs):
    """``subprocess.Popen(*args, **kwargs)`` whose child starts with SIGINT at its default."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:  # handled or default: the child gets the default
        return subprocess.Popen(*args, **kwargs)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(*args, **kwargs)
    finally:
        signal.signal(signal.SIGINT, previous)
