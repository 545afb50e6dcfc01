"""A shift in the mean of number features, found by a self-starting CUSUM on their block means.

The data-drift judge (:class:`~driftline.rules.datadrift.DataWatch`) feeds each number feature's
block means here when a stream's ``drift.data`` is ``CUSUM``. Per feature, the means seen since the
feature was last made fresh are its reference (their running mean and variance); once ``reference``
blocks are in, each new mean is standardised against them and added to a two-sided CUSUM with
allowance ``allowance`` (in standard deviations of a block mean). A sum above the threshold is a
shift: the feature starts afresh, and learns the new regime as its reference.

The threshold follows from the expected number of values between false alarms on a stationary
feature (``run_length``), by Siegmund's approximation of the CUSUM's in-control run length for
independent, normal block means: the user states a false-alarm rate, as with Alibi Detect's online
detectors, instead of a significance level per test. A feature costs five floats, against about a
kilobyte for a River detector and its wrapper: what decides memory at 100,000 model keys.

>>> shift = MeanShift(features=1, block=16)
>>> found = []
>>> for i in range(2_000):  # block means near 20, then near 21 from the 1,000th block
...     mean = (20.0 if i < 1_000 else 21.0) + (i * 7919 % 13 - 6) / 13
...     if shift.update(0, mean) is not None:
...         found.append(i)
>>> [1_000 <= i < 1_010 for i in found]
[True]
"""

from __future__ import annotations

import functools
import math
from array import array

#: Siegmund's correction of the threshold for the overshoot of a discrete CUSUM (normal increments).
OVERSHOOT = 1.166
#: Stationary values of one feature between false alarms, on average, unless a stream says otherwise: one
#: false alarm per feature per million values (0.1 per 100,000), about as quiet as ADWIN on independent
#: values while finding shifts of a quarter deviation in a third of its delay (benchmarks/results/datadrift.md).
RUN_LENGTH = 1_000_000
#: Slots per feature: blocks in the reference, their mean and sum of squared deviations, the upper and lower sums.
_WIDTH = 5


@functools.cache
def cusum_threshold(run_blocks: float, allowance: float) -> float:
    """The threshold at which a two-sided CUSUM of standard normal inputs alarms once per ``run_blocks`` on average.

    One side's in-control run length is about ``(exp(2kb) - 2kb - 1) / (2k²)``, with ``k`` the allowance and
    ``b`` the threshold plus :data:`OVERSHOOT` (Siegmund, 1985); the two sides together alarm twice as often.
    """
    if run_blocks <= 1 or allowance <= 0:
        raise ValueError(f"run length {run_blocks} blocks and allowance {allowance} must be above 1 and 0")
    k, target = allowance, 2 * run_blocks

    def run_length(h: float) -> float:
        a = 2 * k * (h + OVERSHOOT)
        return (math.exp(a) - a - 1) / (2 * k * k)

    low, high = 0.0, 1.0
    while run_length(high) < target:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if run_length(middle) < target else (low, middle)
    return high


class MeanShift:
    """Self-starting two-sided CUSUMs, one per number feature, on block means; :meth:`update` one mean at a time."""

    __slots__ = ("allowance", "reference", "state", "threshold")

    def __init__(
        self, features: int, block: int, run_length: float = RUN_LENGTH, allowance: float = 0.25, reference: int = 32
    ) -> None:
        if reference < 2:
            raise ValueError(f"reference must be at least 2 blocks, got {reference}")
        #: Allowance of the CUSUM, in standard deviations of a block mean: shifts of twice this are found fastest.
        self.allowance = float(allowance)
        #: Block means a fresh feature learns before it is judged.
        self.reference = reference
        self.threshold = cusum_threshold(run_length / block, self.allowance)
        self.state = array("d", bytes(8 * _WIDTH * features))

    def update(self, feature: int, mean: float) -> float | None:
        """Judge one block mean of feature number ``feature``; the standardised shift when it alarms, else None.

        A feature that alarms starts afresh: this mean is the first of its new reference.
        """
        state, at = self.state, _WIDTH * feature
        n, reference_mean, squares = state[at], state[at + 1], state[at + 2]
        if n >= self.reference:
            spread = math.sqrt(squares / (n - 1))
            if spread > 0:
                z = (mean - reference_mean) / spread
            else:  # a constant reference: any other value is a shift
                z = 0.0 if mean == reference_mean else math.copysign(math.inf, mean - reference_mean)
            up = max(0.0, state[at + 3] + z - self.allowance)
            down = max(0.0, state[at + 4] - z - self.allowance)
            if up > self.threshold or down > self.threshold:
                state[at : at + _WIDTH] = array("d", (1.0, mean, 0.0, 0.0, 0.0))
                return z
            state[at + 3], state[at + 4] = up, down
        # Welford's running mean and squared deviations of the reference.
        n += 1
        delta = mean - reference_mean
        reference_mean += delta / n
        state[at], state[at + 1], state[at + 2] = n, reference_mean, squares + delta * (mean - reference_mean)
        return None
