/* The demo LMS's Moodle mode: the "Select content" dialog (amd/src/contentitem.js) and its return page
   (amd/src/contentitem_return.js). As in Moodle, the return page calls processContentItemReturnData on the
   page around its frame; opened top-level it finds no such function and stops there, as Moodle does. */
(function () {
  "use strict";
  var returned = document.getElementById("contentitem-return");
  if (returned) {
    var data = JSON.parse(returned.dataset.return);
    if (window !== window.top) {
      window.parent.processContentItemReturnData(data);
    } else {
      window.processContentItemReturnData(data);
    }
    return;
  }
  var form = document.getElementById("moodle-activity-form");
  if (!form) { return; }
  var dialog = document.getElementById("contentitem-dialog");
  var request = document.getElementById("contentitem-request");
  document.getElementById("select-content").addEventListener("click", function () {
    dialog.showModal();
    request.submit();
  });
  document.getElementById("contentitem-close").addEventListener("click", function () { dialog.close(); });
  window.processContentItemReturnData = function (result) {
    dialog.close();
    var item = (result.items || [])[0] || {};
    form.elements.name.value = item.title || "";
    form.elements.toolurl.value = item.url || "";
    form.elements.JWT.value = result.jwt;
    document.getElementById("content-selected").textContent =
      (result.items || []).length + " item(s) selected. Save to add them to the course.";
    form.elements.save.disabled = false;
  };
})();
