/* LTI client-side postMessage storage (1EdTech "LTI Client Side postMessages"): the platform keeps a
   value for the tool so a launch can be checked without third-party cookies. */
(function () {
  "use strict";
  var el = document.getElementById("lti-storage");
  if (!el) { return; }
  var d = el.dataset;
  var status = document.getElementById("lti-storage-status");

  function targetWindow() {
    var parentWindow = window.opener || window.parent;
    if (d.target && d.target !== "_parent") {
      try { return parentWindow.frames[d.target] || parentWindow; } catch (e) { return parentWindow; }
    }
    return parentWindow;
  }

  function call(subject, payload) {
    return new Promise(function (resolve, reject) {
      var id = "m" + Math.random().toString(36).slice(2) + Date.now().toString(36);
      var timer = setTimeout(function () { done(); reject(new Error("The platform did not answer.")); }, 4000);
      function done() { clearTimeout(timer); window.removeEventListener("message", onMessage); }
      function onMessage(event) {
        if (event.origin !== d.origin) { return; }  // only the registered platform may answer
        var m = event.data || {};
        if (m.subject !== subject + ".response" || m.message_id !== id) { return; }
        done();
        if (m.error) { reject(new Error(m.error.message || m.error.code || "error")); } else { resolve(m); }
      }
      window.addEventListener("message", onMessage);
      var message = { subject: subject, message_id: id };
      for (var k in payload) { if (Object.prototype.hasOwnProperty.call(payload, k)) { message[k] = payload[k]; } }
      var target = targetWindow();
      if (target === window) { done(); reject(new Error("No platform window.")); return; }
      target.postMessage(message, d.origin);
    });
  }

  if (d.mode === "put") {
    // Whether or not the platform keeps it, carry on: a browser that accepts our cookie needs no storage.
    call("lti.put_data", { key: d.key, value: d.value }).then(
      function () { window.location.href = d.next; },
      function () { window.location.href = d.next; });
  } else if (d.mode === "get") {
    call("lti.get_data", { key: d.key }).then(function (m) {
      document.getElementById("lti-storage-proof").value = m.value || "";
      document.getElementById("lti-storage-form").submit();
    }, function () {
      if (status) { status.hidden = true; }
      document.getElementById("lti-storage-failed").hidden = false;
    });
  }
})();
