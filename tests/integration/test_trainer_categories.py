"""A text category alone teaches every classification preset through the real trainer and broker.

One trainer, one stream per preset, each stream's events (a two-valued category and a noise number,
or three values for softmax's three classes) produced at once; each stream's prequential accuracy
is read back from the outcomes topic.
"""

from __future__ import annotations

from kafka_helpers import TopicReader, produce
from river import metrics
from test_trainer_oracle import events, score

from conftest import CATEGORY_FEATURES, CLASSIFICATION_PRESETS, category_rows
from driftline.contracts import Outcome
from driftline.trainer.runner import TrainerRunner

EVENTS = 3000


def test_a_text_category_alone_teaches_every_classification_preset(make_settings, bootstrap) -> None:
    streams, sent = {}, {}
    for preset, task in CLASSIFICATION_PRESETS.items():
        streams[preset] = {"task": task, "model": preset, "features": CATEGORY_FEATURES}
        sent[preset] = events(category_rows(task, EVENTS), preset, with_labels=True)
    settings = make_settings(streams)
    produce(bootstrap, settings.topics.events.name, ((preset, e) for preset, batch in sent.items() for e in batch))

    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    with TrainerRunner(settings, bootstrap, port=0):
        outcomes = reader.count(EVENTS * len(streams), timeout=180)
    reader.close()

    accuracy = {}
    for preset in streams:
        of_stream = [o for o in outcomes if o.stream == preset]
        assert len(of_stream) == EVENTS and all(o.learned for o in of_stream)
        accuracy[preset] = score(of_stream, metrics.Accuracy()).get()
    assert all(a > 0.95 for a in accuracy.values()), accuracy
