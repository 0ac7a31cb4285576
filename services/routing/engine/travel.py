"""Where things are and how long it takes between them: locations and travel matrices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .checks import check_num, fail


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        check_num("lat", self.lat, lo=-90.0)
        check_num("lon", self.lon, lo=-180.0)
        if self.lat > 90.0:
            raise fail("lat", f"must be <= 90, got {self.lat}")
        if self.lon > 180.0:
            raise fail("lon", f"must be <= 180, got {self.lon}")


IntMatrix = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class TravelMatrix:
    """Square matrices over *locations*: all depots (in problem order), then all stops.

    ``duration_s`` is what the objective minimises and what schedules use;
    ``distance_m`` is reported.
    """

    distance_m: IntMatrix
    duration_s: IntMatrix

    def __post_init__(self) -> None:
        for name in ("distance_m", "duration_s"):
            arr = np.array(getattr(self, name), dtype=np.int64, copy=True)
            if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
                raise fail(f"matrix.{name}", f"must be a square matrix, got shape {arr.shape}")
            if (arr < 0).any():
                raise fail(f"matrix.{name}", "must not contain negative values")
            arr.flags.writeable = False  # immutable like the rest of the problem
            object.__setattr__(self, name, arr)
        if self.distance_m.shape != self.duration_s.shape:
            raise fail("matrix", "distance_m and duration_s must have the same shape")

    @property
    def size(self) -> int:
        return int(self.distance_m.shape[0])


MatrixFactory = Callable[[list[Location]], TravelMatrix]
