/* The LMS frame's side of the new-window handoff (launch/handoff.py). Once the person has clicked
   "Continue in a new window", ask the tool how that window got on: when it is open, say so; when the
   instructor has chosen what to add (deep linking), post the signed response here, inside the platform's
   dialog, because the platform's return page talks to the page around this frame
   (Moodle: parent.processContentItemReturnData). A static file: the CSP allows no inline script. */
(function () {
  "use strict";
  var el = document.getElementById("lti-handoff");
  if (!el) { return; }
  var d = el.dataset;
  var status = document.getElementById("lti-handoff-status");
  var form = document.getElementById("lti-handoff-form");
  var polling = false;
  var delay = 1000;
  var said = "";

  function say(text) {
    if (text !== said) { said = text; status.textContent = text; }
  }

  function later() {
    delay = Math.min(delay * 1.3, 5000);  // an instructor may take minutes to choose: ask less often
    setTimeout(poll, delay);
  }

  function postToPlatform(result) {
    say("Adding your choice to the course…");
    var post = document.createElement("form");
    post.method = "post";
    post.action = result.action;
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "JWT";
    field.value = result.jwt;
    post.appendChild(field);
    document.body.appendChild(post);
    post.submit();
  }

  function handle(code, result) {
    var state = result && result.state;
    if (state === "deep_link") { postToPlatform(result); return; }
    if (code === 410 || state === "expired") {
      form.hidden = true;
      say("This sign-in has expired. Please open the activity again from your course.");
      return;
    }
    if (state === "open") {
      form.hidden = true;
      say(d.deepLinking ? "Choose what to add in the other window. This dialog finishes by itself."
                        : "The activity is open in another window. If you do not see it, look for it among your browser's windows or tabs.");
      if (!d.deepLinking) { return; }
    }
    later();
  }

  function poll() {
    fetch(d.resultUrl, {
      method: "POST",
      credentials: "same-origin",
      body: new URLSearchParams({ ticket: d.ticket })
    }).then(function (response) {
      return response.json().then(function (body) { handle(response.status, body); });
    }).catch(later);
  }

  // Storage Access API (Safari, Firefox, Chromium): with the person's tap, the browser may let the tool keep
  // its cookie in this page; then the launch completes here. Refused or unavailable: the new window.
  var here = document.getElementById("lti-handoff-here");
  var where = document.getElementById("lti-handoff-where");
  var hint = document.getElementById("lti-handoff-here-hint");
  if (here && typeof document.requestStorageAccess === "function") {
    here.hidden = false;
    hint.hidden = false;
    where.hidden = true;
    form.querySelector("button").classList.add("secondary");
    here.addEventListener("submit", function (event) {
      if (here.dataset.granted) { return; }
      event.preventDefault();
      say("Asking your browser…");
      document.requestStorageAccess().then(function () {
        here.dataset.granted = "1";
        say("Signing you in…");
        here.submit();
      }, function () {
        here.hidden = true;
        hint.hidden = true;
        where.hidden = false;
        say("Your browser did not allow it here. Use \u201cContinue in a new window\u201d.");
        form.querySelector("button").focus();
      });
    });
  }

  form.addEventListener("submit", function () {
    say("Continue in the new window.");
    if (!polling) { polling = true; setTimeout(poll, delay); }
  });
})();
