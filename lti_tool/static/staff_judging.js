// The judging page (staff/assess.html): a live "judged N of M" count, per-unit counts, an "All met" button per
// outcome, error links that unfold their unit, and the draft saved as the assessor goes. Without this script the
// form works as it is: the counts are those the server rendered, every choice is made one by one, and the draft
// is saved with "Save draft".
(function () {
  "use strict";
  var form = document.querySelector("form[data-judging]");
  if (!form) { return; }

  function judged(scope) {
    var fieldsets = scope.querySelectorAll("fieldset[data-criterion]");
    var done = 0;
    fieldsets.forEach(function (fs) {
      if (fs.querySelector("input[type=radio]:checked")) { done += 1; }
    });
    return [done, fieldsets.length];
  }

  // The server writes each count in every form it can take, in the page's language (data-counts: the words
  // for 0, 1, 2... judged): the one that fits is shown; the server's own stays when they are missing.
  function showCount(el, n) {
    if (!el) { return; }
    var words;
    try { words = JSON.parse(el.getAttribute("data-counts") || "[]"); } catch (e) { return; }
    if (typeof words[n] === "string") { el.textContent = words[n]; }
  }

  function refresh() {
    showCount(form.querySelector("[data-judged-count]"), judged(form)[0]);
    form.querySelectorAll("details[data-unit]").forEach(function (unit) {
      showCount(unit.querySelector("[data-unit-count]"), judged(unit)[0]);
    });
  }

  form.addEventListener("change", function (event) {
    var target = event.target;
    if (!target || target.type !== "radio") { return; }
    if (target.value === "not_met") {
      // Not yet met needs feedback for the learner: show its field.
      var feedback = target.closest("fieldset").querySelector("details[data-feedback]");
      if (feedback) { feedback.open = true; }
    }
    refresh();
  });

  form.querySelectorAll("[data-outcome]").forEach(function (outcome) {
    var button = outcome.querySelector("button[data-all-met]");
    if (!button) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      outcome.querySelectorAll("input[type=radio][value=met]").forEach(function (radio) { radio.checked = true; });
      refresh();
      form.dispatchEvent(new Event("change"));
    });
  });

  // A link to a field inside a folded unit (the error list, the evidence links) unfolds it first.
  function reveal(id) {
    var target = id && document.getElementById(id);
    if (!target) { return; }
    var details = target.closest("details");
    while (details) {
      details.open = true;
      details = details.parentElement && details.parentElement.closest("details");
    }
    target.focus();
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href^='#']");
    if (link && link.getAttribute("href").length > 1) { reveal(link.getAttribute("href").slice(1)); }
  });

  // Drafts saved as the assessor goes: a few seconds after the last change, the form is posted as "Save
  // draft" in the background (the server answers 204). A failed save says so; "Save draft" still works.
  // The statuses are the page's words (data-saved, data-refused, data-failed); the time is written as
  // local_time.js writes every clock time, in the page's language and the browser's named time zone.
  var status = form.querySelector("[data-autosave-status]");
  var timer = null;
  var lang = document.documentElement.lang || "en";
  if (lang === "ar-XB") { lang = "ar"; }  /* the pseudo-locale writes times as Arabic does */
  var clock = null;
  try {
    clock = new Intl.DateTimeFormat(lang, {hour: "2-digit", minute: "2-digit", timeZoneName: "short"});
  } catch (e) { clock = null; }

  function say(key) { return (status && status.getAttribute("data-" + key)) || ""; }

  function saved() {
    var now = new Date();
    var time = document.createElement("time");
    time.setAttribute("datetime", now.toISOString());
    time.textContent = clock ? clock.format(now) : now.toISOString().slice(11, 16) + " UTC";
    var zone = clock && clock.resolvedOptions().timeZone;
    var zoneLabel = document.documentElement.getAttribute("data-zone-label");
    if (zone && zoneLabel) { time.title = zoneLabel.replace("%s", zone); }
    var parts = say("saved").split("%s");
    status.textContent = parts[0];
    if (parts.length > 1) {
      status.appendChild(time);
      status.appendChild(document.createTextNode(parts.slice(1).join("%s")));
    }
  }
  function autosave() {
    var data = new FormData(form);
    data.set("action", "save");
    fetch(form.getAttribute("action") || window.location.href, {
      method: "POST", body: data, credentials: "same-origin", headers: {"X-Requested-With": "autosave"}
    }).then(function (response) {
      if (!status) { return; }
      if (response.status === 204) { saved(); } else { status.textContent = say("refused"); }
    }).catch(function () {
      if (status) { status.textContent = say("failed"); }
    });
  }
  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(autosave, 2000);
  }
  form.addEventListener("change", later);
  form.addEventListener("input", later);
  form.addEventListener("submit", function () { if (timer) { clearTimeout(timer); } });

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
  refresh();
})();
