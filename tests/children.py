"""Child Python processes for tests that signal or kill them."""

import contextlib
import subprocess
import sys


@contextlib.contextmanager
def child_process(args, env=None):
    """``python *args`` with text pipes, killed and its pipes closed however the test ends."""
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
