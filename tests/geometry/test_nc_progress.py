import pytest

from ncsweep.geometry import NCProgress, iterations_to_match


def test_progress_records_the_first_step_at_threshold_only():
    p = NCProgress(95.0)
    p.update(10, {"nc1": 90.0, "erank_inter": 96.0})
    p.update(20, {"nc1": 95.0, "erank_inter": 50.0})
    p.update(30, {"nc1": 99.0, "hdr": 10.0})
    assert p.iters == {"erank_inter": 10, "nc1": 20}
    restored = NCProgress()
    restored.load_state_dict(p.state_dict())
    assert restored.iters == p.iters
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        NCProgress(150.0)


def test_iterations_to_match_uses_the_reference_final_value_and_direction():
    reference = [
        (0, {"nc1": 10.0, "erank_inter": 2.0}),
        (500, {"nc1": 1.0, "erank_inter": 5.0}),
        (1000, {"nc1": 0.5, "erank_inter": 6.0}),
    ]
    run = [
        (0, {"nc1": 9.0, "erank_inter": 3.0}),
        (50, {"nc1": 0.6, "erank_inter": 6.5}),
        (75, {"nc1": 0.5, "erank_inter": 7.0}),
    ]
    assert iterations_to_match(run, reference) == {"nc1": 0.075, "erank_inter": 0.05}


def test_iterations_to_match_is_none_when_never_matched():
    reference = [(100, {"align_proto_class": 0.1, "mir": 0.9})]
    run = [(10, {"align_proto_class": 0.2, "mir": 0.95}), (20, {"align_proto_class": 0.11})]
    assert iterations_to_match(run, reference) == {"align_proto_class": None, "mir": 0.1}
