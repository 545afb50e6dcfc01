"""The concept-drift judge of one model key: the trainer feeds it each outcome it emits, and acts on its alarms.

A detection travels on the outcome it was made at (and on the drift topic, in the same
transaction), so the monitor reports it at that outcome without judging again, and the trainer
resets the model before the key's next event: the same input gives the same resets on every run.

A model key lives several lives: a reset or rollback raises its model version, a promotion
changes the served model's name. Each life gets a fresh detector (the errors of a replaced model
say nothing about its successor), warms up for ``drift.warmup`` labelled outcomes before it may
alarm, and inherits the previous life's cool-down (``drift.debounce``), so the reset a drift
caused cannot be followed by another alarm on the same change. Only a rise of the error alarms
(``rising_only``): a model still learning raises nothing. A rise in a young life (its first
``drift.young`` outcomes) alarms only once it has lasted ``drift.confirm`` more outcomes, so a young
model's brief learning bumps do not reset it.

>>> from driftline.config.streams import DriftSpec
>>> watch = ConceptWatch(DriftSpec(concept="ADWIN", warmup=100, debounce=100), task="binary")
>>> for i in range(2000):  # an outcome a second; from the 1,000th on, every other one is wrong
...     new_life = watch.see("logistic", 1, float(i))
...     alarm = watch.judge("logistic", 1, error=float(i >= 1000 and i % 2 == 0))
...     if alarm is not None and alarm.level == "drift":
...         print(alarm.level, alarm.position)
drift 1024
>>> watch.judged
2000
"""

from __future__ import annotations

from dataclasses import dataclass, field

from river import stats

from driftline.config.streams import DriftSpec
from driftline.rules.detectors import Alarm, DebouncedDetector


@dataclass
class ConceptWatch:
    """Judges the errors of one model key's current life: :meth:`see` each outcome, :meth:`judge` the labelled."""

    spec: DriftSpec
    task: str
    model_name: str | None = None
    model_version: int | None = None
    detector: DebouncedDetector | None = None
    #: Newest event time (epoch s) seen for the key, any life: an older outcome of another life is late.
    last_event_ts: float = float("-inf")
    #: Labelled outcomes judged, every life: warm-up and cool-down count in them.
    judged: int = 0
    version_began: int = 0
    quiet_until: int = 0
    #: Binary detectors judge a regression error as 0/1: above the mean of the errors so far, or not.
    error_mean: stats.Mean = field(default_factory=stats.Mean)

    def judges(self, model_name: str, model_version: int) -> bool:
        """True if an outcome of this model comes from the life being judged."""
        return (self.model_name, self.model_version) == (model_name, model_version)

    def see(self, model_name: str, model_version: int, event_ts: float) -> bool:
        """Note an outcome's model and event time; True when it begins a new life.

        A change of model whose event is not older than the newest one seen begins a new life; an
        older event of another model is a late outcome of a replaced one and never rewinds the judge.
        """
        late = event_ts < self.last_event_ts
        self.last_event_ts = max(self.last_event_ts, event_ts)
        if self.judges(model_name, model_version) or late:
            return False
        self.model_name, self.model_version = model_name, model_version
        self.version_began = self.judged
        self.error_mean = stats.Mean()
        self.detector = DebouncedDetector(
            self.spec.concept,
            self.spec.concept_params,
            self.spec.debounce,
            warnings=True,
            rising_only=True,
            confirm=self.spec.confirm,
            young=self.spec.young,
        )
        return True

    def judge(self, model_name: str, model_version: int, error: float) -> Alarm | None:
        """Feed a labelled outcome's error (0/1, or absolute) if it comes from the life judged.

        Returns an alarm worth acting on: outside the warm-up and the cool-down.
        """
        if self.detector is None or not self.judges(model_name, model_version):
            return None
        value = error
        if self.task == "regression" and self.detector.binary:
            value = float(self.error_mean.n > 0 and error > self.error_mean.get())
            self.error_mean.update(error)
        self.judged += 1
        alarm = self.detector.update(value)
        if alarm is None:
            return None
        if self.judged - self.version_began <= self.spec.warmup or self.judged <= self.quiet_until:
            return None
        if alarm.level == "drift":
            self.quiet_until = self.judged + self.spec.debounce
        return alarm
