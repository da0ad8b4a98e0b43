/* The learner's pages, progressively enhanced (every page works without this script):
   - an error summary takes the focus, so the person sees and hears what to correct (the page may have
     come back after a long form, scrolled far below it);
   - the criteria picker of the evidence form: a search box, "every criterion of this outcome", counts;
   - a link to a criterion of the criteria map opens it. */
(function () {
  "use strict";

  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.scrollIntoView({ block: "start" });
    summary.focus();
  }

  // --- the criteria map: following a link to a criterion opens it ---------------------------------------
  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id && document.getElementById(id);
    var details = target && (target.tagName === "DETAILS" ? target : target.querySelector("details"));
    if (details && !details.open) { details.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  // --- the evidence form's criteria picker ----------------------------------------------------------------
  var picker = document.querySelector(".criteria-picker");
  if (!picker) { return; }
  var units = Array.prototype.slice.call(picker.querySelectorAll("details[data-unit]"));

  function boxesOf(el) { return Array.prototype.slice.call(el.querySelectorAll('input[name="criteria"]')); }

  // The server writes a count in each form it can take, in the page's language (data-counts: the words for
  // 0, 1, 2... as that language writes them); nothing is written when they are missing.
  function countWords(el, n) {
    var words;
    try { words = JSON.parse(el.getAttribute("data-counts") || "[]"); } catch (e) { return null; }
    return typeof words[n] === "string" ? words[n] : null;
  }

  function refreshCounts() {
    units.forEach(function (unit) {
      var boxes = boxesOf(unit);
      var ticked = boxes.filter(function (b) { return b.checked; }).length;
      var count = unit.querySelector("[data-chosen-count]");
      var words = count && countWords(count, ticked);
      if (typeof words === "string") { count.textContent = words; }
    });
    picker.querySelectorAll("fieldset[data-outcome]").forEach(function (outcome) {
      var all = outcome.querySelector("[data-select-all]");
      if (!all) { return; }
      var boxes = boxesOf(outcome);
      var ticked = boxes.filter(function (b) { return b.checked; }).length;
      all.checked = ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    });
  }

  picker.querySelectorAll("[data-select-all-row]").forEach(function (row) { row.hidden = false; });
  picker.addEventListener("change", function (event) {
    var box = event.target;
    if (box.hasAttribute && box.hasAttribute("data-select-all")) {
      boxesOf(box.closest("fieldset")).forEach(function (b) { b.checked = box.checked; });
    }
    refreshCounts();
  });
  refreshCounts();

  // Search: show only the criteria whose code or text contains every word typed; open the units that hold
  // them; clearing the box puts the units back as the person had them.
  var search = picker.querySelector("[data-criteria-search]");
  var input = document.getElementById("criteria-filter");
  var status = document.getElementById("criteria-filter-status");
  if (!search || !input) { return; }
  search.hidden = false;
  var openBefore = null;

  function filter() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) {
      picker.querySelectorAll("[data-criterion], fieldset[data-outcome], details[data-unit]").forEach(function (el) {
        el.hidden = false;
      });
      if (openBefore) { units.forEach(function (u, i) { u.open = openBefore[i]; }); openBefore = null; }
      status.textContent = "";
      return;
    }
    if (!openBefore) { openBefore = units.map(function (u) { return u.open; }); }
    var shown = 0;
    units.forEach(function (unit) {
      var inUnit = 0;
      unit.querySelectorAll("fieldset[data-outcome]").forEach(function (outcome) {
        var inOutcome = 0;
        var outcomeText = (outcome.querySelector("legend") || {}).textContent || "";
        outcome.querySelectorAll("[data-criterion]").forEach(function (row) {
          var text = (row.textContent + " " + outcomeText).toLowerCase();
          var match = words.every(function (w) { return text.indexOf(w) !== -1; });
          row.hidden = !match;
          if (match) { inOutcome++; }
        });
        outcome.hidden = !inOutcome;
        inUnit += inOutcome;
      });
      unit.hidden = !inUnit;
      unit.open = inUnit > 0;
      shown += inUnit;
    });
    var said = countWords(status, shown);
    status.textContent = said === null ? String(shown) : said;
  }
  input.addEventListener("input", filter);
  // Enter in the search box must not send the form half-filled.
  input.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); } });
})();
