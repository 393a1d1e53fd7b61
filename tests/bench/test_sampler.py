"""The benchmarks' sampler keeps sampling when one measurement fails."""

from __future__ import annotations

import http.client
import time

from bench.sampler import Sampler


def test_a_failing_measurement_costs_one_sample_not_the_run() -> None:
    calls = 0

    def measure() -> dict[str, float]:
        nonlocal calls
        calls += 1
        if calls == 2:  # a replica closed mid-answer
            raise http.client.IncompleteRead(b"")
        return {"n": float(calls)}

    sampler = Sampler(measure, 0.01).start()
    deadline = time.monotonic() + 5
    while len(sampler.samples) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    assert [v["n"] for _, v in sampler.samples[:3]] == [1.0, 3.0, 4.0]
    assert len(sampler.errors) == 1 and "IncompleteRead" in sampler.errors[0]


def test_a_sample_is_stamped_when_its_measurement_is_done() -> None:
    # A slow measurement that a mark falls in the middle of comes after the mark.
    def measure() -> dict[str, float]:
        time.sleep(0.2)
        return {"n": 1.0}

    sampler = Sampler(measure, 0.01).start()
    time.sleep(0.05)
    sampler.mark("end")  # during the first measurement
    deadline = time.monotonic() + 5
    while not sampler.samples and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    (mark, _), (first, _) = sampler.marks[0], sampler.samples[0]
    assert first > mark
