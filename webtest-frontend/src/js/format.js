/* Small helpers of the webtest front-end page, shared by main.js. In the source page these are
   globals of a classic script; the build puts every script into one function scope. */

/** The text shown for a health answer: the server's own word, or why there is none. */
function describeHealth(status, body) {
  if (status === 200) {
    return "ok (" + body.trim() + ")";
  }
  return "failed: HTTP " + status;
}

/** Milliseconds as a short human reading, e.g. 3 ms or 1.2 s. */
function formatDuration(ms) {
  if (ms < 1000) {
    return Math.round(ms) + " ms";
  }
  return (ms / 1000).toFixed(1) + " s";
}
