"""The worker threads of a team: every member at once on its own thread, errors
raised in the caller, teams from two Python threads never sharing a worker."""

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numba import njit

import fastmlp.kernels.workers as workers
from fastmlp.kernels.sync import (
    BOARD_ENTERED,
    BOARD_LEFT,
    BOARD_SLOTS,
    BOARD_WORKERS,
    SLOT_LET_OFF,
    SLOT_STARTED,
    enter_team,
    finish_and_await,
    leave_team,
    new_board,
    post_task,
    take_task,
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


# ---------------------------------------------------------------- optional workers

@njit(nogil=True)
def _leave(board):
    leave_team(board, 0)


def test_member_0_lets_off_the_workers_that_have_not_taken_their_task():
    # whichever comes first decides: worker 1 took its task before member 0 left,
    # worker 2 did not, and finds it let off; a board without optional workers lets
    # nobody off
    board = new_board(optional_workers=2)
    board[BOARD_WORKERS], board[BOARD_ENTERED], board[BOARD_LEFT] = 2, 1, 1
    assert take_task(board, 1, 8)
    _leave(board)
    assert not take_task(board, 2, 8)
    assert list(board[BOARD_SLOTS:]) == [SLOT_STARTED, SLOT_LET_OFF]
    fixed = new_board()
    fixed[BOARD_WORKERS], fixed[BOARD_ENTERED], fixed[BOARD_LEFT] = 1, 1, 1
    _leave(fixed)
    assert take_task(fixed, 1, 8)


def test_a_watching_worker_passes_over_the_tasks_it_was_let_off():
    # a worker's counters (workers._Worker's layout): task 1 let off before the worker
    # looked is counted done without running, the watch goes on; task 2, pending,
    # is returned to be run
    counts = np.zeros(workers._COUNTERS, dtype=np.int64)
    board = new_board(optional_workers=1)
    board[BOARD_WORKERS], board[BOARD_ENTERED] = 1, 1
    board[BOARD_SLOTS] = SLOT_LET_OFF
    args = (workers._GIVEN, 64, workers._BOARD_AT, workers._MEMBER_AT)
    post_task(counts, workers._GIVEN, 1, workers._ASLEEP, workers._BOARD_AT, board,
              workers._MEMBER_AT, 1)
    assert finish_and_await(counts, workers._FINISHED, 0, workers.NO_BOARD, *args) == -1
    assert counts[workers._FINISHED] == 1
    second = new_board(optional_workers=1)
    second[BOARD_WORKERS], second[BOARD_ENTERED] = 1, 1
    post_task(counts, workers._GIVEN, 2, workers._ASLEEP, workers._BOARD_AT, second,
              workers._MEMBER_AT, 1)
    assert finish_and_await(counts, workers._FINISHED, 1, workers.NO_BOARD, *args) == 2
    assert second[BOARD_SLOTS] == SLOT_STARTED and second[BOARD_LEFT] == 0


@njit(nogil=True)
def _optional_member(board, t, row):
    enter_team(board, t)
    row[t] += 1
    leave_team(board, t)


def _post_held(worker, args):
    # what _Worker.start does after it set the task: post it, and wake the worker if
    # it went to sleep meanwhile
    if post_task(*args):
        worker._wake.release()


def test_a_team_returns_without_a_worker_that_does_not_come(monkeypatch):
    # the worker's task is posted only after member 0 has returned (as when another
    # program's thread holds the worker's core): the call returns without it, the
    # task never runs, and the worker serves the next calls as ever
    run_team(lambda t: None, 2)  # an idle worker
    held = []
    monkeypatch.setattr(workers, "post_task", lambda *args: held.append(args) and False)
    hits = np.zeros(2, dtype=np.int64)
    board = new_board(optional_workers=1)
    run_team(lambda t: _optional_member(board, np.int64(t), hits), 2, board)
    assert list(hits) == [1, 0] and board[BOARD_SLOTS] == SLOT_LET_OFF
    monkeypatch.undo()
    (late,) = [w for w in workers._idle if not w.ready()]
    assert late._task is None  # the let-off task's arguments let go of
    _post_held(late, held[0])
    late.wait()
    assert list(hits) == [1, 0]
    started = 0
    for _ in range(50):  # a worker that took its task ran it once; one let off, never
        board = new_board(optional_workers=1)
        run_team(lambda t, b=board: _optional_member(b, np.int64(t), hits), 2, board)
        assert board[BOARD_SLOTS] in (SLOT_STARTED, SLOT_LET_OFF)
        started += board[BOARD_SLOTS] == SLOT_STARTED
    for worker in workers._idle:
        worker.wait()
    assert hits[0] == 51 and hits[1] == started


def test_a_team_of_fixed_members_waits_for_a_worker_still_on_its_way(monkeypatch):
    # a worker let off by an optional team, still to see it, is waited for by a team
    # that needs every member (its barrier would otherwise wait for a thread that
    # never comes): every member runs once
    run_team(lambda t: None, 2)
    held = []
    monkeypatch.setattr(workers, "post_task", lambda *args: held.append(args) and False)
    board = new_board(optional_workers=1)
    run_team(lambda t: _optional_member(board, np.int64(t), np.zeros(2, np.int64)), 2, board)
    monkeypatch.undo()
    (late,) = [w for w in workers._idle if not w.ready()]
    threading.Timer(0.05, lambda: _post_held(late, held[0])).start()
    meeting = threading.Barrier(2, timeout=10)
    seen = []
    run_team(lambda t: (meeting.wait(), seen.append(t)), 2)
    assert sorted(seen) == [0, 1]


def test_a_worker_that_catches_up_meanwhile_is_not_both_in_a_team_and_idle(monkeypatch):
    # an optional team looks at each idle worker once: one still behind at that look
    # goes back among the idle ones, even if it catches up before the team is made
    class CatchingUp:
        looks = 0

        def ready(self):
            self.looks += 1
            return self.looks > 1

    worker = CatchingUp()
    monkeypatch.setattr(workers, "_idle", [worker])
    crew = workers._take_crew(1, optional=True)
    assert crew == [] and workers._idle == [worker]
