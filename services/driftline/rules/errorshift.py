"""A rise in a model's error rate, found by a self-starting Bernoulli CUSUM on its 0/1 errors.

The concept-drift judge (:class:`~driftline.rules.concept.ConceptWatch`) feeds it each labelled outcome's
error when a stream's ``drift.concept`` is ``CUSUM``. The error rate ``p0`` it judges against is the
running rate since the detector was made fresh, with one error and one success added beforehand so that
a model that has not erred yet is not held to a rate of zero. Once ``min_instances`` outcomes are in, each
outcome adds the log-likelihood ratio of a rate raised to ``p1 = p0 + min(max((ratio - 1) * p0, shift), max_rise)``
against ``p0`` to a one-sided CUSUM (a model right 99% of the time is judged against 4% errors, one right 85% of
the time against 30%). A CUSUM is quickest for the rise it is tuned to, so a second arm beside it judges
against ``p0 + max_rise`` (16% errors for the model right 99% of the time): a model reset shortly before a
concept comes back errs far more than 4%, and that arm finds it in fewer inputs (1% to 30% errors: within 38
inputs, where the first arm alone needs up to 64), before a young model learns the rise away. Either sum above
the threshold is a drift, above half of it a warning.

The threshold is ``ln(2 run_length)``: a CUSUM of log-likelihood ratios alarms on a stationary stream no
more often than once per ``run_length`` inputs on average (Wald's bound), whatever the model's error
rate, and each arm gets half of that rate; the user states a false-alarm rate, as for the data-drift CUSUM
(:class:`~driftline.rules.meanshift.MeanShift`), not a significance level per test. Against ADWIN, which
must see a rise in enough inputs for its bound on the means' difference, it finds a short sharp rise
of an accurate model (1% to 8% errors: within 200 inputs, where ADWIN at its defaults finds nothing in
925; ``tests/unit/test_errorshift.py``) and keeps six numbers.

>>> shift = ErrorShift()
>>> found = []
>>> for i in range(3_000):  # an error 1 time in 100, then 1 in 10 from the 2,000th
...     shift.update(i % (100 if i < 2_000 else 10) == 0)
...     if shift.drift_detected:
...         found.append(i)
>>> [2_000 <= i < 2_300 for i in found]
[True]
"""

from __future__ import annotations

import math

#: Stationary inputs between false alarms, on average, unless a stream says otherwise (Wald's bound).
RUN_LENGTH = 1_000_000


class ErrorShift:
    """One-sided Bernoulli CUSUM on a 0/1 error stream, River's detector interface (``update``, ``clone``)."""

    __slots__ = (
        "_errors",
        "_held_errors",
        "_held_n",
        "_n",
        "_sum",
        "_sum_large",
        "drift_detected",
        "max_rise",
        "min_instances",
        "ratio",
        "run_length",
        "shift",
        "threshold",
        "warning_detected",
    )

    def __init__(
        self,
        run_length: float = RUN_LENGTH,
        shift: float = 0.02,
        ratio: float = 4.0,
        max_rise: float = 0.15,
        min_instances: int = 100,
    ) -> None:
        if run_length <= 1 or shift <= 0 or ratio <= 1 or max_rise < shift or min_instances < 1:
            raise TypeError(
                f"need run_length > 1, shift > 0, ratio > 1, max_rise >= shift and min_instances >= 1; got "
                f"{run_length}, {shift}, {ratio}, {max_rise} and {min_instances}"
            )
        self.max_rise = float(max_rise)
        self.run_length, self.shift, self.ratio, self.min_instances = (
            float(run_length),
            float(shift),
            ratio,
            min_instances,
        )
        self.threshold = math.log(2.0 * self.run_length)  # two arms, each at half the false-alarm rate
        self._errors, self._n, self._sum = 1.0, 2, 0.0
        self._sum_large = 0.0
        self._held_errors, self._held_n = 0.0, 0
        self.drift_detected = self.warning_detected = False

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        slots = state[1]
        if "_sum_large" not in slots:  # pickled with one arm: the large one starts at zero, and each arm gets half
            slots["_sum_large"] = 0.0  # of the stated false-alarm rate, as in a detector made now
            slots["threshold"] = math.log(2.0 * float(slots["run_length"]))  # type: ignore[arg-type]
        for name, value in slots.items():
            setattr(self, name, value)

    def update(self, x: bool | float) -> None:
        """Judge one input (an error: 1, right: 0); a drift makes the next input the first of a fresh reference.

        While either sum is above zero the inputs are held out of the reference, so that a rise does not
        raise the rate it is judged against; they join it when both sums are back at zero.
        """
        if self.drift_detected:
            self._errors, self._n, self._sum, self._sum_large = 1.0, 2, 0.0, 0.0
            self._held_errors, self._held_n = 0.0, 0
        self.drift_detected = False
        if self._n - 2 < self.min_instances:
            self._errors += x
            self._n += 1
            return
        if not x and self._sum == 0.0 and self._sum_large == 0.0 and self._errors < 0.99 * self._n:
            # A success with both sums at zero leaves them there (its steps are negative while p0 < 0.99, so
            # p1 > p0): it only joins the reference. Most inputs of an accurate model, without a logarithm.
            self._n += 1
            return
        p0 = self._errors / self._n
        p1 = min(p0 + min(max((self.ratio - 1.0) * p0, self.shift), self.max_rise), 0.999)
        step = math.log(p1 / p0) if x else math.log((1.0 - p1) / (1.0 - p0))
        large = min(p0 + self.max_rise, 0.999)
        step_large = math.log(large / p0) if x else math.log((1.0 - large) / (1.0 - p0))
        self._sum_large = max(0.0, self._sum_large + step_large)
        total = self._sum = max(0.0, self._sum + step)
        total = max(total, self._sum_large)
        if total > 0.0:
            self._held_errors += x
            self._held_n += 1
        else:
            self._errors += self._held_errors + x
            self._n += self._held_n + 1
            self._held_errors, self._held_n = 0.0, 0
        self.drift_detected = total > self.threshold
        self.warning_detected = not self.drift_detected and total > self.threshold / 2

    @property
    def estimation(self) -> float:
        """The error rate judged against."""
        return self._errors / self._n

    def clone(self) -> ErrorShift:
        return ErrorShift(self.run_length, self.shift, self.ratio, self.max_rise, self.min_instances)
