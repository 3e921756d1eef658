// The launch page's and the drill-down's charts (uPlot), the table sorter, showing and hiding a
// line by clicking its legend entry or its table row, and "large type" for a projector.
//
// The data comes from the server in data-chart attributes (#chart-day-data, #chart-slot-data)
// inside the live fragment #numbers, which htmx swaps every 30 seconds: after each swap the
// charts are drawn again from the new data, keeping the lines shown, the sort and the type size.
// No inline script or style anywhere: the Content-Security-Policy allows neither.
(function () {
  "use strict";

  const section = document.getElementById("charts");
  const texts = section ? JSON.parse(section.dataset.texts || "{}") : {};
  const shown = new Map(); // series key -> drawn or not, as the reader left it
  const charts = new Map(); // container id -> {plot, json, container}
  const LARGE_KEY = "tally:large-type";
  let sortState = null; // {column, direction}
  const lang = document.documentElement.lang || "en";

  // --- looks --------------------------------------------------------------------------

  function large() {
    return document.documentElement.classList.contains("large-type");
  }

  function fontSize() {
    return large() ? 18 : 12;
  }

  function chartHeight(width) {
    const base = width < 600 ? 220 : 280;
    return Math.round(base * (large() ? 1.35 : 1));
  }

  function labelOf(series) {
    return series.label || texts[series.key] || series.key;
  }

  // --- reading the data ---------------------------------------------------------------

  function payloadFor(container) {
    const holder = document.getElementById(container.dataset.source);
    if (!holder || !holder.dataset.chart) return null;
    return { json: holder.dataset.chart, data: JSON.parse(holder.dataset.chart) };
  }

  function rememberDefaults(data) {
    data.series.forEach((s) => {
      if (!shown.has(s.key)) shown.set(s.key, Boolean(s.shown));
    });
  }

  // --- drawing ------------------------------------------------------------------------

  function formatter(data) {
    const options =
      data.kind === "day"
        ? { day: "numeric", month: "short", timeZone: data.timezone }
        : { weekday: "short", hour: "2-digit", minute: "2-digit", hour12: false, timeZone: data.timezone };
    const format = new Intl.DateTimeFormat(lang === "nb" ? "nb-NO" : "en-GB", options);
    return (seconds) => format.format(new Date(seconds * 1000));
  }

  // Ticks on bucket starts, as many as fit: the latest always, then back in time, each far
  // enough from the one after it for its label (digest windows are not evenly spaced).
  function xSplits(data, width, min, max) {
    const room = (data.kind === "day" ? 56 : 84) * (large() ? 1.5 : 1);
    const span = max - min || 1;
    const picked = [];
    let next = Infinity;
    for (let i = data.x.length - 1; i >= 0; i--) {
      const at = ((data.x[i] - min) / span) * width;
      if (next - at >= room) {
        picked.unshift(data.x[i]);
        next = at;
      }
    }
    return picked;
  }

  // Half of the first bucket, in seconds (the charts' unit).
  function halfBucket(data) {
    return data.ends && data.ends.length ? (data.ends[0] - data.x[0]) / 2 : 43200;
  }

  // With one bucket alone (a launch's first day, a one-day launch) the x scale is that bucket with
  // half of it either side, so its point is in the middle. uPlot's own scale for a lone time value
  // runs 86,400,000 units on from it, a day in milliseconds: in these seconds a thousand days, which
  // put the point at the left edge. (So the test is the data's length: min and max differ here.)
  function xRange(data) {
    return (u, min, max) => {
      if (data.x.length !== 1) return [min, max];
      const half = halfBucket(data);
      return [data.x[0] - half, data.x[0] + half];
    };
  }

  // An expected rate is a dashed line between buckets, so with one bucket there was none to see:
  // it is drawn across that bucket instead, dashed as the line would be.
  function loneExpected(data, expectedSeries, lineWidth) {
    return (u) => {
      if (data.x.length !== 1) return;
      const half = halfBucket(data);
      const ratio = uPlot.pxRatio || devicePixelRatio || 1;
      const left = Math.max(u.bbox.left, u.valToPos(data.x[0] - half, "x", true));
      const right = Math.min(u.bbox.left + u.bbox.width, u.valToPos(data.x[0] + half, "x", true));
      expectedSeries.forEach(({ index, color }) => {
        const value = u.data[index][0];
        if (!u.series[index].show || value == null) return;
        const width = Math.max(1, lineWidth - 1) * ratio;
        const y = Math.round(u.valToPos(value, "y", true)) + (Math.round(width) % 2 ? 0.5 : 0);
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = color;
        ctx.lineWidth = width;
        ctx.setLineDash([6 * ratio, 5 * ratio]);
        ctx.beginPath();
        ctx.moveTo(left, y);
        ctx.lineTo(right, y);
        ctx.stroke();
        ctx.restore();
      });
    };
  }

  // The chosen range, shaded behind the lines: the points of the buckets it touches, out to halfway to
  // the points either side (at the ends, half the bucket's own length). Digest windows differ in length
  // (the night's is 17 hours, an afternoon's 3): half the first one's either side took in points of
  // windows outside the range.
  function shadeRange(data) {
    return (u) => {
      if (!data.highlight || !data.x.length) return;
      const [from, to] = data.highlight;
      const touched = data.x.map((x, i) => i).filter((i) => data.ends[i] > from && data.x[i] < to);
      if (!touched.length) return;
      const first = touched[0];
      const last = touched[touched.length - 1];
      const x = data.x;
      const ownHalf = (i) => (data.ends[i] > x[i] ? (data.ends[i] - x[i]) / 2 : halfBucket(data));
      const shadeFrom = first > 0 ? (x[first - 1] + x[first]) / 2 : x[first] - ownHalf(first);
      const shadeTo = last < x.length - 1 ? (x[last] + x[last + 1]) / 2 : x[last] + ownHalf(last);
      u.root.dataset.shaded = shadeFrom + " " + shadeTo;  // in the data's seconds, for the tests
      const left = Math.max(u.bbox.left, u.valToPos(shadeFrom, "x", true));
      const right = Math.min(u.bbox.left + u.bbox.width, u.valToPos(shadeTo, "x", true));
      if (right <= left) return;
      const ctx = u.ctx;
      ctx.save();
      ctx.fillStyle = "rgba(10, 91, 211, 0.10)";
      ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
      ctx.restore();
    };
  }

  // Room right of the plot for the latest tick's label, which is centred on its right edge: half the label.
  // Three font sizes, as it was, cut off the end of Norwegian's longer "lør. kl. 16:00" on a phone.
  function rightRoom(data, format, font) {
    const room = fontSize() * 3;
    if (!data.x.length) return room;
    const context = document.createElement("canvas").getContext("2d");
    if (!context) return room;
    context.font = font;
    return Math.max(room, Math.ceil(context.measureText(format(data.x[data.x.length - 1])).width / 2) + 2);
  }

  function build(container, payload) {
    const data = payload.data;
    rememberDefaults(data);
    const width = Math.max(240, container.clientWidth);
    const font = fontSize() + "px system-ui, sans-serif";
    const lineWidth = large() ? 3 : 2;
    const format = formatter(data);
    const series = [{ value: (u, v) => (v == null ? "" : format(v)) }];
    const columns = [data.x];
    const keys = [null];
    const expectedSeries = []; // the expected rates' indexes and colours, for loneExpected
    data.series.forEach((s) => {
      series.push({
        label: labelOf(s),
        stroke: s.color,
        width: lineWidth,
        dash: s.dash ? s.dash.map((d) => d * (lineWidth / 2)) : undefined, // past twelve lines: colour and dash
        show: shown.get(s.key),
        spanGaps: false,
        points: { show: data.x.length < 60, size: lineWidth * 3, fill: s.color },
      });
      columns.push(s.values);
      keys.push(s.key);
      if (s.expected) {
        series.push({
          label: labelOf(s) + " – " + (texts.expected || "expected"),
          stroke: s.color,
          width: Math.max(1, lineWidth - 1),
          dash: [6, 5],
          show: shown.get(s.key),
          points: { show: false },
        });
        columns.push(s.expected);
        keys.push(s.key);
        expectedSeries.push({ index: series.length - 1, color: s.color });
      }
    });
    const axis = { stroke: "#1b1f24", font: font, grid: { stroke: "#e6e9ed", width: 1 }, ticks: { stroke: "#d0d7de", width: 1 } };
    const options = {
      width: width,
      height: chartHeight(width),
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), data.timezone),
      legend: { show: false },
      padding: [fontSize(), rightRoom(data, format, font), 0, 0],
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: xRange(data) },
        y: { range: (u, min, max) => [0, Math.max(4, Math.ceil((max || 0) * 1.1))] },
      },
      axes: [
        Object.assign({}, axis, {
          splits: (u, axisIndex, min, max) => xSplits(data, u.bbox.width / devicePixelRatio, min, max),
          values: (u, splits) => splits.map(format),
          size: fontSize() * 3,
        }),
        Object.assign({}, axis, {
          incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
          values: (u, splits) => splits.map((v) => new Intl.NumberFormat(lang).format(v)),
          size: fontSize() * 4,
        }),
      ],
      series: series,
      hooks: { drawClear: [shadeRange(data)], draw: [loneExpected(data, expectedSeries, lineWidth)] },
    };
    container.textContent = "";
    const plot = new uPlot(options, columns, container);
    plot.tallyKeys = keys;
    charts.set(container.id, { plot: plot, json: payload.json, container: container, data: data });
  }

  function drawAll(force) {
    if (typeof uPlot === "undefined") return; // the table still works without the charts
    document.querySelectorAll(".chart[data-source]").forEach((container) => {
      const payload = payloadFor(container);
      if (!payload) return;
      const current = charts.get(container.id);
      if (!force && current && current.json === payload.json && document.body.contains(current.container)) return;
      if (current) current.plot.destroy();
      build(container, payload);
    });
    buildLegend();
    paintToggles();
  }

  // --- showing and hiding lines -------------------------------------------------------

  function lineStyles() {
    const found = new Map(); // key -> its series: colour, and dashes past twelve lines
    charts.forEach((chart) => chart.data.series.forEach((s) => found.set(s.key, s)));
    return found;
  }

  // A dashed line's swatch shows a piece of it: a band across the middle, its dashes halved to fit.
  function dashFill(colour, dash) {
    const stops = [];
    let at = 0;
    dash.forEach((length, i) => {
      const next = at + length / 2;
      stops.push((i % 2 ? "transparent " : colour + " ") + at + "px " + next + "px");
      at = next;
    });
    return "repeating-linear-gradient(90deg, " + stops.join(", ") + ")";
  }

  function setShown(key, value) {
    shown.set(key, value);
    charts.forEach((chart) => {
      chart.plot.tallyKeys.forEach((k, i) => {
        if (k === key) chart.plot.setSeries(i, { show: value });
      });
    });
    paintToggles();
  }

  function toggle(key) {
    setShown(key, !shown.get(key));
  }

  function buildLegend() {
    const legend = document.getElementById("chart-legend");
    const first = charts.values().next().value;
    if (!legend || !first) return;
    const keys = first.data.series.map((s) => s.key).join("\n");
    if (legend.dataset.keys === keys) return;
    legend.dataset.keys = keys;
    legend.textContent = "";
    first.data.series.forEach((s) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "legend-item";
      button.dataset.series = s.key;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.setAttribute("aria-hidden", "true");
      const text = document.createElement("span");
      text.className = "legend-text";
      text.textContent = labelOf(s);
      button.append(swatch, text);
      legend.append(button);
    });
  }

  // Legend entries and the table rows' buttons: each swatch in its line's colour, pressed when drawn.
  function paintToggles() {
    const styles = lineStyles();
    document.querySelectorAll(".legend-item[data-series], .series-toggle[data-series]").forEach((el) => {
      const key = el.dataset.series;
      const on = Boolean(shown.get(key));
      el.setAttribute("aria-pressed", on ? "true" : "false");
      const swatch = el.querySelector(".swatch");
      if (swatch && styles.has(key)) {
        const s = styles.get(key);
        swatch.style.backgroundColor = on && !s.dash ? s.color : "transparent";
        swatch.style.backgroundImage = on && s.dash ? dashFill(s.color, s.dash) : "none";
        swatch.style.backgroundSize = s.dash ? "100% 50%" : "";
        swatch.style.backgroundPosition = s.dash ? "center" : "";
        swatch.style.backgroundRepeat = s.dash ? "no-repeat" : "";
        swatch.style.borderColor = s.color;
        swatch.style.borderStyle = s.dash ? "dashed" : "";
        if (s.dash) swatch.dataset.dash = s.dash.join(" ");
        else delete swatch.dataset.dash;
      }
      const row = el.closest("tr");
      if (row) row.classList.toggle("drawn", on);
    });
  }

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const button = target.closest(".legend-item[data-series], .series-toggle[data-series]");
    if (button) {
      toggle(button.dataset.series);
      return;
    }
    const sorter = target.closest("table.sortable th[data-sort] button.sort");
    if (sorter) {
      sortBy(sorter.closest("th"));
      return;
    }
    // A click anywhere else on a row (but not on its link, or when selecting text) toggles its line.
    const row = target.closest("#hypothesis-table tr[data-series]");
    if (row && !target.closest("a, button, input") && !String(window.getSelection() || "")) {
      toggle(row.dataset.series);
    }
  });

  // --- sorting the table --------------------------------------------------------------

  function cellValue(row, column, numeric) {
    const cell = row.children[column];
    if (!cell) return null;
    const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    if (numeric) {
      const n = parseFloat(raw);
      return Number.isNaN(n) ? null : n;
    }
    return raw.toLocaleLowerCase(lang);
  }

  function applySort(table) {
    if (!sortState) return;
    const header = table.tHead.rows[0].cells[sortState.column];
    if (!header) return;
    const numeric = header.dataset.sort === "num";
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const sign = sortState.direction === "ascending" ? 1 : -1;
    rows.sort((a, b) => {
      const x = cellValue(a, sortState.column, numeric);
      const y = cellValue(b, sortState.column, numeric);
      if (x === y) return 0;
      if (x === null) return 1; // blanks last, either way
      if (y === null) return -1;
      return (x < y ? -1 : 1) * sign;
    });
    rows.forEach((row) => body.append(row));
    Array.from(table.tHead.rows[0].cells).forEach((th, i) => {
      if (i === sortState.column) th.setAttribute("aria-sort", sortState.direction);
      else th.removeAttribute("aria-sort");
    });
  }

  function sortBy(header) {
    const table = header.closest("table");
    const column = header.cellIndex;
    const numeric = header.dataset.sort === "num";
    let direction = numeric ? "descending" : "ascending"; // numbers: biggest first
    if (sortState && sortState.column === column) {
      direction = sortState.direction === "ascending" ? "descending" : "ascending";
    }
    sortState = { column: column, direction: direction };
    applySort(table);
  }

  // --- large type ---------------------------------------------------------------------

  function setLarge(on) {
    document.documentElement.classList.toggle("large-type", on);
    document.querySelectorAll(".large-type-toggle").forEach((b) => b.setAttribute("aria-pressed", on ? "true" : "false"));
    try {
      if (on) localStorage.setItem(LARGE_KEY, "1");
      else localStorage.removeItem(LARGE_KEY);
    } catch (e) {
      /* private mode: it lasts for this page */
    }
  }

  document.querySelectorAll(".large-type-toggle").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => {
      setLarge(!large());
      drawAll(true);
    });
  });
  try {
    if (localStorage.getItem(LARGE_KEY) === "1") setLarge(true);
  } catch (e) {
    /* no storage: normal type */
  }

  // --- refreshes and resizing ---------------------------------------------------------

  // The numbers refresh every 30 seconds; a reader who needs them to hold still (a screen reader
  // going through the table, someone reading slowly) pauses that here. htmx keeps polling, and each
  // poll is dropped before it is sent while paused. Focus survives a refresh without pausing:
  // everything focusable in #numbers has an id, and htmx focuses the new element with the old id.
  let paused = false;
  // The "Updated" line says which: a refresh already on its way when the reader paused brings the
  // line anew, so it is set again after every swap.
  const showPaused = () => {
    document.querySelectorAll(".refresh-live").forEach((span) => (span.hidden = paused));
    document.querySelectorAll(".refresh-paused").forEach((span) => (span.hidden = !paused));
  };
  document.querySelectorAll(".refresh-toggle").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => {
      paused = !paused;
      document.querySelectorAll(".refresh-toggle").forEach((b) => b.setAttribute("aria-pressed", paused ? "true" : "false"));
      showPaused();
    });
  });
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    if (paused && event.detail.elt && event.detail.elt.id === "numbers") event.preventDefault();
  });
  document.body.addEventListener("htmx:afterSwap", showPaused);

  // The chart data's <details> stays open across a refresh, as the reader left it.
  let dataOpen = false;
  document.addEventListener(
    "toggle",
    (event) => {
      if (event.target instanceof Element && event.target.id === "chart-data") dataOpen = event.target.open;
    },
    true
  );
  // htmx gives the focus back (by id) before this runs, which it cannot inside a closed <details>:
  // once it is open again, the focus goes back here.
  let focusedId = "";
  document.body.addEventListener("htmx:beforeSwap", () => {
    focusedId = document.activeElement ? document.activeElement.id : "";
  });
  document.body.addEventListener("htmx:afterSwap", () => {
    const details = document.getElementById("chart-data");
    if (!details || !dataOpen) return;
    details.open = true;
    const focused = focusedId && document.getElementById(focusedId);
    if (focused && document.activeElement !== focused && details.contains(focused)) focused.focus({ preventScroll: true });
  });

  document.body.addEventListener("htmx:afterSettle", () => {
    drawAll(false);
    const table = document.getElementById("hypothesis-table");
    if (table) applySort(table);
  });

  let resizeTimer = null;
  function resized() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      charts.forEach((chart) => {
        const width = Math.max(240, chart.container.clientWidth);
        if (width !== chart.plot.width) chart.plot.setSize({ width: width, height: chartHeight(width) });
      });
    }, 100);
  }
  window.addEventListener("resize", resized);

  drawAll(true);
})();
