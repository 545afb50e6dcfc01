// The status page: fetches /ui/data and draws one uPlot chart per model key.
// Each chart's element carries data-points and data-marks (what it drew), for tests and scripts.
"use strict";
(() => {
  const charts = new Map(); // model key -> {plot, marks}
  window.driftlineCharts = charts;
  const fmt = (v, digits = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
  const when = (ts) => (ts ? new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) : "–");
  const el = (tag, attrs = {}, text = "") => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    return e;
  };

  // Concept drifts: red lines; new model versions: dashed green lines; data drifts: purple ticks on top.
  const marksPlugin = (entry) => ({
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        for (const m of entry.marks) {
          const x = u.valToPos(m.t, "x", true);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          const style = { drift: ["#d62728", []], version: ["#2ca02c", [6, 4]], data: ["#9467bd", []] }[m.kind];
          if (!style) continue;
          ctx.strokeStyle = style[0];
          ctx.setLineDash(style[1]);
          ctx.lineWidth = 3;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, m.kind === "data" ? u.bbox.top + 12 * devicePixelRatio : u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      }],
    },
  });

  function modelTable(stream) {
    const table = el("table", { class: "models" });
    const head = ["model", "version", "predictions", "labelled", "score (rolling)", "accuracy ESTIMATED before labels", "trainer µs/event predict", "trainer µs/event learn", "mean label delay s", "concept drifts", "data drifts", "last concept drift (UTC, wall clock)"];
    table.appendChild(el("tr")).append(...head.map((h) => el("th", {}, h)));
    for (const m of stream.models) {
      const row = el("tr", { "data-stream": m.stream, "data-model": m.model });
      row.append(
        el("td", {}, m.model), el("td", {}, String(m.version)), el("td", {}, String(m.predictions)),
        el("td", {}, String(m.labelled)), el("td", {}, `${m.score_name} ${fmt(m.score)}`),
        el("td", { class: "estimate" }, estimateText(m)),
        el("td", { class: "predict-us", title: "mean over the outcomes seen: the champion's prediction with every challenger's" }, fmt(m.predict_us_mean, 1)),
        el("td", { class: "learn-us", title: "mean over the outcomes learned: every candidate learning the event" }, fmt(m.learn_us_mean, 1)),
        el("td", {}, fmt(m.label_delay_mean_s, 1)), el("td", {}, String(m.drifts)), el("td", {}, String(m.data_drifts)),
        el("td", {}, when(m.last_drift_ts)),
      );
      table.appendChild(row);
    }
    return table;
  }

  // The estimate and what it rests on: calibrated on N labels, or the raw confidence while too few came.
  function estimateText(m) {
    if (m.estimate === undefined || m.estimate === null) return "";
    const labels = m.calibration_labels || 0;
    if (m.estimate_method === "calibrated") return `${fmt(m.estimate)} (calibrated on ${labels} labels)`;
    if (m.estimate_method === "mixed") return `${fmt(m.estimate)} (calibrated on ${labels} labels, in part raw)`;
    return `${fmt(m.estimate)} (raw confidence, not calibrated: ${labels} labels, 100 needed)`;
  }

  function keyTable(stream) {
    const table = el("table", { class: "keys" });
    const head = ["model key", "model", "version", "labelled", "last score", "last label delay s", "concept drifts", "data drifts", "versions seen"];
    table.appendChild(el("tr")).append(...head.map((h) => el("th", {}, h)));
    for (const k of stream.keys) {
      const row = el("tr", { "data-stream": stream.stream, "data-model-key": k.model_key });
      const versions = k.marks.filter((m) => m.kind === "version").length + 1;
      const last = (values) => values.filter((v) => v !== null).at(-1);
      row.append(
        el("td", {}, k.model_key), el("td", {}, k.model), el("td", {}, String(k.version)), el("td", {}, String(k.labelled)),
        el("td", {}, fmt(last(k.score))), el("td", {}, fmt(last(k.delay), 1)),
        el("td", {}, String(k.drifts)), el("td", {}, String(k.data_drifts)), el("td", {}, String(versions)),
      );
      table.appendChild(row);
    }
    return table;
  }

  function chartFor(stream, key, box) {
    const scoreName = stream.task === "regression" ? "MAE" : "accuracy";
    const entry = { marks: key.marks, plot: null };
    const opts = {
      width: 460, height: 220,
      scales: { x: { time: true }, y: stream.task === "regression" ? {} : { range: [0, 1] } },
      series: [
        {},
        { label: scoreName, stroke: "#1f77b4", width: 2, spanGaps: true },
        { label: "label delay s", stroke: "rgba(255,127,14,0.6)", width: 1, scale: "s", spanGaps: true },
      ],
      axes: [{}, { label: scoreName }, { side: 1, scale: "s", label: "label delay s", grid: { show: false } }],
      plugins: [marksPlugin(entry)],
    };
    entry.plot = new uPlot(opts, [key.t, key.score, key.delay], box);
    return entry;
  }

  function render(data) {
    const root = document.getElementById("streams");
    const seen = new Set();
    let points = 0;
    for (const stream of data.streams) {
      const id = `stream-${stream.stream}`;
      let section = document.getElementById(id);
      if (!section) {
        section = el("section", { id, class: "stream", "data-stream": stream.stream });
        section.append(el("h2", {}, `stream ${stream.stream}`), el("div", { class: "tables" }), el("div", { class: "charts" }));
        root.appendChild(section);
      }
      const tables = section.querySelector(".tables");
      tables.replaceChildren(modelTable(stream), keyTable(stream));
      if (stream.hidden) tables.appendChild(el("div", { class: "muted" }, `${stream.hidden} less active model keys not shown`));
      const chartsBox = section.querySelector(".charts");
      for (const key of stream.keys) {
        const chartId = `chart-${stream.stream}-${key.model_key}`;
        seen.add(chartId);
        let box = document.getElementById(chartId);
        let entry = charts.get(chartId);
        if (!box) {
          box = el("div", { id: chartId, class: "chart", "data-stream": stream.stream, "data-model-key": key.model_key });
          box.appendChild(el("h3", {}, `${key.model_key} · ${key.model} v${key.version}`));
          chartsBox.appendChild(box);
          entry = chartFor(stream, key, box);
          charts.set(chartId, entry);
        } else {
          box.querySelector("h3").textContent = `${key.model_key} · ${key.model} v${key.version}`;
          entry.marks = key.marks;
          entry.plot.setData([key.t, key.score, key.delay]);
        }
        box.dataset.points = String(entry.plot.data[0].length);
        box.dataset.marks = String(key.marks.length);
        points += key.t.length;
      }
    }
    for (const [chartId, entry] of charts) {
      if (!seen.has(chartId)) {
        entry.plot.destroy();
        document.getElementById(chartId)?.remove();
        charts.delete(chartId);
      }
    }
    document.getElementById("every").textContent = String(data.every);
    const summary = document.getElementById("summary");
    // Monitors of one group split the outcomes partitions: say whose figures these are.
    const held = (data.partitions || []).join(", ") || "none";
    const monitors = (data.monitors || 1) > 1 ? `${data.monitors} monitors` : "this monitor";
    const missing = (data.missing || []).length ? ` · not answering: ${data.missing.join(", ")}` : "";
    summary.textContent = `${data.streams.length} streams · ${charts.size} model keys charted · ${points} points · rolling window ${data.window} · outcomes partitions ${held} (${monitors})${missing} · updated ${when(data.generated_ts)} UTC`;
    document.body.dataset.loaded = "true";
  }

  async function refresh() {
    try {
      const response = await fetch("/ui/data", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      render(await response.json());
    } catch (e) {
      document.getElementById("summary").textContent = `cannot load /ui/data: ${e}`;
    }
  }
  refresh();
  setInterval(refresh, 5000);
})();
