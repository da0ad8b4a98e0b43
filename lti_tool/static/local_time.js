/* Dates in the reader's own time zone. The server writes every moment in UTC, saying so, inside
   <time datetime="..." data-local="moment|day"> (web/dates.py); here they are rewritten in the browser's
   zone, which is named. A cookie cannot carry the zone: the LMS iframe blocks the tool's cookies. */
(function () {
  "use strict";
  if (!window.Intl || !Intl.DateTimeFormat) { return; }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var day = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", year: "numeric" });
  var clock = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var moment = new Date(el.getAttribute("datetime"));
    if (isNaN(moment.getTime())) { return; }
    var text = day.format(moment);
    if (el.getAttribute("data-local") === "moment") { text += ", " + clock.format(moment); }
    el.textContent = text;
    if (zone) { el.title = "Your time zone: " + zone; }
  });
})();
