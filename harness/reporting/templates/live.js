// Pages that follow runs while they train. Only a page served over HTTP (make serve) polls, and only while
// something it shows is running; opened from disk it stays the page it was written as. Each poll fetches one
// small file the harness writes as it goes (a run's history.csv and status.json, a group's live.json, the
// index's index-data.js); nothing comes from anywhere else.
var Live = (function () {
  var served = /^https?:$/.test(location.protocol);
  var SVG = "http://www.w3.org/2000/svg";

  function text(url) {
    return fetch(url, {cache: "no-store"}).then(function (response) {
      if (!response.ok) throw new Error(url + ": HTTP " + response.status);
      return response.text();
    });
  }

  // step() every `ms` while it answers true (or a promise of true); a failed fetch waits longer and tries again.
  function every(ms, step) {
    function tick() {
      Promise.resolve().then(step).then(
        function (goOn) { if (goOn) setTimeout(tick, ms); },
        function () { setTimeout(tick, ms * 3); }
      );
    }
    setTimeout(tick, ms);
  }

  // The harness writes a page's final version just after the status that ends it: wait for it, then show it.
  function reloadWhenFinal() {
    var marker = "data-live=" + '"running"';
    every(1000, function () {
      return text(location.pathname).then(function (page) {
        if (page.indexOf(marker) >= 0) return true;
        location.reload();
        return false;
      });
    });
  }

  function duration(seconds) {
    if (!isFinite(seconds) || seconds < 0) return "-";
    seconds = Math.round(seconds);
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    if (h) return h + " h " + String(m).padStart(2, "0") + " min";
    return m ? m + " min " + String(s).padStart(2, "0") + " s" : s + " s";
  }

  // A CSV of numbers (Keras's CSVLogger) as objects; a row still being written, or short, is left out.
  function csv(content) {
    var lines = content.split(/\r?\n/), names = lines[0].split(","), rows = [];
    lines.slice(1).forEach(function (line) {
      var cells = line.split(",");
      if (cells.length !== names.length) return;
      var row = {};
      names.forEach(function (name, i) { row[name] = cells[i] === "" ? NaN : Number(cells[i]); });
      rows.push(row);
    });
    return rows;
  }

  function element(name, attributes, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  // One panel of learning curves: train dashed, validation solid, as the run's learning_curves.png draws them.
  function panel(rows, metric, title, labels) {
    var width = 520, height = 260, left = 52, right = 12, top = 26, bottom = 34;
    var svg = element("svg", {viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img"});
    svg.setAttribute("aria-label", title);
    var values = [];
    rows.forEach(function (row) { [row[metric], row["val_" + metric]].forEach(function (v) { if (isFinite(v)) values.push(v); }); });
    var low = Math.min.apply(null, values), high = Math.max.apply(null, values);
    if (!values.length) { low = 0; high = 1; }
    if (high - low < 1e-9) { low -= 0.5; high += 0.5; }
    var last = Math.max(1, rows.length - 1);
    function x(i) { return left + (width - left - right) * i / last; }
    function y(v) { return top + (height - top - bottom) * (1 - (v - low) / (high - low)); }
    element("text", {x: width / 2, y: 16, "text-anchor": "middle", "font-size": 13}, svg).textContent = title;
    element("rect", {x: left, y: top, width: width - left - right, height: height - top - bottom, fill: "none", stroke: "#ccd"}, svg);
    [low, high].forEach(function (v) {
      element("text", {x: left - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#556"}, svg).textContent = v.toPrecision(3);
    });
    element("text", {x: left, y: height - 8, "font-size": 10, fill: "#556"}, svg).textContent = rows.length ? String(rows[0].epoch + 1) : "";
    element("text", {x: width - right, y: height - 8, "text-anchor": "end", "font-size": 10, fill: "#556"}, svg).textContent = labels.epoch + " " + (rows.length ? rows[rows.length - 1].epoch + 1 : "");
    [[metric, "4 3", "#1f77b4", labels.train], ["val_" + metric, "", "#ff7f0e", labels.validation]].forEach(function (line, n) {
      var points = rows.map(function (row, i) { return isFinite(row[line[0]]) ? x(i) + "," + y(row[line[0]]) : null; }).filter(Boolean);
      element("polyline", {points: points.join(" "), fill: "none", stroke: line[2], "stroke-width": 2, "stroke-dasharray": line[1]}, svg);
      points.forEach(function (point) {
        var xy = point.split(",");
        element("circle", {cx: xy[0], cy: xy[1], r: 2.5, fill: line[2]}, svg);
      });
      element("text", {x: width - right - 4, y: top + 14 + 14 * n, "text-anchor": "end", "font-size": 11, fill: line[2]}, svg).textContent = line[3];
    });
    return svg;
  }

  function curves(container, rows, labels) {
    container.replaceChildren(panel(rows, "loss", labels.loss, labels), panel(rows, "accuracy", labels.accuracy, labels));
  }

  // A table cell with its text, or a link when `link` is given, appended to `row`; returned.
  function cell(row, content, className, link) {
    var td = document.createElement("td");
    if (className) td.className = className;
    if (link) {
      var a = document.createElement("a");
      a.href = link; a.textContent = content; td.appendChild(a);
    } else {
      td.textContent = content;
    }
    row.appendChild(td);
    return td;
  }

  return {served: served, text: text, every: every, reloadWhenFinal: reloadWhenFinal, duration: duration, csv: csv, curves: curves,
          cell: cell};
})();
