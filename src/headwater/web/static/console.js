// Headwater console: small progressive enhancements (dialogs, copy, live run status).
// Loaded from this origin only (Content-Security-Policy: default-src 'self').
"use strict";

function setupDialogs() {
  document.querySelectorAll("[data-open-dialog]").forEach(function (button) {
    button.addEventListener("click", function () {
      var dialog = document.getElementById(button.getAttribute("data-open-dialog"));
      if (dialog && dialog.showModal) {
        dialog.showModal();
        var cancel = dialog.querySelector("[data-close-dialog]");
        if (cancel) { cancel.focus(); }
      }
    });
  });
  document.querySelectorAll("[data-close-dialog]").forEach(function (button) {
    button.addEventListener("click", function () {
      var dialog = button.closest("dialog");
      if (dialog) { dialog.close(); }
    });
  });
}

function setupCopy() {
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      var status = document.getElementById("copy-status");
      if (!field) { return; }
      var done = function () { if (status) { status.textContent = "Copied to the clipboard."; } button.textContent = "Copied"; };
      var fallback = function () {
        field.focus();
        field.select();
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        if (ok) { done(); } else if (status) { status.textContent = "Press Ctrl+C (or Cmd+C) to copy the selected token."; }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });
}

function statusClass(status) { return "status st-" + String(status).replace(/ /g, "-"); }

function setupRunPage() {
  var live = document.getElementById("run-live");
  if (!live || live.getAttribute("data-final") === "true") { return; }
  var url = live.getAttribute("data-status-url");
  var cursor = parseInt(live.getAttribute("data-cursor") || "0", 10);
  var log = document.getElementById("run-log");
  var text = function (id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } };
  var poll = function () {
    fetch(url + "?after=" + cursor, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); throw new Error("signed out"); }
        return response.json();
      })
      .then(function (state) {
        var badge = document.getElementById("group-status");
        badge.textContent = state.status;
        badge.className = statusClass(state.status);
        text("group-rows", state.rows); text("group-throughput", state.throughput); text("group-size", state.size); text("group-units", state.units);
        text("group-started", state.started); text("group-ended", state.ended);
        var message = document.getElementById("group-message");
        if (message && state.message) { message.textContent = state.message; message.hidden = false; }
        state.runs.forEach(function (run) {
          var row = document.querySelector('tr[data-run-id="' + run.id + '"]');
          if (!row) { return; }
          var cell = row.querySelector(".c-status span");
          cell.textContent = run.status; cell.className = statusClass(run.status);
          row.querySelector(".c-rows").textContent = run.rows;
          row.querySelector(".c-size").textContent = run.size + (run.lag ? " · " + run.lag : "");
          row.querySelector(".c-units").textContent = run.units;
          row.querySelector(".c-error").textContent = run.error;
        });
        state.log.forEach(function (line) {
          var span = document.createElement("span");
          span.className = "lvl-" + line.level;
          span.textContent = line.at + " " + line.level + " " + (line.table ? "[" + line.table + "] " : "") + line.message + "\n";
          log.appendChild(span);
          cursor = Math.max(cursor, line.id);
        });
        if (state.final) {
          live.setAttribute("data-final", "true");
          text("live-hint", "This run has ended.");
          var cancel = document.getElementById("cancel-form");
          if (cancel) { cancel.hidden = true; }
          var again = document.getElementById("again-form");
          if (again) { again.hidden = false; }
          var result = document.getElementById("result-link");
          if (result && state.status === "succeeded") { result.hidden = false; }
        } else {
          setTimeout(poll, 1000);
        }
      })
      .catch(function () { setTimeout(poll, 2000); /* transient: try again */ });
  };
  setTimeout(poll, 1000);
}

function setupInstallPage() {
  var live = document.getElementById("install-live");
  if (!live || live.getAttribute("data-final") === "true") { return; }
  var url = live.getAttribute("data-status-url");
  var poll = function () {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); throw new Error("signed out"); }
        return response.json();
      })
      .then(function (body) {
        var state = body.install;
        var badge = document.getElementById("install-status");
        badge.textContent = state.status;
        badge.className = statusClass(state.status);
        document.getElementById("install-log").textContent = state.progress.join("\n");
        if (state.version) { document.getElementById("install-version").textContent = "version " + state.version; }
        var error = document.getElementById("install-error");
        if (state.error) { error.textContent = state.error; error.hidden = false; }
        if (state.status === "running") {
          setTimeout(poll, 1000);
        } else {
          live.setAttribute("data-final", "true");
          document.getElementById("install-hint").textContent = "The install has ended.";
          document.getElementById("install-done").hidden = false;
        }
      })
      .catch(function () { setTimeout(poll, 2000); /* transient: try again */ });
  };
  setTimeout(poll, 1000);
}

document.addEventListener("DOMContentLoaded", function () {
  setupDialogs();
  setupCopy();
  setupRunPage();
  setupInstallPage();
});
