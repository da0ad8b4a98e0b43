/* The setup page's copy buttons.
   (A static file, not inline script: the tool's Content-Security-Policy allows scripts only from itself.) */
(function () {
  "use strict";
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.dataset.target);
      field.select();
      var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard) { navigator.clipboard.writeText(field.value).then(done, function () {}); }
      else if (document.execCommand("copy")) { done(); }
    });
  });
})();
