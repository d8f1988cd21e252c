// Texts come translated from the page (data-text-*).
// Registry export running in the background: poll its status every 1.5 s, move the progress
// bar, then show the download link (bot/admin/registry.py export_job_status).
(function () {
  var box = document.getElementById("export-job");
  if (!box) { return; }
  var bar = document.getElementById("export-progress");
  var said = document.getElementById("export-state");
  var link = document.getElementById("export-download");
  var group = function (n) { return Number(n).toLocaleString("fr-FR"); };
  function poll() {
    fetch(box.dataset.status, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (s) {
        bar.value = s.percent;
        bar.textContent = s.done + " / " + s.total;
        if (s.state === "done") {
          said.textContent = box.dataset.textDone;
          link.hidden = false;
          return;
        }
        if (s.state === "failed") { said.textContent = s.error; return; }
        said.textContent = s.state === "running"
          ? box.dataset.textRunning.replace("{done}", group(s.done)).replace("{total}", group(s.total))
          : box.dataset.textWaiting;
        setTimeout(poll, 1500);
      })
      .catch(function () { said.textContent = box.dataset.textLost; setTimeout(poll, 5000); });
  }
  if (box.dataset.state !== "done" && box.dataset.state !== "failed") { setTimeout(poll, 800); }
})();
