// The sign-in form's hidden "next" field (where to go after signing in) is filled by
// LoginState.load once the page's state arrives over the websocket. A visitor quick enough
// to submit before that would post it empty and land on the dashboard. The server falls back
// to the Referer's ?next=, but only a same-origin post carries the query in the Referer: in
// development the form posts to the backend's own port, a cross-origin post. So at submit
// time, fill an empty field from the page's own ?next= (the server still checks it with
// routes.safe_next). A file, so the CSP needs no inline script; see recovery_app/api/auth.py.
document.addEventListener(
  "submit",
  function (event) {
    var form = event.target;
    var field = form && form.querySelector && form.querySelector('input[name="next"]');
    if (!field || field.value) return;
    var next = new URLSearchParams(window.location.search).get("next");
    if (next) field.value = next;
  },
  true
);
