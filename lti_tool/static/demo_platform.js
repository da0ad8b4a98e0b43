/* The demo platform's side of LTI client-side postMessage storage: it keeps values for the tool
   (lti.put_data / lti.get_data) and answers only the tool's origin. */
(function () {
  "use strict";
  var el = document.getElementById("demo-platform");
  if (!el) { return; }
  var toolOrigin = el.dataset.toolOrigin;
  var store = {};
  window.addEventListener("message", function (event) {
    if (event.origin !== toolOrigin) { return; }
    var m = event.data || {};
    var reply = { subject: m.subject + ".response", message_id: m.message_id };
    if (m.subject === "lti.capabilities") {
      reply.supported_messages = [{ subject: "lti.put_data" }, { subject: "lti.get_data" }];
    } else if (m.subject === "lti.put_data") {
      store[toolOrigin + " " + m.key] = m.value;
      reply.key = m.key; reply.value = m.value;
    } else if (m.subject === "lti.get_data") {
      var k = toolOrigin + " " + m.key;
      if (Object.prototype.hasOwnProperty.call(store, k)) { reply.key = m.key; reply.value = store[k]; }
      else { reply.error = { code: "bad_request", message: "No value for this key." }; }
    } else {
      reply.error = { code: "unsupported_subject", message: "Unsupported message." };
    }
    event.source.postMessage(reply, event.origin);
  });
})();
