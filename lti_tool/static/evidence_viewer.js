/* The evidence viewer of the staff pages (staff/_evidence.html): an empty frame would stand as a tall blank box
   under the evidence list, so it takes no room until a file is chosen; its hint says what View does meanwhile.
   Without this script the frame is always there (the View links target it by name) under the same hint. */
(function () {
  "use strict";
  var viewer = document.querySelector("iframe[data-evidence-viewer]");
  if (!viewer) { return; }
  var hint = document.querySelector("[data-viewer-hint]");
  viewer.hidden = true;

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[target='evidence-viewer']");
    if (!link) { return; }
    viewer.hidden = false;
    if (hint) { hint.hidden = true; }
    // On a phone the frame is below the whole list, out of sight of the link that was followed.
    viewer.scrollIntoView({ block: "nearest" });
  });
})();
