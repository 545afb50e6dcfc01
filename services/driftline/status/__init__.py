"""``driftline status`` and the stack's live view: what the running services report, per stream and model key.

One module per job, fetching kept apart from shaping:

* :mod:`~driftline.status.fetching`: :func:`~driftline.status.fetching.fetch` asks the trainer (``/models``,
  ``/metrics``), the monitors (``/ui/data``, ``/metrics`` of each: monitors of one group split the outcomes
  partitions) and the collector (``/metrics``) and keeps their raw answers in a
  :class:`~driftline.status.fetching.Snapshot`, the monitors' merged (their samples labelled with the
  monitor's URL as ``instance``, their keys together);
* :mod:`~driftline.status.shaping`: :func:`~driftline.status.shaping.shape` turns a snapshot (and the one
  before it, for rates) into a :class:`~driftline.status.shaping.Status` without any I/O, a monitor's scores
  weighted by the outcomes each is over; :func:`~driftline.status.shaping.as_json` for machines;
* :mod:`~driftline.status.rendering`: :func:`~driftline.status.rendering.render` draws a status with rich;
* :mod:`~driftline.status.live`: :func:`~driftline.status.live.live_view`, the view ``driftline stack``
  shows while it runs;
* :mod:`~driftline.status.cli`: the ``driftline status`` command.
"""
