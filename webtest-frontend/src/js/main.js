/* The behaviour of the webtest front-end page: ask the server that serves it for /healthz and
   show the answer, so that a person sees the page and its server working together. */

(function checkHealth() {
  var target = document.getElementById("health");
  if (!target || typeof fetch !== "function") {
    return;
  }
  var started = Date.now();
  fetch("/healthz", { cache: "no-store" })
    .then(function (response) {
      return response.text().then(function (body) {
        var text = describeHealth(response.status, body);
        target.textContent = text + " in " + formatDuration(Date.now() - started);
        target.className = response.status === 200 ? "ok" : "failed";
      });
    })
    .catch(function (error) {
      target.textContent = "failed: " + error.message;
      target.className = "failed";
    });
})();
