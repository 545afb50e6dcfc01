"""Drift detectors by name, wrapped so that one change raises one alarm.

River's detectors differ: DDM, EDDM, HDDM_A and HDDM_W judge a stream of 0/1 errors and have a
warning zone; ADWIN, PageHinkley and KSWIN take real values and only say "drift". ADWIN, after a
change, keeps shrinking its window and reports the same change several times. The wrapper makes
them alike: after a drift it starts a fresh detector (which then only knows the new regime) and
stays quiet for ``debounce`` updates, so a change yields a single alarm.

Detectors without a warning zone get one on request (``warnings=True``): a second, more sensitive
instance of the same detector (:func:`warning_params`) fed the same values, whose detections are
reported as warnings. The trainer starts a background model on a concept-drift warning, so
without it a warm reset would always be cold.

``rising_only`` (concept drift) keeps the alarms of a change *up*: a model whose error falls (it
is still learning, or the world got easier) raises none. Such a change still starts a fresh
detector, so the lower error becomes the baseline a later rise is measured against, and it is
counted in :attr:`DebouncedDetector.falls`.

``confirm`` keeps a young model's learning bumps quiet: a rise found within the first ``young``
inputs is held, and alarms only if the mean of the next ``confirm`` inputs keeps at least half the
rise: above the midpoint of the mean before it (every input since the detector was last made fresh)
and the level it rose to (ADWIN's estimate of its new window; the others', the recent inputs). A
young learner's error rises briefly as it reshapes itself and falls back; a change of concept keeps
it up. A fall the fresh detector finds meanwhile drops the held rise at once. Rises found
later alarm at once. Held rises that fell back are counted in :attr:`DebouncedDetector.unconfirmed`.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Literal

from river import drift
from river.base import DriftDetector
from river.drift import binary
from scipy.stats import chi2_contingency

from driftline.rules.errorshift import ErrorShift

#: The detectors a stream may name in ``drift.concept`` / ``drift.data``.
DETECTORS: dict[str, type] = {
    "ADWIN": drift.ADWIN,
    "DDM": binary.DDM,
    "EDDM": binary.EDDM,
    "HDDM_A": binary.HDDMA,
    "HDDM_W": binary.HDDMW,
    "PageHinkley": drift.PageHinkley,
    "KSWIN": drift.KSWIN,
    "CUSUM": ErrorShift,
}
#: Detectors that only accept 0/1 inputs (an error stream), all with a warning zone.
BINARY_DETECTORS = frozenset({"DDM", "EDDM", "HDDM_A", "HDDM_W", "CUSUM"})


#: ADWIN's warning instance uses a delta this many times the drift delta, up to the cap below.
ADWIN_WARNING_FACTOR = 100.0
ADWIN_WARNING_MAX_DELTA = 0.2
#: PageHinkley's warning instance uses this share of the drift threshold.
PAGE_HINKLEY_WARNING_SHARE = 0.5
#: KSWIN's warning instance uses an alpha this many times the drift alpha, up to the cap below.
KSWIN_WARNING_FACTOR = 10.0
KSWIN_WARNING_MAX_ALPHA = 0.1


#: The detector of category features (data drift), whatever ``drift.data`` names for numbers.
CATEGORY_DETECTOR = "ChiSquare"


class CategoryShift:
    """A change in the distribution of a category feature: the last ``window`` values against a reference.

    The first ``window`` values are the reference; then every ``window // 4`` values the most
    recent ``window`` are compared with it by a chi-square test of homogeneity, and a p-value
    under ``alpha`` is a drift. River's detectors take numbers only; this has their interface
    (``update``, ``drift_detected``, ``clone``) so the debounce wrapper treats it alike.
    """

    def __init__(self, window: int = 500, alpha: float = 0.001) -> None:
        if window < 20 or not 0 < alpha < 1:
            raise DetectorError(f"{CATEGORY_DETECTOR}: window >= 20 and 0 < alpha < 1, got {window}, {alpha}")
        self.window, self.alpha = window, alpha
        self.reference: Counter[str] = Counter()
        self.recent: deque[str] = deque(maxlen=window)
        self.seen = 0
        self.drift_detected = False
        self.p_value: float | None = None

    def update(self, value: str) -> None:
        self.seen += 1
        self.drift_detected = False
        if self.seen <= self.window:
            self.reference[value] += 1
            return
        self.recent.append(value)
        if len(self.recent) == self.window and self.seen % max(1, self.window // 4) == 0:
            self.p_value = self._test()
            self.drift_detected = self.p_value < self.alpha

    def _test(self) -> float:
        recent = Counter(self.recent)
        categories = sorted(set(self.reference) | set(recent))
        if len(categories) < 2:
            return 1.0
        table = [[self.reference[c] for c in categories], [recent[c] for c in categories]]
        return float(chi2_contingency(table)[1])

    def clone(self) -> CategoryShift:
        return CategoryShift(self.window, self.alpha)


class DetectorError(ValueError):
    """A detector name or parameter River does not accept."""


def make_detector(name: str, params: dict[str, Any] | None = None) -> DriftDetector:
    """Build River's detector ``name`` with ``params``, naming the culprit when River refuses."""
    if name == CATEGORY_DETECTOR:
        return CategoryShift(**(params or {}))  # type: ignore[return-value]
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise DetectorError(f"unknown drift detector {name!r}; choose one of {', '.join(DETECTORS)}") from None
    try:
        return cls(**(params or {}))
    except TypeError as e:
        raise DetectorError(f"{name}: bad parameters {params}: {e}") from None


@functools.cache
def _defaults(name: str) -> dict[str, Any]:
    """River's default parameters of detector ``name`` (read once: every new model key asks)."""
    return {k: v.default for k, v in inspect.signature(DETECTORS[name]).parameters.items()}


def warning_params(name: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Parameters of the more sensitive instance serving as ``name``'s warning zone; None if native."""
    if name not in ("ADWIN", "PageHinkley", "KSWIN"):
        return None
    p = dict(params or {})
    defaults = _defaults(name)
    try:
        if name == "ADWIN":
            delta = float(p.get("delta", defaults["delta"]))
            # Never less sensitive than the drift instance, even when its own delta is above the cap.
            p["delta"] = max(delta, min(delta * ADWIN_WARNING_FACTOR, ADWIN_WARNING_MAX_DELTA))
        elif name == "PageHinkley":
            p["threshold"] = float(p.get("threshold", defaults["threshold"])) * PAGE_HINKLEY_WARNING_SHARE
        else:
            alpha = float(p.get("alpha", defaults["alpha"]))
            p["alpha"] = max(alpha, min(alpha * KSWIN_WARNING_FACTOR, KSWIN_WARNING_MAX_ALPHA))
    except (TypeError, ValueError) as e:
        raise DetectorError(f"{name}: bad parameters {params}: {e}") from None
    return p


@dataclass(frozen=True)
class Alarm:
    """What a detector said about one input: a drift, or entering its warning zone."""

    level: Literal["warning", "drift"]
    position: int
    statistic: float | None


class DebouncedDetector:
    """One River detector fed one stream of values, raising at most one alarm per change.

    ``warnings``: give a detector without a native warning zone a sensitive twin whose detections
    are warnings (see :func:`warning_params`); binary detectors always report their own.
    """

    def __init__(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        debounce: int = 500,
        warnings: bool = False,
        rising_only: bool = False,
        confirm: int = 0,
        young: int = 0,
    ) -> None:
        if debounce < 0:
            raise DetectorError(f"debounce must be >= 0, got {debounce}")
        if confirm < 0 or young < 0:
            raise DetectorError(f"confirm and young must be >= 0, got {confirm} and {young}")
        self.name = name
        self.params = dict(params or {})
        self.debounce = debounce
        self.binary = name in BINARY_DETECTORS
        self.detector = make_detector(name, self.params)
        twin = warning_params(name, self.params) if warnings else None
        self.warner: DriftDetector | None = None if twin is None else make_detector(name, twin)
        self.rising_only = rising_only
        self.confirm, self.young = confirm, young
        self.unconfirmed = 0  # held rises that did not last (see ``confirm``)
        # A held rise: the midpoint its inputs must stay above, and their sum and count so far.
        self._held: tuple[float, float, int] | None = None
        self.position = 0  # inputs seen since the model version began
        self.drifts = 0
        self.falls = 0  # changes down that rising_only kept quiet
        # Sum and count of the inputs since the detector, and since its warning twin, was last made fresh:
        # ADWIN's window is exactly those inputs, so its mean before an update is known without asking it.
        self._sum, self._n = 0.0, 0
        self._warn_sum, self._warn_n = 0.0, 0
        self._quiet_until = 0
        self._warn_quiet_until = 0
        self._in_warning = False
        self._recent = 0.0  # exponential mean of the inputs: the statistic when the detector has none

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "_sum" not in state:  # pickled before the running sums: rebuilt from what it kept instead
            baseline = state.pop("_baseline")
            state["_sum"], state["_n"] = baseline.get() * baseline.n, int(baseline.n)
            warner = state.get("warner")
            width = int(warner.width) if isinstance(warner, drift.ADWIN) else 0
            state["_warn_sum"], state["_warn_n"] = (float(warner.estimation) * width if width else 0.0), width
        state.setdefault("confirm", 0)  # pickled before confirmation: none
        state.setdefault("young", 0)
        state.setdefault("unconfirmed", 0)
        state.setdefault("_held", None)
        self.__dict__.update(state)

    def update(self, value: float | str) -> Alarm | None:
        """Feed one value (an error 0/1 for binary detectors, a category for ChiSquare); return an
        alarm worth reporting."""
        if value.__class__ is str:
            return self._update_category(value)  # type: ignore[arg-type]
        if not math.isfinite(value):  # type: ignore[arg-type]
            return None
        self.position += 1
        self._recent = value if self.position == 1 else 0.99 * self._recent + 0.01 * value  # type: ignore[operator]
        x: float | bool = bool(value) if self.binary else float(value)
        before = self._sum / self._n if self._n else None
        warner_before = self._warn_sum / self._warn_n if self._warn_n else None
        self._sum += value  # type: ignore[operator]
        self._n += 1
        self.detector.update(x)
        warner = self.warner
        if warner is not None:
            warner.update(x)
            self._warn_sum += value  # type: ignore[operator]
            self._warn_n += 1
        quiet = self.position <= self._quiet_until
        confirmed = self._confirm(value) if self._held is not None else None  # type: ignore[arg-type]
        if self.detector.drift_detected:
            statistic = self._statistic()
            rising = self._rose(self.detector, before)
            # A fresh detector knows only the new regime, so the same change cannot fire again.
            self.detector = self.detector.clone()
            if warner is not None:
                self.warner = warner.clone()
                self._warn_sum, self._warn_n = 0.0, 0
            self._in_warning = False
            self._sum, self._n = 0.0, 0
            if self.rising_only and not rising:
                self.falls += 1
                if self._held is not None:  # the held rise fell back before it was confirmed
                    self._held = None
                    self.unconfirmed += 1
                return confirmed
            if confirmed is not None:
                return confirmed
            if self.confirm and self.position <= self.young:
                if self._held is None and not quiet:
                    level = statistic if isinstance(self.detector, drift.ADWIN) else self._recent
                    self._held = (((before or 0.0) + (level or 0.0)) / 2, 0.0, 0)
                return None
            return self._drift(statistic, quiet)
        if confirmed is not None:
            return confirmed
        if warner is not None:
            entered = warner.drift_detected
            if entered:
                entered = not self.rising_only or self._rose(warner, warner_before)
                # Fresh, so the twin warns again only on a further change, not on the same one.
                self.warner = warner.clone()
                self._warn_sum, self._warn_n = 0.0, 0
        else:
            warning = bool(getattr(self.detector, "warning_detected", False))
            entered = warning and not self._in_warning
            self._in_warning = warning
            entered = entered and (not self.rising_only or self._rose(self.detector, before))
        # Detectors flicker in and out of their warning zone: one warning per debounce span too.
        if entered and not quiet and self.position > self._warn_quiet_until:
            self._warn_quiet_until = self.position + self.debounce
            return Alarm("warning", self.position, self._statistic())
        return None

    def _drift(self, statistic: float | None, quiet: bool) -> Alarm | None:
        if quiet:
            return None
        self._quiet_until = self.position + self.debounce
        self.drifts += 1
        return Alarm("drift", self.position, statistic)

    def _confirm(self, value: float) -> Alarm | None:
        """Count one more input towards the held rise; its drift alarm once ``confirm`` inputs kept it up."""
        assert self._held is not None
        midpoint, total, n = self._held
        total, n = total + value, n + 1
        if n < self.confirm:
            self._held = (midpoint, total, n)
            return None
        self._held = None
        if total / n > midpoint:
            return self._drift(total / n, self.position <= self._quiet_until)
        self.unconfirmed += 1
        return None

    def _update_category(self, value: str) -> Alarm | None:
        self.position += 1
        self.detector.update(value)
        if not self.detector.drift_detected:
            return None
        statistic = self.detector.p_value
        self.detector = self.detector.clone()  # the new distribution becomes the reference
        if self.position <= self._quiet_until:
            return None
        self._quiet_until = self.position + self.debounce
        self.drifts += 1
        return Alarm("drift", self.position, statistic)

    def _rose(self, detector: DriftDetector, before: float | None) -> bool:
        """Whether the change ``detector`` just found is a rise of the inputs.

        ADWIN cut its window where the means differ: the part it kept is the recent one, compared
        with its whole window's mean before this input (``before``, the mean of every input since it
        was made fresh). The others say only "changed": compare the recent inputs (an exponential
        mean over about 100) with every input since the detector was made fresh.
        """
        if isinstance(detector, drift.ADWIN):
            return before is not None and float(detector.estimation) > before
        return self._recent > (self._sum / self._n if self._n else 0.0)

    def _statistic(self) -> float | None:
        if isinstance(self.detector, drift.ADWIN):
            return float(self.detector.estimation)
        if isinstance(self.detector, drift.KSWIN) and self.detector.p_value is not None:
            return float(self.detector.p_value)
        return self._recent
