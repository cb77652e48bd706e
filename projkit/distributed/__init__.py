"""projkit.distributed: the shared, cluster-free pieces of projkit's Dask engine.

Passing a ``dask.array.Array`` to :func:`projkit.sketch`, :func:`projkit.sketch_operator`'s
``@``, :func:`projkit.approx_matmul`, :func:`projkit.merge_sketches`, :func:`projkit.rsvd` or
:func:`projkit.range_finder` or :func:`projkit.fastrp` runs the blockwise engines that sit
beside each algorithm (``sketching/_linear_dask.py``, ``sketching/_coordinated_dask.py``,
``sketching/_fastrp_dask.py``,
``factorizations/_rsvd_dask.py``). This package holds what they share: checks of dask input,
chunk offsets, tree reductions, the two blockwise products ``A @ Z`` and ``Aᵀ B``, a TSQR
and the fresh re-read of a lazy input for a second pass. Nothing
here starts or needs a cluster; the graphs run on whatever Dask scheduler is active.
"""

from ._blocks import (
    check_dask,
    check_row_chunks,
    chunk_offsets,
    fresh_pass,
    materialized,
    matmul,
    serial,
    transpose_matmul,
    tree_sum,
    tsqr,
)

__all__ = ["check_dask", "check_row_chunks", "chunk_offsets", "fresh_pass", "materialized",
           "matmul", "serial", "transpose_matmul", "tree_sum", "tsqr"]
