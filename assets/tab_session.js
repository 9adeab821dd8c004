// A browser tab's Reflex state lives on the server under a token kept in sessionStorage
// ("token"). Sign-in and sign-out set the recovery_signin cookie to a new value; a tab that
// sees a value it has not seen starts on a new token, so no page state of the previous
// user is ever sent to the next one. Loaded from <head> before the app's own scripts
// (a file, so the CSP needs no inline script for it). See recovery_app/api/auth.py.
(function () {
  try {
    var match = document.cookie.match(/(?:^|;\s*)recovery_signin=([^;]*)/);
    var signin = match ? match[1] : "";
    if (window.sessionStorage.getItem("recovery_signin") !== signin) {
      window.sessionStorage.removeItem("token");
      window.sessionStorage.setItem("recovery_signin", signin);
    }
  } catch (e) {
    // No sessionStorage (a locked-down browser): Reflex then has none either.
  }
})();
