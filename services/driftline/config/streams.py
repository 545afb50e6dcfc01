"""What a stream declares: its task, features (:class:`FeatureSpec`), model, drift detectors (:class:`DriftSpec`)
and tuning (:class:`TuningSpec`), in :class:`StreamConfig`.

A model key's checkpoint keeps its stream's config (pickled with the model slot): checkpoints saved
while these classes lived in ``driftline.config`` load through ``checkpoint.MOVED_MODULES``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from driftline.config.base import ConfigError, Strict
from driftline.contracts import FeatureName


class FeatureSpec(Strict):
    """One input of a stream's model, and how the trainer cleans it."""

    type: Literal["number", "category", "bool"] = "number"
    """number, category (text) or bool. A category reaches River's tree classifiers as text, which they split on,
    and every other model one-hot over the values seen (the first 100); a bool is 0/1."""
    unit: str | None = Field(default=None, description="Canonical unit; events in another known unit are converted.")
    min: float | None = None
    """Lowest valid value, in the canonical unit."""
    max: float | None = None
    """Highest valid value, in the canonical unit."""
    missing: Literal["mean", "median", "last", "constant", "drop", "keep"] | None = Field(
        default=None,
        description="What to do with a missing value: impute it, drop the event, or keep it absent. "
        "Default: mean for numbers, last value otherwise.",
    )
    fill: float | str | bool | None = Field(default=None, description="The value imputed by missing = 'constant'.")
    out_of_range: Literal["clip", "reject", "missing"] = "clip"
    """A value outside [min, max]: clip it, reject the event, or treat it as missing."""
    drift: bool = True
    """Judge this feature for data drift; false for a cyclical one (hour, weekday) whose cycle is no drift."""

    @model_validator(mode="after")
    def _coherent(self) -> FeatureSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.missing == "constant" and self.fill is None:
            raise ValueError("missing = 'constant' needs a fill value")
        if self.type != "number" and self.missing in ("mean", "median"):
            raise ValueError(f"missing = {self.missing!r} needs a number feature, this one is a {self.type}")
        return self

    @property
    def missing_policy(self) -> str:
        return self.missing or ("mean" if self.type == "number" else "last")


DetectorName = Literal["ADWIN", "CUSUM", "DDM", "EDDM", "HDDM_A", "HDDM_W", "PageHinkley", "KSWIN"]
#: The data detector: River's, or ``CUSUM`` (:class:`~driftline.rules.meanshift.MeanShift`, calibrated to a run length).
DataDetectorName = Literal["CUSUM", "ADWIN", "DDM", "EDDM", "HDDM_A", "HDDM_W", "PageHinkley", "KSWIN"]


class DriftSpec(Strict):
    """Which detectors judge a stream, and what an alert does to its models."""

    concept: DetectorName = "ADWIN"
    """Detector on the error stream (concept drift). CUSUM judges the 0/1 errors against the model's own error
    rate (a Bernoulli CUSUM) and alarms falsely once per `run_length` labelled outcomes at most on average; it finds
    a short, sharp rise of an accurate model sooner than ADWIN."""
    concept_params: dict[str, float | int] = Field(default_factory=dict)
    """Keyword arguments of the concept detector (e.g. ADWIN delta)."""
    data: DataDetectorName | None = Field(
        default="CUSUM",
        description="Per-feature detector on cleaned values; None: off. CUSUM judges a number feature's block "
        "means against its own past and alarms falsely once per `run_length` stationary values on average.",
    )
    data_params: dict[str, float | int] = Field(
        default_factory=dict,
        description="Keyword arguments of the data detector. CUSUM: `run_length` (expected values between false "
        "alarms of one feature, 1000000), `allowance` (0.25 standard deviations of a block mean) and `reference` "
        "(block means learned before judging, 32).",
    )
    debounce: Annotated[int, Field(ge=0)] = Field(
        default=500,
        description="Labelled outcomes after a concept-drift detection during which the key's detector stays "
        "quiet; this cool-down outlives the reset it causes.",
    )
    data_debounce: Annotated[int, Field(ge=0)] = Field(
        default=64,
        description="Events after a data-drift detection during which that feature's detector stays quiet "
        "(64 found the most annotated change points of River's Occupancy set: benchmarks/results/drift.md).",
    )
    data_block: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=16,
        description="A number feature's data detector is fed the mean of each block of this many values: one "
        "update per block instead of one per event (1: every value).",
    )
    data_cooldown_s: Annotated[float, Field(ge=0)] = Field(
        default=0.0,
        description="Event-time seconds after a data-drift detection during which the same feature stays quiet "
        "(besides `data_debounce` events): a slow sensor's one change is one alarm.",
    )
    warmup: Annotated[int, Field(ge=0)] = Field(
        default=500,
        description="Labelled outcomes a new model version is judged on before its concept detector may alarm. "
        "5000 keeps a young Hoeffding tree's learning bumps quiet (its first splits, 3,000-4,000 outcomes in), "
        "but blinds every new version for as long: benchmarks/results/drift.md.",
    )
    confirm: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="Labelled outcomes over which a rise of a young model's error must last before it alarms: "
        "their mean error must keep half the rise, or it was a learning bump (0: alarm at once).",
    )
    young: Annotated[int, Field(ge=0)] = Field(
        default=5000,
        description="Labelled outcomes of a model version during which its concept-drift rises must be confirmed "
        "(`confirm`); later rises alarm at once.",
    )
    on_alert: Literal["cold_reset", "warm_reset", "rollback", "notify"] = "cold_reset"
    """What a concept drift does to the model key that drifted (the trainer applies it at once), and what a
    firing accuracy alert does through the monitor's webhook. cold_reset by default: at a warm-up of 500 a
    fresh model recovers better than the background model a warning started (benchmarks/results/drift.md)."""
    library: Annotated[int, Field(ge=0, le=16)] = Field(
        default=3,
        description="Past models each model key keeps to recall when their concept comes back (the model a "
        "drift's reset replaced, each time; the least recently kept makes room): after a drift, the best of them "
        "on the next `recall_window` labels serves if it beats the reset's model. 0: none. With `on_alert` "
        "cold_reset or warm_reset (docs/architecture.md#recurring-concepts-the-model-library).",
    )
    recall_window: Annotated[int, Field(ge=10, le=10_000)] = Field(
        default=200,
        description="Labelled events after a drift on which the library's models are scored against the model "
        "the reset served (200: `driftline bench recall`).",
    )

    @model_validator(mode="after")
    def _library_resets(self) -> DriftSpec:
        if "library" in self.model_fields_set and self.library and self.on_alert not in ("cold_reset", "warm_reset"):
            raise ValueError(
                f"library recalls at a reset; on_alert = {self.on_alert!r} resets nothing: set library = 0"
            )
        return self


class TuningSpec(Strict):
    """A search space instead of one model: the trainer selects among its candidates online (driftline.tuning).

    Each combination of the grid's values is a candidate cloned from the stream's `model`; River's
    bandit or successive-halving selector learns them and serves the best one so far.
    """

    grid: dict[str, list[bool | int | float | str]] = Field(min_length=1)
    """Parameter of the model (`Step.param` in a pipeline, e.g. `LogisticRegression.l2`) -> values to try; a
    string value naming a River object (`"optim.SGD(0.1)"`) is built like a model expression. 2 to 32 candidates."""
    selector: Literal["bandit", "successive_halving"] = "bandit"
    """bandit: River's BanditClassifier/Regressor (every candidate learns during burn-in, then the policy's
    pick); successive_halving: every candidate learns, the worse half stops at each rung until one is left."""
    policy: Literal["epsilon_greedy", "ucb"] = "epsilon_greedy"
    """The bandit's policy (bandit only)."""
    epsilon: Annotated[float, Field(ge=0, le=1)] = 0.1
    """epsilon_greedy: share of events that teach a random candidate instead of the best."""
    decay: Annotated[float, Field(ge=0)] = 0.0
    """epsilon_greedy: epsilon shrinks by exp(-decay * candidate updates so far)."""
    delta: Annotated[float, Field(gt=0)] = 1.0
    """ucb: weight of the exploration bonus."""
    burn_in: Annotated[int, Field(ge=0)] = 100
    """Labelled events every candidate learns before the bandit picks (bandit only)."""
    seed: int = 42
    """Seed of the bandit's random choices: the same events make the same choices."""
    budget: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="successive_halving: candidate-updates spent before one candidate is left; "
        "default 1000 per candidate.",
    )
    eta: Annotated[int, Field(ge=2)] = 2
    """successive_halving: each rung keeps 1/eta of the candidates."""

    @model_validator(mode="after")
    def _selector_keys(self) -> TuningSpec:
        bandit_only = {"policy", "epsilon", "decay", "delta", "burn_in"}
        halving_only = {"budget", "eta"}
        stray = sorted(self.model_fields_set & (halving_only if self.selector == "bandit" else bandit_only))
        if stray:
            verb = "does" if len(stray) == 1 else "do"
            raise ValueError(f"{', '.join(stray)} {verb} not apply to selector = {self.selector!r}")
        return self


#: Event ids a per-device model key remembers by default (``streams.S.dedupe_window``).
DEVICE_DEDUPE_WINDOW = 1_000


class StreamConfig(Strict):
    """One learning task: what its events carry and which model learns from them."""

    task: Literal["binary", "multiclass", "regression"]
    """The learning task."""
    target: str = Field(default="label", description="Name of the ground truth (documentation and exports).")
    classes: list[bool | int | str] | None = Field(
        default=None,
        description="A binary stream's two class names, negative first (e.g. ['DOWN', 'UP']), or a multiclass "
        "stream's classes; None: binary labels are true/false (or 0/1), multiclass labels any string or integer.",
    )
    positive: bool | int | str | None = Field(
        default=None, description="The positive class among a binary stream's `classes` (default: the second one)."
    )
    new_classes: bool | None = Field(
        default=None,
        description="A multiclass stream takes labels outside its `classes` (new classes); default: true "
        "without `classes`, false with them.",
    )
    features: dict[FeatureName, FeatureSpec] = Field(min_length=1)
    """The model's inputs, by name."""
    model: str = Field(default="logistic", description="A preset name or a River pipeline expression.")
    challengers: list[str] = Field(default_factory=list, description="Other candidate models learning alongside.")
    tuning: TuningSpec | None = None
    """A search space around `model` tuned online (no challengers then); None: `model` as it is."""
    promote_margin: Annotated[float, Field(ge=0, le=1)] = 0.02
    """How much better a challenger must be: accuracy points, or the fraction of MAE."""
    promote_window: Annotated[int, Field(ge=10)] = 1000
    """Labelled events over which champion and challengers are compared."""
    scope: Literal["stream", "device"] = Field(default="stream", description="One model per stream or per device.")
    holdout_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """Share of labelled events predicted and scored but never learned."""
    allowed_lateness_s: Annotated[float, Field(ge=0)] = 3600.0
    """How far an event may lag the newest event time of its own device (per model key)."""
    late_events: Literal["accept", "drop"] = "accept"
    """Events later than allowed: learn from them anyway, or drop them."""
    max_watermark_devices: Annotated[int, Field(ge=1)] = Field(
        default=10_000,
        description="Devices whose newest event time a model key remembers to judge lateness; beyond it the one "
        "touched least recently is forgotten (its next event is not late).",
    )
    stuck_after: Annotated[int, Field(ge=0)] = Field(
        default=10,
        description="Readings in a row a device's number feature repeats exactly before its sensor counts as stuck "
        "(a fault: the cleaning step stuck:<feature>, driftline_trainer_sensor_faults_total); 0: never.",
    )
    max_clock_skew_s: Annotated[float, Field(ge=0)] = Field(
        default=300.0,
        description="How far an event's (or a label's) time may be ahead of the collector's clock when it arrives.",
    )
    future_events: Literal["reject", "clamp"] = Field(
        default="reject",
        description="An event further ahead than max_clock_skew_s: reject it (422, dead letter), or clamp its "
        "time to when the collector received it (counted in driftline_collector_events_clamped_total).",
    )
    dedupe_window: Annotated[int, Field(ge=1)] = 100_000
    """Event ids remembered per model key to drop duplicates; for per-device keys (`scope = "device"`) the
    default is 1,000 (a device's own retries), as each key of a fleet keeps its own (~143 B an id)."""
    label_ttl_s: Annotated[float, Field(gt=0)] = 3600.0
    """Event time a prediction waits for its late label."""
    max_pending_labels: Annotated[int, Field(ge=1)] = 100_000
    """Predictions waiting for labels, per model key."""
    label_budget: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.0,
        description="Share of unlabelled events whose label the trainer asks for (0.05: 5%), choosing the ones "
        "its model is least sure of (docs/architecture.md#label-requests); 0: asks for none.",
    )
    per_device_metrics: bool = False
    """Expose per-device series (capped) in the monitor and trainer."""
    outcome_features: bool = Field(
        default=False,
        description="Outcomes carry the cleaned features and the cleaning steps, for tools downstream that read "
        "them; off, outcomes are smaller and cheaper (the trainer judges data drift, the monitor needs neither).",
    )
    drift: DriftSpec = Field(default_factory=DriftSpec)
    """Drift detectors and alert policy."""

    @model_validator(mode="after")
    def _classes(self) -> StreamConfig:
        if self.positive is not None and self.task != "binary":
            raise ValueError(f"positive names a binary stream's positive class; this stream's task is {self.task}")
        if self.new_classes is not None and self.task != "multiclass":
            raise ValueError(f"new_classes is for a multiclass stream; this stream's task is {self.task}")
        if self.classes is None:
            if self.positive is not None:
                raise ValueError("positive needs classes: name the stream's two classes, negative first")
            if self.new_classes is False:
                raise ValueError("new_classes = false needs classes: name the stream's classes")
            return self
        if self.task == "regression":
            raise ValueError("classes name a binary or multiclass stream's classes; this stream's task is regression")
        typed = {(type(c), c) for c in self.classes}
        if self.task == "binary":
            if len(self.classes) != 2 or self.classes[0] == self.classes[1]:
                raise ValueError(f"a binary stream has exactly two different classes, got {self.classes}")
            if self.positive is not None and self.positive not in self.classes:
                raise ValueError(f"positive ({self.positive!r}) is not one of the classes {self.classes}")
            return self
        if len(typed) != len(self.classes) or len(self.classes) < 2:
            raise ValueError(f"a multiclass stream names at least two different classes, got {self.classes}")
        if any(isinstance(c, bool) for c in self.classes):
            raise ValueError(f"a multiclass stream's classes are strings or integers, got {self.classes}")
        return self

    @property
    def allows_new_classes(self) -> bool:
        """Whether a multiclass stream takes labels outside its named classes."""
        return self.classes is None if self.new_classes is None else self.new_classes

    @property
    def positive_class(self) -> bool | int | str:
        """The class a binary stream's scores call positive."""
        if self.classes is None:
            return True
        return self.classes[1] if self.positive is None else self.positive

    @model_validator(mode="before")
    @classmethod
    def _device_dedupe_window(cls, data: Any) -> Any:
        # One dedupe memory per key: a fleet's per-device keys each remember their own device's ids only.
        if isinstance(data, dict) and data.get("scope") == "device" and "dedupe_window" not in data:
            return {**data, "dedupe_window": DEVICE_DEDUPE_WINDOW}
        return data

    @model_validator(mode="after")
    def _tunable(self) -> StreamConfig:
        if self.tuning is None:
            return self
        if self.challengers:
            raise ValueError(
                "tuning and challengers: choose one (the tuned model already selects among its candidates)"
            )
        from driftline.tuning import candidates

        candidates(self.model, self.tuning, self.task == "regression")
        return self

    @field_validator("stuck_after")
    @classmethod
    def _a_run(cls, value: int) -> int:
        if value == 1:
            raise ValueError("a stuck run is at least 2 readings (0 turns the check off)")
        return value

    @field_validator("model", "challengers")
    @classmethod
    def _buildable(cls, value: str | list[str]) -> str | list[str]:
        from driftline.modelspec import check_model_expression

        for expression in [value] if isinstance(value, str) else value:
            check_model_expression(expression)
        return value


def check_drift_spec(name: str, stream: StreamConfig) -> None:
    """Refuse detectors that cannot judge what they would be fed, naming the config key.

    The trainer runs the detectors; the monitor checks the streams it is given the same way, so a
    config one refuses the other refuses too.
    """
    from driftline.rules.detectors import BINARY_DETECTORS, DebouncedDetector, DetectorError
    from driftline.rules.meanshift import MeanShift

    spec = stream.drift
    # CUSUM is the CUSUM for what is judged: Bernoulli on errors (ErrorShift), of block means on features (MeanShift).
    if spec.data in BINARY_DETECTORS and spec.data != "CUSUM":
        raise ConfigError(
            f"streams.{name}.drift.data: {spec.data} judges 0/1 errors, not feature values; "
            "choose CUSUM, ADWIN, PageHinkley or KSWIN"
        )
    if spec.data == "CUSUM":
        try:
            MeanShift(1, block=spec.data_block, **spec.data_params)  # type: ignore[arg-type]
        except (TypeError, ValueError) as e:
            raise ConfigError(f"streams.{name}.drift.data_params: CUSUM: {e}") from None
    for key, detector, params in (
        ("concept", spec.concept, spec.concept_params),
        ("data", spec.data, spec.data_params),
    ):
        if detector is None or (key == "data" and detector == "CUSUM"):  # MeanShift, checked above
            continue
        try:
            DebouncedDetector(detector, params, warnings=key == "concept")
        except DetectorError as e:
            raise ConfigError(f"streams.{name}.drift.{key}_params: {e}") from None
