"""The worker threads of a team: every member at once on its own thread, errors
raised in the caller, teams from two Python threads never sharing a worker."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from fastmlp.kernels.workers import run_team


def test_members_run_at_once_on_their_own_threads():
    # a barrier that every member must reach before any can leave: it would
    # time out if two members shared a thread or ran one after the other
    n = 4
    meeting = threading.Barrier(n, timeout=10)
    seen = {}

    def task(member_no):
        seen[member_no] = threading.get_ident()
        meeting.wait()

    run_team(task, n)
    assert sorted(seen) == list(range(n))
    assert len(set(seen.values())) == n
    assert seen[0] == threading.get_ident()  # member 0 on the calling thread


def test_one_thread_runs_on_the_caller():
    seen = []
    run_team(lambda t: seen.append((t, threading.get_ident())), 1)
    assert seen == [(0, threading.get_ident())]


@pytest.mark.parametrize("failing", [0, 2])
def test_an_error_of_any_member_reaches_the_caller_after_all_finished(failing):
    finished = []

    def task(member_no):
        if member_no == failing:
            raise ValueError(f"member {member_no}")
        finished.append(member_no)

    with pytest.raises(ValueError, match=f"member {failing}"):
        run_team(task, 3)
    assert sorted(finished) == sorted(set(range(3)) - {failing})
    run_team(lambda t: None, 3)  # the workers are still usable


def test_concurrent_teams_each_get_their_own_workers():
    # two teams of 3 from two Python threads, each meeting at its own barrier:
    # a worker shared between the teams would deadlock one of them
    def team(_):
        meeting = threading.Barrier(3, timeout=10)
        run_team(lambda t: meeting.wait(), 3)
        return True

    with ThreadPoolExecutor(2) as pool:
        assert all(pool.map(team, range(6)))
