"""How ``make test`` (pytest-xdist, ``--dist loadfile``) hands the suite to its workers (tests/conftest.py)."""

from types import SimpleNamespace

import pytest

pytest.importorskip("xdist")


class _Worker:
    """A stand-in for xdist's worker controller: records the test indexes it is sent."""

    def __init__(self, name):
        self.sent, self.shutting_down, self.gateway = [], False, SimpleNamespace(id=name)

    def send_runtest_some(self, indexes):
        self.sent.append(list(indexes))

    def shutdown(self):
        self.shutting_down = True


def _config(dist):
    option = SimpleNamespace(dist=dist, tx=["2*popen"], loadscopereorder=True)
    return SimpleNamespace(option=option, getoption=lambda name, default=None: getattr(option, name, default),
                           getvalue=lambda name: getattr(option, name))


COLLECTION = ["tests/test_a.py::t1",
              "tests/test_big.py::t1", "tests/test_big.py::t2", "tests/test_big.py::t3",
              "notebooks/01_quickstart.ipynb::01_quickstart.ipynb",
              "tests/test_c.py::t1", "tests/test_c.py::t2",
              "notebooks/04_interference_and_capacity.ipynb::04_interference_and_capacity.ipynb"]


def _conftest(config):
    return next(p for p in config.pluginmanager.get_plugins() if hasattr(p, "suite_order"))


def test_suite_order_puts_the_notebooks_first_then_the_largest_files(pytestconfig):
    order = [COLLECTION[i] for i in _conftest(pytestconfig).suite_order(COLLECTION)]
    assert order == [COLLECTION[i] for i in (4, 7, 1, 2, 3, 5, 6, 0)]


def test_loadfile_sends_every_notebook_first_to_one_worker(pytestconfig):
    collected = [COLLECTION[i] for i in _conftest(pytestconfig).suite_order(COLLECTION)]   # as the workers collect
    sched = pytestconfig.hook.pytest_xdist_make_scheduler(config=_config("loadfile"), log=None)
    workers = [_Worker("gw0"), _Worker("gw1")]
    for w in workers:
        sched.add_node(w)
        sched.add_node_collection(w, collected)
    sched.schedule()
    # workers run the indexes they are sent in their own collection
    first, second = ([[collected[i] for i in batch] for batch in w.sent] for w in workers)
    # one worker's first unit is both notebooks, in their order; the other's the file with the most tests
    assert first[0] == [COLLECTION[4], COLLECTION[7]]
    assert second[0] == COLLECTION[1:4]
    sent = [n for batch in first + second for n in batch]
    waiting = [n for unit in sched.workqueue.values() for n in unit]
    assert sorted(sent + waiting) == sorted(COLLECTION) and len(set(sent + waiting)) == len(COLLECTION)


def test_other_distribution_modes_keep_xdists_scheduler(pytestconfig):
    assert pytestconfig.hook.pytest_xdist_make_scheduler(config=_config("load"), log=None) is None
