"""The Explorer's worker on its own: latest wins, warm-up yields to requests, close
joins, and the worker never outlives (or keeps alive) its owner."""

import gc
import threading
import time
import weakref

from nbinterp.errors import CancelledError
from nbinterp.widgets.updates import Job, Scheduler, Work


class Owner:
    """Draws by recording the generation; warm-up items record their names."""

    def __init__(self, items=()):
        self.drawn, self.warmed, self.items = [], [], list(items)
        self.works = None  # Work items to plan instead of the named ones
        self.gate = threading.Event()
        self.gate.set()

    def draw(self, job):
        self.gate.wait(10)
        job.check()
        self.drawn.append(job.generation)

    def plan(self, job):
        if self.works is not None:
            return self.works
        return [Work(name, lambda j, name=name: self.warmed.append(name)) for name in self.items]


def test_latest_request_wins_and_superseded_draws_stop():
    owner = Owner()
    owner.gate.clear()
    scheduler = Scheduler(owner.draw)
    for _ in range(5):
        scheduler.request()
    owner.gate.set()
    assert scheduler.wait(10)
    assert owner.drawn[-1] == 5 and len(owner.drawn) <= 2  # at most the first and the last
    assert scheduler.close()


def test_warm_up_runs_after_the_draw_and_requests_pre_empt_it():
    owner = Owner(items=["a", "b", "c"])
    scheduler = Scheduler(owner.draw, plan_warm=owner.plan)
    scheduler.request()
    assert scheduler.warm(block=True, timeout=10)
    assert owner.warmed == ["a", "b", "c"] and scheduler.warm_items_done == 3

    running, release = threading.Event(), threading.Event()

    def slow(job):
        running.set()
        job.cancel.wait(10)
        release.set()

    owner.works = [Work("slow", slow), Work("after", lambda job: owner.warmed.append("after"))]
    scheduler.request()
    assert running.wait(10) and scheduler.warming
    scheduler.request()  # pre-empts: the running item is cancelled, the rest dropped
    assert release.wait(10)
    assert scheduler.preemptions == 1
    assert scheduler.wait(10)
    scheduler.close()
    assert "after" not in owner.warmed


def test_job_cancel_is_an_event_and_check_raises():
    job = Job(3)
    assert not job.superseded and not job.cancelled()
    job.cancel.set()
    assert job.superseded and job.cancelled()
    try:
        job.check()
    except CancelledError:
        pass
    else:
        raise AssertionError("check() did not raise")
    seen = []
    job = Job(1, on_progress=lambda j, fraction, what: seen.append((fraction, what)))
    job.progress(1.7, "scan")
    Job(1, warm=True, on_progress=lambda *a: seen.append(a)).progress(0.5)
    assert seen == [(1.0, "scan")]  # clamped; warm-up jobs stay silent


def test_close_cancels_and_joins():
    owner = Owner()
    started = threading.Event()

    def long_draw(job):
        started.set()
        job.cancel.wait(30)

    owner.draw = long_draw
    scheduler = Scheduler(owner.draw)
    scheduler.request()
    assert started.wait(10)
    t0 = time.perf_counter()
    assert scheduler.close(timeout=5)
    assert time.perf_counter() - t0 < 5 and not scheduler.alive


def test_the_worker_neither_keeps_nor_outlives_its_owner():
    owner = Owner(items=["a"])
    scheduler = Scheduler(owner.draw, plan_warm=owner.plan)
    scheduler.request()
    assert scheduler.warm(block=True, timeout=10)
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None
    deadline = time.monotonic() + 5
    while scheduler.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not scheduler.alive
