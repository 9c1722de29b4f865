// The harvest form: add lines without reloading, show each crop's unit, and preview the split.
// Plain JavaScript, no dependencies; without it the form still works with its empty lines.
(function () {
  "use strict";
  var form = document.getElementById("harvest-form");
  if (!form) { return; }
  var lines = form.querySelector("[data-lines]");
  var addButton = document.getElementById("add-line");
  var preview = document.getElementById("preview");
  var body = preview ? preview.querySelector("[data-preview-body]") : null;
  var timer = null;
  var latest = 0;
  var LINE_NAME = /^lines-\d+-/;

  function showUnit(line) {
    var select = line.querySelector("[data-crop]");
    var label = line.querySelector("[data-unit-label]");
    if (!select || !label) { return; }
    var option = select.options[select.selectedIndex];
    label.textContent = option ? (option.getAttribute("data-unit") || "") : "";
  }

  function lineIndex(line) {
    var select = line.querySelector("[data-crop]");
    var match = select ? /^lines-(\d+)-/.exec(select.name) : null;
    return match ? parseInt(match[1], 10) : -1;
  }

  function addLine() {
    var all = lines.querySelectorAll("[data-line]");
    var last = all[all.length - 1];
    var next = 0;
    Array.prototype.forEach.call(all, function (line) { next = Math.max(next, lineIndex(line) + 1); });
    var copy = last.cloneNode(true);
    var prefix = "lines-" + next + "-";
    copy.classList.remove("has-error");
    Array.prototype.forEach.call(copy.querySelectorAll(".error"), function (el) { el.remove(); });
    Array.prototype.forEach.call(copy.querySelectorAll("[name], [id], [for]"), function (el) {
      ["name", "id", "for"].forEach(function (attr) {
        var value = el.getAttribute(attr);
        if (value) { el.setAttribute(attr, value.replace(LINE_NAME, prefix)); }
      });
      el.removeAttribute("aria-describedby");
      el.removeAttribute("aria-invalid");
    });
    copy.querySelector("[data-crop]").value = "";
    copy.querySelector("[data-quantity]").value = "";
    showUnit(copy);
    lines.appendChild(copy);
    copy.querySelector("[data-crop]").focus();
  }

  function element(tag, text, className) {
    var el = document.createElement(tag);
    if (text !== undefined && text !== null) { el.textContent = text; }
    if (className) { el.className = className; }
    return el;
  }

  function render(data) {
    body.replaceChildren();
    if (data.error) {
      body.appendChild(element("p", data.error, "error"));
    } else if (!data.crops.length) {
      body.appendChild(element("p", data.empty, "muted"));
    } else {
      body.appendChild(element("p", data.note));
      data.crops.forEach(function (crop) {
        var table = element("table");
        table.appendChild(element("caption", crop.caption));
        var tbody = element("tbody");
        crop.rows.forEach(function (row) {
          var tr = element("tr");
          var th = element("th", row.label);
          th.scope = "row";
          tr.appendChild(th);
          tr.appendChild(element("td", row.value, "num"));
          tbody.appendChild(tr);
        });
        table.appendChild(tbody);
        body.appendChild(table);
      });
    }
    (data.skipped || []).forEach(function (text) {
      body.appendChild(element("p", text, "skipped"));
    });
    preview.hidden = false;
  }

  function refresh() {
    if (!preview || !body) { return; }
    var params = new URLSearchParams(new FormData(form));
    params.delete("csrf_token");
    var mine = ++latest;
    fetch(form.getAttribute("data-preview-url") + "?" + params.toString(), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) { if (mine === latest) { render(data); } })
      .catch(function () { if (mine === latest) { preview.hidden = true; } });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 350);
  }

  form.addEventListener("change", function (event) {
    var line = event.target.closest("[data-line]");
    if (line && event.target.matches("[data-crop]")) { showUnit(line); }
    schedule();
  });
  form.addEventListener("input", schedule);
  if (addButton) {
    addButton.hidden = false;
    addButton.addEventListener("click", addLine);
  }
  Array.prototype.forEach.call(lines.querySelectorAll("[data-line]"), showUnit);
  refresh();
}());
