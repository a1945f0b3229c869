// Follows long work done by the task worker (an import, an export): while the
// page shows an element with data-task-progress, the page is fetched again
// every two seconds and that element replaced with the new one (the bar and
// the counts move); when the new page no longer has it, the work is over and
// the page is loaded again (it then shows the preview, the result or why it
// failed). Without JavaScript the page has a link to look again.
(function () {
  "use strict";
  var INTERVAL = 2000;

  function follow() {
    var current = document.querySelector("[data-task-progress]");
    if (!current) {
      return;
    }
    window.setTimeout(function () {
      // X-Task-Poll: the page leaves its flash messages for the next page.
      fetch(window.location.href, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { "X-Task-Poll": "1" },
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error(response.status);
          }
          return response.text();
        })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var fresh = page.querySelector("[data-task-progress]");
          if (!fresh) {
            window.location.replace(window.location.href);
            return;
          }
          current.replaceWith(document.importNode(fresh, true));
          follow();
        })
        .catch(function () {
          // A restart or a lost network: try again a little later.
          window.setTimeout(follow, INTERVAL * 2);
        });
    }, INTERVAL);
  }

  follow();
})();
