import threading

import numpy as np
import scipy.linalg  # noqa: F401  (both BLAS libraries loaded before counting them)
from threadpoolctl import threadpool_info, threadpool_limits

from projkit._backend.threads import serial_blas


def _blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_serial_blas_sets_one_thread_and_restores():
    with threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        assert before and all(n == 2 for n in before)
        with serial_blas(np):
            assert all(n == 1 for n in _blas_threads())
            with serial_blas(np):  # nested: still one thread, inner exit restores nothing
                assert all(n == 1 for n in _blas_threads())
            assert all(n == 1 for n in _blas_threads())
        assert _blas_threads() == before
        # an exception inside restores too
        try:
            with serial_blas(np):
                raise KeyError
        except KeyError:
            pass
        assert _blas_threads() == before


def test_serial_blas_concurrent_threads_restore_once():
    with threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        barrier = threading.Barrier(4)
        seen = []

        def work():
            with serial_blas(np):
                barrier.wait()
                seen.append(all(n == 1 for n in _blas_threads()))
                barrier.wait()

        ts = [threading.Thread(target=work) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert seen == [True] * 4
        assert _blas_threads() == before


def test_serial_blas_is_a_noop_for_other_namespaces():
    import array_api_strict as xps

    with threadpool_limits(2, user_api="blas"):
        with serial_blas(xps):
            assert all(n == 2 for n in _blas_threads())


def test_serial_blas_in_a_torch_process_leaves_torch_alone():
    # inside a torch process: NumPy's BLAS goes to one thread and back, torch's intra-op pool
    # is untouched, and products computed inside the context are the same numbers
    import torch

    torch.set_num_threads(2)
    a = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    (a @ a).sum()  # torch's pool is started
    x = np.random.default_rng(0).standard_normal((200, 200))
    ref = x @ x
    with threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        with serial_blas(np):
            assert all(n == 1 for n in _blas_threads())
            assert torch.get_num_threads() == 2
            np.testing.assert_allclose(x @ x, ref, rtol=1e-13, atol=1e-12)
            np.testing.assert_allclose((a @ a).numpy(), (a.numpy() @ a.numpy()), rtol=1e-4,
                                       atol=1e-4)
        assert _blas_threads() == before and torch.get_num_threads() == 2
