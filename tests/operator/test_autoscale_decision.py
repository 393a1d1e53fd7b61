"""The autoscaling decision as a pure function: hovering, sustained load, bounds."""

from __future__ import annotations

from chatnet_operator.plan.autoscale import Decision, Policy, Sample, decide, recommend

POLICY = Policy(min_replicas=1, max_replicas=5, target_percent=70, window=60.0)
CAP = 1000  # maxClients of each replica


def samples(per_replica: list[list[int]], step: float = 5.0) -> list[Sample]:
    """One sample every ``step`` seconds from t=0, each listing clients per replica."""
    return [
        Sample(i * step, {f"f-{n}": c for n, c in enumerate(row)}, CAP)
        for i, row in enumerate(per_replica)
    ]


def run(history: list[Sample], current: int, last_change: float | None = None) -> Decision:
    return decide(POLICY, current, history, history[-1].at, last_change)


def test_recommendation_holds_clients_at_the_target_share() -> None:
    assert recommend(POLICY, Sample(0, {"a": 700, "b": 700}, CAP)) == 2
    assert recommend(POLICY, Sample(0, {"a": 701, "b": 700}, CAP)) == 3
    assert recommend(POLICY, Sample(0, {"a": 0}, CAP)) == 1, "never below minReplicas"
    assert recommend(POLICY, Sample(0, {"a": 1000, "b": 1000}, 100)) == 5, "never above maxReplicas"


def test_sustained_high_load_scales_up_with_a_reason() -> None:
    history = samples([[800, 800]] * 14)  # 80% for 65 s
    decision = run(history, current=2)
    assert decision.replicas == 3 and decision.remove == ()
    assert "1600/2000 clients (80%) stayed above the 70% target for 60s: 2 -> 3" in decision.reason


def test_a_short_burst_does_not_scale() -> None:
    history = samples([[500, 500]] * 10 + [[900, 900]] * 4)
    assert run(history, current=2).replicas == 2


def test_load_hovering_at_the_target_never_flaps() -> None:
    """Just above and just below 70% in turn, for ten minutes: no change at all."""
    rows = [[720, 720] if i % 2 else [680, 680] for i in range(120)]
    history = samples(rows)
    for end in range(13, len(history)):
        assert run(history[: end + 1], current=2).replicas == 2, f"flapped at sample {end}"


def test_sustained_low_load_scales_down_draining_the_emptiest_first() -> None:
    history = samples([[300, 10, 250, 5]] * 14)  # 565 of 4000
    decision = run(history, current=4)
    assert decision.replicas == 1
    assert decision.remove == ("f-3", "f-1", "f-2")
    assert "stayed below the 70% target" in decision.reason
    assert "emptiest drained first" in decision.reason


def test_scaling_down_stops_where_the_target_would_be_crossed() -> None:
    history = samples([[600, 600, 10]] * 14)  # 1210 clients: 2 replicas hold them at 60.5%
    decision = run(history, current=3)
    assert (decision.replicas, decision.remove) == (2, ("f-2",))


def test_ties_remove_the_highest_numbered() -> None:
    history = samples([[0, 0, 0]] * 14)
    assert run(history, current=3).remove == ("f-2", "f-1")


def test_nothing_changes_within_a_window_of_the_last_change() -> None:
    history = samples([[900, 900]] * 14)
    assert run(history, current=2, last_change=history[-1].at - 30).replicas == 2
    assert run(history, current=2, last_change=history[-1].at - 61).replicas == 3


def test_a_window_not_yet_seen_whole_changes_nothing() -> None:
    history = samples([[900, 900]] * 4)  # 15 s of data for a 60 s window
    assert run(history, current=2).replicas == 2


def test_bounds_are_enforced_at_once_and_never_passed() -> None:
    history = samples([[1000] * 5] * 14)
    assert run(history, current=5).replicas == 5, "maxReplicas is a ceiling"
    low = samples([[0]] * 14)
    assert run(low, current=1).replicas == 1, "minReplicas is a floor"
    assert run(low, current=0).replicas == 1
    over = run(samples([[5, 1, 9, 0, 3, 2, 7]] * 2), current=7)
    assert over.replicas == 5 and over.remove == ("f-3", "f-1")
    assert "above maxReplicas 5" in over.reason
