"""The backend layer: namespaces, devices, random keys, validation and kernel dispatch."""

from .dispatch import engine, select
from .namespace import (
    array_namespace,
    device_of,
    is_cupy,
    is_sparse,
    is_torch,
    native,
    to_device,
    to_numpy,
)
from .random import check_rng, device_rng, draw_key
from .validation import (
    NotConvergedWarning,
    check_array,
    check_finite,
    check_input,
    check_positive_int,
    check_size,
    float_dtype,
)

__all__ = [
    "NotConvergedWarning",
    "array_namespace",
    "check_array",
    "check_input",
    "check_finite",
    "check_positive_int",
    "check_rng",
    "check_size",
    "device_of",
    "device_rng",
    "draw_key",
    "engine",
    "float_dtype",
    "is_cupy",
    "is_sparse",
    "is_torch",
    "native",
    "select",
    "to_device",
    "to_numpy",
]
