/* The certificate's print button (no inline handlers: the Content-Security-Policy allows none). */
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var button = document.getElementById("print-certificate");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
});
