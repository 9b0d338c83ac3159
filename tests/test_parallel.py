"""Parallel runs share the machine: disjoint cores per job, thread limits to match, make's -j understood."""

from harness.groups.parallel import core_slots, make_jobs, thread_environment, usable_cores


def test_each_job_gets_its_own_cores():
    cores = usable_cores()
    for parallel in range(1, len(cores) + 1):
        slots = core_slots(parallel)
        assert len(slots) == parallel and all(slots)
        assert sum(len(slot) for slot in slots) == len(set().union(*slots))  # disjoint
    assert len(core_slots(len(cores) + 3)) == len(cores) + 3  # more jobs than cores: cores are shared


def test_make_minus_j_sets_the_number_of_jobs():
    assert make_jobs(" -j2 --jobserver-auth=3,4") == 2
    assert make_jobs("k -j4 --jobserver-auth=fifo:/tmp/x") == 4
    assert make_jobs("") == 1 and make_jobs("--no-print-directory") == 1
    assert make_jobs(" -j") == len(usable_cores())  # a bare -j: as many as there are cores


def test_thread_limits_cover_tensorflow_xla_and_blas():
    environment = thread_environment(1)
    assert environment["TF_NUM_INTRAOP_THREADS"] == environment["OMP_NUM_THREADS"] == "1"
    assert "--xla_cpu_multi_thread_eigen=false" in environment["XLA_FLAGS"]
