"""Run one fuzz target under atheris: ``python -m tests.fuzz.run TARGET [libFuzzer flags]``.

Its seed corpus is ``tests/fuzz/corpus/TARGET`` (read, never written: new
inputs go to a corpus directory given on the command line, if any).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

CORPUS = Path(__file__).parent / "corpus"


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.fuzz.run TARGET [libFuzzer flags] [corpus dirs]")
    name, flags = sys.argv[1], sys.argv[2:]
    with atheris.instrument_imports(include=["chatnet_node", "chatnet_operator", "websockets"]):
        from tests.fuzz.targets import TARGETS  # noqa: PLC0415 (instrumented)
    if name not in TARGETS:
        sys.exit(f"unknown target {name!r}; one of {', '.join(TARGETS)}")
    seeds = CORPUS / name
    dirs = [a for a in flags if not a.startswith("-")]
    args = [sys.argv[0], *flags]
    if not dirs:
        # libFuzzer adds what it finds to the first directory: a scratch one,
        # so the committed seeds stay as they are.
        args.append(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    if str(seeds) not in dirs:
        args.append(str(seeds))
    atheris.Setup(args, TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
