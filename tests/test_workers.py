"""The worker threads of a team: every member at once on its own thread, errors
raised in the caller, teams from two Python threads never sharing a worker."""

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numba import njit

from fastmlp.kernels.sync import (
    BOARD_LEFT,
    BOARD_WORKERS,
    enter_team,
    leave_team,
    new_board,
)
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


def test_a_worker_that_went_to_sleep_wakes_for_the_next_task():
    # a worker waits a while for its next task, then sleeps on its lock: both
    # ways of being handed a task must start it, whatever the timing
    seen = []
    for pause in (0.0, 0.0, 0.05, 0.0, 0.2):
        time.sleep(pause)
        run_team(lambda t: seen.append(t), 2)
    assert sorted(seen) == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_compiled_members_marking_the_board_hand_over_in_both_directions():
    # members that mark the board as compiled launchers do (enter_team, leave_team):
    # every member runs once per call, the caller returns after all, over many calls
    board_calls = 300
    hits = np.zeros((board_calls, 2), dtype=np.int64)
    for call in range(board_calls):
        board = new_board()
        run_team(lambda t, c=call, b=board: _marked_member(b, np.int64(t), hits[c]), 2, board)
    assert (hits == 1).all()
    assert board[BOARD_LEFT] == 1 and board[BOARD_WORKERS] == 1


@njit(nogil=True)
def _marked_member(board, t, row):
    enter_team(board, t)
    row[t] += 1
    leave_team(board, t)


def test_a_forked_child_starts_its_own_workers():
    # the parent's idle workers are threads the child does not have: a team in the
    # child must not wait for them
    run_team(lambda t: None, 2)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        assert pool.apply_async(_team_in_child).get(timeout=60) == [0, 1]


def _team_in_child():
    seen = []
    run_team(lambda t: seen.append(t), 2)
    return sorted(seen)
