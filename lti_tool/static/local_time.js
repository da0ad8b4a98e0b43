/* Dates in the reader's own time zone and the page's language. The server writes every moment in the
   person's zone once known (UTC until then), naming it, inside <time datetime="..." data-local="moment|day">
   (web/dates.py); here they are rewritten in the browser's zone, which is named. A cookie cannot carry the
   zone: the LMS iframe blocks the tool's cookies; the language switch's form carries it instead. */
(function () {
  "use strict";
  if (!window.Intl || !Intl.DateTimeFormat) { return; }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  document.querySelectorAll("input[data-browser-timezone]").forEach(function (input) {
    if (zone) { input.value = zone; }
  });
  var lang = document.documentElement.lang || "en";
  if (lang === "ar-XB") { lang = "ar"; }  /* the pseudo-locale writes dates as Arabic does */
  var day, clock;
  try {
    day = new Intl.DateTimeFormat(lang, { day: "numeric", month: "long", year: "numeric" });
    clock = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  } catch (e) {
    return;
  }
  var zoneLabel = document.documentElement.getAttribute("data-zone-label") || "Your time zone: %s";
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var moment = new Date(el.getAttribute("datetime"));
    if (isNaN(moment.getTime())) { return; }
    var text = day.format(moment);
    if (el.getAttribute("data-local") === "moment") { text += ", " + clock.format(moment); }
    el.textContent = text;
    if (zone) { el.title = zoneLabel.replace("%s", zone); }
  });
})();
