/* Evidence form: send the files with a visible progress bar (XMLHttpRequest upload progress).
   Progressive enhancement: without this script the form posts as usual, and the server answers the same
   way to both (a redirect to the portfolio, or the form again with what to correct). */
(function () {
  "use strict";
  var form = document.querySelector("form[data-upload-progress]");
  if (!form || !window.FormData || !window.XMLHttpRequest || !("upload" in new XMLHttpRequest())) { return; }
  var box = document.getElementById("upload-progress");
  var bar = document.getElementById("upload-bar");
  var status = document.getElementById("upload-status");
  var buttons = form.querySelectorAll("button[type=submit]");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
  var busy = false;

  function size(n) {
    return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(n / 1024)) + " KB";
  }

  function chosenBytes() {
    var total = 0, count = 0;
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      for (var i = 0; i < (input.files ? input.files.length : 0); i++) { total += input.files[i].size; count++; }
    });
    return { total: total, count: count };
  }

  function setBusy(on) {
    busy = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
    buttons.forEach(function (b) { b.disabled = on; });
  }

  function say(text) { status.textContent = text; }

  form.addEventListener("submit", function (event) {
    if (busy) { event.preventDefault(); return; }
    var chosen = chosenBytes();
    if (!chosen.count) { return; }  // nothing to upload: the ordinary post is just as quick
    event.preventDefault();
    if (maxBytes && chosen.total > maxBytes) {
      say("These files add up to " + size(chosen.total) + "; one upload can take " + size(maxBytes) +
          ". Choose fewer files now and add the others by editing the item afterwards.");
      return;
    }
    var xhr = new XMLHttpRequest();
    var announced = -1;
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      var percent = Math.min(100, Math.floor(e.loaded * 100 / e.total));
      bar.value = percent;
      bar.textContent = percent + "%";
      // The status is a live region: say it in steps of ten so a screen reader is not flooded.
      if (Math.floor(percent / 10) !== announced) {
        announced = Math.floor(percent / 10);
        say("Uploading: " + percent + "% (" + size(e.loaded) + " of " + size(e.total) + ")");
      }
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = 100;
      say("Uploaded. Checking and saving your files…");
    });
    xhr.addEventListener("load", function () {
      var sent = form.action.split("#")[0];
      if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL && xhr.responseURL !== sent) {
        window.location.assign(xhr.responseURL);  // saved: the server sent us on to the portfolio
        return;
      }
      // The form again with what to correct, or an error page: show it as a plain post would.
      document.open();
      document.write(xhr.responseText);
      document.close();
    });
    function failed() {
      setBusy(false);
      box.hidden = true;
      say("The upload did not complete: the connection was lost. Check your connection and try again.");
    }
    xhr.addEventListener("error", failed);
    xhr.addEventListener("abort", failed);
    bar.value = 0;
    box.hidden = false;
    say("Uploading " + size(chosen.total) + "…");
    setBusy(true);
    xhr.send(new FormData(form));
  });
})();
