/* The award page's copy buttons. Without JavaScript the buttons stay hidden and the links sit in read-only
   fields to select and copy. (A static file: the Content-Security-Policy allows no inline script.) */
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  document.querySelectorAll("button.copy[data-target]").forEach(function (button) {
    var field = document.getElementById(button.dataset.target);
    var section = button.closest("section");
    var status = section ? section.querySelector(".copy-status") : null;
    if (!field) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      field.focus();
      field.select();
      var done = function () {
        var label = button.textContent;
        button.textContent = "Copied";
        if (status) { status.textContent = "Copied to the clipboard."; }
        setTimeout(function () { button.textContent = label; }, 2000);
      };
      var failed = function () { if (status) { status.textContent = "Copying is blocked here: the link is selected, copy it with your keyboard or menu."; } };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          if (document.execCommand && document.execCommand("copy")) { done(); } else { failed(); }
        });
      } else if (document.execCommand && document.execCommand("copy")) { done(); } else { failed(); }
    });
  });
});
