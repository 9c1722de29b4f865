// Forms marked data-confirm="question" ask before they are sent. Here rather than in an
// onsubmit attribute: the Content-Security-Policy (csa/ui/headers.py) runs no inline code.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute ? form.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
})();
