/* Staff simulator: send without reloading the page (the form also works without this file).
   POSTs the form with fetch (CSRF token in the X-CSRFToken header), appends the bubbles the
   server renders, refreshes the cost, keeps the focus in the text box. */
(function () {
  "use strict";
  var form = document.getElementById("sim-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var thread = document.getElementById("sim-thread");
  var screen = document.getElementById("sim-screen");
  var text = document.getElementById("sim-text");
  var side = document.getElementById("sim-side");
  var error = document.getElementById("sim-error");
  var send = document.getElementById("sim-send");
  var token = form.querySelector("input[name=csrf_token]").value;
  var busy = false;

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  function toBottom() {
    // The screen is a column-reverse box: its bottom is scrollTop 0 in current browsers,
    // scrollHeight in older ones; clamping makes both right.
    screen.scrollTop = screen.scrollHeight;
    if (screen.scrollTop > 0) { return; }
    screen.scrollTop = 0;
  }

  text.addEventListener("keydown", function (event) {
    // Enter sends, Shift+Enter starts a new line (as in messaging apps).
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (form.requestSubmit) { form.requestSubmit(send); } else { send.click(); }
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) { return; }
    var submitter = event.submitter || send;
    var keyword = submitter.name === "keyword" ? submitter.value : "";
    if (!keyword && !text.value.trim()) {
      showError(error.dataset.empty);
      text.focus();
      return;
    }
    var data = new FormData(form);
    if (keyword) { data.set("keyword", keyword); }
    data.set("after", thread.dataset.last || "0");
    busy = true;
    form.classList.add("busy");
    showError("");
    fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRFToken": token, "Accept": "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return { error: "Erreur " + response.status }; });
    }).then(function (json) {
      if (json.reload) { window.location.assign(json.reload); return; }
      if (json.error) { showError(json.error); return; }
      var empty = thread.querySelector(".empty");
      if (empty) { empty.remove(); }
      thread.insertAdjacentHTML("beforeend", json.html);
      thread.dataset.last = String(json.last);
      if (json.side) { side.innerHTML = json.side; }
      if (!keyword) { text.value = ""; }
      toBottom();
    }).catch(function () {
      showError(error.dataset.offline);
    }).then(function () {
      busy = false;
      form.classList.remove("busy");
      text.focus();
    });
  });

  toBottom();
})();
