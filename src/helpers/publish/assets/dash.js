/* Leadership dashboards: sortable tables, filters, Vega-Lite charts. No network, no globals. */
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.children[index];
    var v = cell ? cell.getAttribute("data-v") : "";
    if (v === null || v === "") { return null; }
    var n = Number(v);
    return isNaN(n) ? v : n;
  }

  function sortTable(table, index, th) {
    var body = table.tBodies[0];
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
      if (c.hasAttribute("aria-sort")) { c.setAttribute("aria-sort", "none"); }
    });
    th.setAttribute("aria-sort", dir);
    var sign = dir === "ascending" ? 1 : -1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }   /* empty cells last either way */
      if (y === null) { return -1; }
      if (typeof x === "number" && typeof y === "number") { return sign * (x - y); }
      return sign * String(x).localeCompare(String(y));
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table[data-sortable]"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var button = th.querySelector("button.kp-sort");
      if (button) {
        button.addEventListener("click", function () { sortTable(table, index, th); });
      }
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-filters]"), function (box) {
    var table = document.getElementById(box.getAttribute("data-filters"));
    var noun = box.getAttribute("data-noun") || "rows";
    var count = box.querySelector(".kp-count");
    var controls = Array.prototype.slice.call(box.querySelectorAll("[data-key]"));
    function apply() {
      var rows = table.tBodies[0].rows, shown = 0, total = 0;
      var month = null;
      controls.forEach(function (c) { if (c.getAttribute("data-key") === "month") { month = c.value; } });
      Array.prototype.forEach.call(rows, function (row) {
        var ok = true;
        controls.forEach(function (c) {
          var key = c.getAttribute("data-key");
          if (c.type === "checkbox") {
            if (c.checked && row.getAttribute("data-" + key) !== "1") { ok = false; }
          } else if (key === "q") {
            var q = c.value.trim().toLowerCase();
            if (q && (row.getAttribute("data-q") || "").indexOf(q) === -1) { ok = false; }
          } else if (c.value && row.getAttribute("data-" + key) !== c.value) {
            ok = false;
          }
        });
        if (month === null || row.getAttribute("data-month") === month) { total += 1; }
        row.hidden = !ok;
        if (ok) { shown += 1; }
      });
      if (count) { count.textContent = shown + " of " + total + " " + noun + " shown"; }
    }
    controls.forEach(function (c) {
      c.addEventListener(c.tagName === "INPUT" && c.type !== "checkbox" ? "input" : "change", apply);
    });
    apply();
  });

  /* Keyboard: Enter or Space on a focused chart opens its table view (the same figures). */
  Array.prototype.forEach.call(document.querySelectorAll("figure.kp-chart"), function (fig) {
    var canvas = fig.querySelector(".kp-chart-canvas");
    var details = fig.querySelector("details.kp-chart-table");
    if (!canvas || !details) { return; }
    canvas.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        details.open = true;
        details.querySelector("summary").focus();
      }
    });
  });

  if (typeof window.vegaEmbed === "function") {
    Array.prototype.forEach.call(document.querySelectorAll("figure.kp-chart[data-spec]"), function (fig) {
      var source = document.getElementById(fig.getAttribute("data-spec"));
      var target = fig.querySelector(".kp-chart-canvas");
      var spec = JSON.parse(source.textContent);
      window.vegaEmbed(target, spec, {
        mode: "vega-lite", actions: false, renderer: "svg", tooltip: { theme: "light" }
      }).catch(function (err) {
        fig.classList.add("kp-chart-failed");
        target.textContent = "The chart could not be drawn; the table view below has its figures.";
        throw err;
      });
    });
  }
})();
