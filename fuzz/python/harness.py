"""What the atheris harnesses in this directory share: the command line and replay.

    python fuzz/python/<harness>.py [libFuzzer flags] [CORPUS_DIR ...]   # fuzz (atheris)
    python fuzz/python/<harness>.py --replay PATH ...                       # each input once

``--replay`` needs no atheris: it runs every file (or every file in every directory) once
through the same test function and prints how many inputs passed; the first failure
propagates. ``scripts/fuzz.sh`` and ``tests/test_fuzz_smoke.py`` use both modes.
"""

import hashlib
import os
import shlex
import sys
import time


def _inputs(paths):
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if os.path.isfile(full):
                    yield full
        else:
            yield path


def main(test_one_input, name):
    """Run ``test_one_input`` under atheris, or replay files with ``--replay``. Every
    Python function loaded by then (ferrotypes, pycparser, ...) is instrumented for
    coverage; the Rust extension is not (its paths are fuzzed by cargo-fuzz)."""
    args = sys.argv[1:]
    if args[:1] == ["--replay"]:
        started, count = time.monotonic(), 0
        for path in _inputs(args[1:]):
            with open(path, "rb") as f:
                data = f.read()
            try:
                test_one_input(data)
            except BaseException:
                print("%s: input %s failed" % (name, path), file=sys.stderr)
                raise
            count += 1
        print("%s: %d inputs replayed, 0 failures (%.1f s)" % (name, count, time.monotonic() - started))
        return
    import atheris

    prefix = next((a.split("=", 1)[1] for a in args if a.startswith("-artifact_prefix=")), "./")

    def keep_failing_input(data):
        # atheris does not always write the input of an uncaught Python exception (it
        # may leave an empty artifact): write it first, then let atheris report it.
        try:
            test_one_input(data)
        except BaseException:
            path = "%scrash-%s" % (prefix, hashlib.sha1(data).hexdigest())
            with open(path, "wb") as f:
                f.write(data)
            print("%s: failing input written to %s" % (name, path), file=sys.stderr)
            raise

    atheris.instrument_all()
    # libFuzzer's merge and fork modes start argv[0] again through the shell: name the
    # interpreter too, since the harness is a script and not an executable.
    argv0 = "%s %s" % (shlex.quote(sys.executable), shlex.quote(os.path.abspath(sys.argv[0])))
    atheris.Setup([argv0] + args, keep_failing_input)
    atheris.Fuzz()
