"""bench/login_flood.py end to end, short: guesses answered, chat goes on, nothing lost.

Four connections guess passwords as fast as the server answers while three
users chat: every guess gets its answer (904), and every chat line reaches
every other user. How much the guesses slow chat down is the benchmark's
own figure (docs/benchmarks.md), not a timed assertion here.
"""

from __future__ import annotations

import re

from tests.bench import run_bench


def test_password_guessers_are_answered_and_chat_loses_nothing() -> None:
    result = run_bench(
        "login_flood.py",
        *("--users", "3", "--seconds", "2", "--guessers", "4", "--rate", "20"),
        timeout=120,
    )
    out = result.stdout
    guesses = re.search(r"wrong passwords answered: (\d+) in", out)
    assert guesses and int(guesses.group(1)) >= 4, out + result.stderr
    delivered = re.search(r"delivered (\d+)/(\d+)", out)
    assert delivered and delivered.group(1) == delivered.group(2) != "0", out
