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
  builderRows().forEach(function (row) {
    row.querySelector(".t-sel").addEventListener("change", updateCount);
    var columns = function (checked) {
      row.querySelectorAll(".c-sel").forEach(function (box) { box.checked = checked; });
    };
    var all = row.querySelector(".cols-all");
    var none = row.querySelector(".cols-none");
    if (all) { all.addEventListener("click", function () { columns(true); }); }
    if (none) { none.addEventListener("click", function () { columns(false); }); }
  });
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
  var asked = 0;
  var refresh = function () {
    var url = list.getAttribute("data-url") + "?cron=" + encodeURIComponent(cron.value) + "&tz=" + encodeURIComponent(zone.value);
    var mine = ++asked;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (mine !== asked) { return; }  // an older answer arriving late: the newer one wins
        list.textContent = "";
        data.fires.forEach(function (when) {
          var item = document.createElement("li");
          item.textContent = when;
          list.appendChild(item);
        });
        none.textContent = data.error || "Not a valid 5-field cron expression.";
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

// "New connection" in the builder: a modal dialog (the page behind is inert, so focus stays
// inside; Esc closes it) that creates the connection through the console's inline endpoint and
// selects it in the picker that opened it, without leaving the half-filled form.
function setupNewConnection() {
  var dialog = document.getElementById("new-connection");
  if (!dialog || !dialog.showModal) { return; }
  var form = document.getElementById("nc-form");
  var type = document.getElementById("nc-type");
  var fields = document.getElementById("nc-fields");
  var status = document.getElementById("nc-status");
  var opener = null;
  var asked = 0;
  var load = function () {
    fields.textContent = "";
    var mine = ++asked;
    if (!type.value) { return; }
    var url = dialog.getAttribute("data-fields-url") + "?type=" + encodeURIComponent(type.value);
    fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) { if (mine !== asked) { return; } fields.innerHTML = html; var first = fields.querySelector("input"); if (first) { first.focus(); } });
  };
  document.querySelectorAll(".new-connection").forEach(function (button) {
    button.addEventListener("click", function () {
      opener = button;
      var role = button.getAttribute("data-role");
      Array.prototype.forEach.call(type.options, function (option) {
        var roles = (option.getAttribute("data-roles") || role).split(" ");
        option.hidden = option.value !== "" && roles.indexOf(role) < 0;
      });
      document.getElementById("nc-title").textContent = "New " + role + " connection";
      type.value = "";
      fields.textContent = "";
      dialog.showModal();
      type.focus();
    });
  });
  type.addEventListener("change", load);
  document.getElementById("nc-cancel").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { if (opener) { opener.focus(); } });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = new URLSearchParams(new FormData(form));
    fetch(form.getAttribute("action"), {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (response) {
      if (response.status === 201) {
        return response.json().then(function (made) {
          ["b-source", "b-target"].forEach(function (id) {
            var picker = document.getElementById(id);
            var role = id === "b-source" ? "source" : "target";
            if (!picker || made.roles.indexOf(role) < 0) { return; }
            var option = document.createElement("option");
            option.value = made.connection_id;
            option.textContent = made.label;
            picker.appendChild(option);
          });
          var chosen = document.getElementById(opener.getAttribute("data-picker"));
          chosen.value = made.connection_id;
          status.textContent = "Created " + made.label + " and selected it.";
          dialog.close();
          chosen.focus();
        });
      }
      return response.text().then(function (html) {
        fields.innerHTML = html;
        var bad = fields.querySelector("[aria-invalid='true']") || fields.querySelector("input");
        if (bad) { bad.focus(); }
      });
    });
  });
}

document.addEventListener("DOMContentLoaded", setupNewConnection);
