import numpy as np

from chaos.attribution import fault_windows, label_faults, label_phases, phase_windows

EVENTS = [
    {"event": "phase_started", "phase": "baseline", "mono": 10.0},
    {"event": "phase_ended", "phase": "baseline", "mono": 20.0},
    {"event": "phase_started", "phase": "fault", "mono": 20.0},
    {"event": "fault_injected", "fault_id": "f1", "mono": 20.0},
    {"event": "fault_injected", "fault_id": "f2", "mono": 25.0},
    {"event": "fault_reverted", "fault_id": "f1", "mono": 30.0},
    {"event": "phase_ended", "phase": "fault", "mono": 32.0},
    {"event": "fault_reverted", "fault_id": "f2", "mono": 32.0},
]


def test_every_sample_gets_its_phase_and_active_faults():
    t = np.array([5.0, 10.0, 19.99, 20.0, 26.0, 31.0, 40.0])
    assert list(label_phases(t, phase_windows(EVENTS))) == ["", "baseline", "baseline", "fault", "fault", "fault", ""]
    assert list(label_faults(t, fault_windows(EVENTS))) == ["", "", "", "f1", "f1,f2", "f2", ""]


def test_a_fault_never_reverted_counts_until_the_last_event():
    events = EVENTS[:5]
    assert dict((w[0], w[2]) for w in fault_windows(events)) == {"f1": 25.0, "f2": 25.0}
