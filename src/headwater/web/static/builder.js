// Headwater console: the data-flow builder's conveniences (table search, select all/none, bulk
// edit, cron presets and the live "next five runs" preview). Everything also works without it:
// the form is plain HTML and the server renders the fire times on Review.
"use strict";

function builderRows() {
  return Array.prototype.slice.call(document.querySelectorAll("#tables > tbody > tr"));
}

function updateCount() {
  var out = document.getElementById("selected-count");
  if (!out) { return; }
  var picked = builderRows().filter(function (row) { return row.querySelector(".t-sel").checked; });
  out.textContent = picked.length + " of " + builderRows().length + " tables selected";
}

function setupTables() {
  var search = document.getElementById("table-search");
  if (!search) { return; }
  search.addEventListener("input", function () {
    var text = search.value.toLowerCase();
    builderRows().forEach(function (row) {
      row.hidden = text !== "" && row.getAttribute("data-table").toLowerCase().indexOf(text) < 0;
    });
  });
  var pick = function (checked) {
    builderRows().forEach(function (row) { if (!row.hidden) { row.querySelector(".t-sel").checked = checked; } });
    updateCount();
  };
  document.getElementById("select-all").addEventListener("click", function () { pick(true); });
  document.getElementById("select-none").addEventListener("click", function () { pick(false); });
  document.getElementById("bulk-apply").addEventListener("click", function () {
    var load = document.getElementById("bulk-load").value;
    var extract = document.getElementById("bulk-extract").value;
    builderRows().forEach(function (row) {
      if (row.querySelector(".t-sel").checked) {
        row.querySelector(".t-load").value = load;
        row.querySelector(".t-extract").value = extract;
      }
    });
  });
  builderRows().forEach(function (row) { row.querySelector(".t-sel").addEventListener("change", updateCount); });
  updateCount();
}

function setupSchedule() {
  var cron = document.getElementById("b-cron");
  var list = document.getElementById("fires");
  if (!cron || !list) { return; }
  var preset = document.getElementById("b-preset");
  var dailyAt = document.getElementById("b-daily-at");
  var zone = document.getElementById("b-tz");
  var none = document.getElementById("fires-none");
  var timer = null;
  var refresh = function () {
    var url = list.getAttribute("data-url") + "?cron=" + encodeURIComponent(cron.value) + "&tz=" + encodeURIComponent(zone.value);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        list.textContent = "";
        data.fires.forEach(function (when) {
          var item = document.createElement("li");
          item.textContent = when;
          list.appendChild(item);
        });
        none.hidden = data.fires.length > 0 || cron.value.trim() === "";
      })
      .catch(function () { /* the preview is a convenience; Review shows the times too */ });
  };
  var later = function () { clearTimeout(timer); timer = setTimeout(refresh, 250); };
  preset.addEventListener("change", function () { if (preset.value) { cron.value = preset.value; refresh(); } });
  dailyAt.addEventListener("change", function () {
    var parts = dailyAt.value.split(":");
    if (parts.length >= 2) { cron.value = parseInt(parts[1], 10) + " " + parseInt(parts[0], 10) + " * * *"; refresh(); }
  });
  cron.addEventListener("input", later);
  zone.addEventListener("change", refresh);
}

document.addEventListener("DOMContentLoaded", function () {
  setupTables();
  setupSchedule();
});

// The logic step editor: show the fields of each step's type, move steps, keep their order.
function setupSteps() {
  var list = document.getElementById("steps");
  if (!list) { return; }
  var order = document.getElementById("step-order");
  var sync = function () {
    order.value = Array.prototype.map.call(list.children, function (li) { return li.getAttribute("data-index"); }).join(",");
  };
  var show = function (li) {
    var kind = li.querySelector(".step-type").value;
    li.querySelectorAll("[data-for]").forEach(function (part) {
      part.hidden = kind === "" || part.getAttribute("data-for").split(" ").indexOf(kind) < 0;
    });
  };
  Array.prototype.forEach.call(list.children, function (li) {
    show(li);
    li.querySelector(".step-type").addEventListener("change", function () { show(li); });
    li.querySelector(".move-up").addEventListener("click", function (event) {
      if (li.previousElementSibling) { list.insertBefore(li, li.previousElementSibling); sync(); event.target.focus(); }
    });
    li.querySelector(".move-down").addEventListener("click", function (event) {
      if (li.nextElementSibling) { list.insertBefore(li.nextElementSibling, li); sync(); event.target.focus(); }
    });
  });
  sync();
}

document.addEventListener("DOMContentLoaded", setupSteps);
