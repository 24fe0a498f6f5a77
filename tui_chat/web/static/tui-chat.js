// tui-chat's additions to textual-serve's browser client (textual.js, loaded just before):
// - the terminal gets keyboard focus when the app first draws and whenever the tab or window
//   comes back, so typing reaches the prompt without a click;
// - Shift+Enter sends the key a terminal with the kitty keyboard protocol sends (CSI 13;2 u),
//   so it starts a new line as in the terminal; the client alone sends a plain Enter for it;
// - when the connection ends, the page says whether the app quit or the server is gone;
// - the client starts once the font is loaded, so cells are measured with the right font.
(() => {
  "use strict";
  const SERVER_STOPPED = 4000;
  const SHIFT_ENTER = "\x1b[13;2u";
  let socket = null;
  let closeCode = null;

  // Keep a handle on the client's WebSocket (it creates exactly one).
  const NativeWebSocket = window.WebSocket;
  class TrackedWebSocket extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      socket = this;
      this.addEventListener("close", (event) => { closeCode = event.code; showEnded(); });
    }
  }
  window.WebSocket = TrackedWebSocket;

  const isOpen = () => socket !== null && socket.readyState === NativeWebSocket.OPEN;

  function focusTerminal() {
    if (!isOpen() || document.body.classList.contains("-closed")) return;
    const input = document.querySelector(".xterm-helper-textarea");
    if (input && document.activeElement !== input) input.focus({ preventScroll: true });
  }

  function showEnded() {
    const message = document.getElementById("ended-message");
    if (!message) return;
    // A new server run has a new key: reloading this page would be refused, so only the
    // app-quit case offers to start again.
    const restart = document.getElementById("restart");
    restart.hidden = closeCode !== 1000;
    if (closeCode === 1000) {
      message.textContent = "The app ended.";
    } else if (closeCode === SERVER_STOPPED) {
      message.textContent = "The tui-chat web server stopped. Start it again and open the " +
        "address it prints.";
    } else {
      message.textContent = "The connection to the tui-chat web server was lost: the server " +
        "is gone. Start it again and open the address it prints.";
    }
  }

  window.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.shiftKey && !event.ctrlKey && !event.altKey &&
        !event.metaKey && isOpen()) {
      event.preventDefault();
      event.stopImmediatePropagation();
      socket.send(JSON.stringify(["stdin", SHIFT_ENTER]));
    }
  }, true);

  window.addEventListener("focus", focusTerminal);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") focusTerminal();
  });

  const startClient = window.onload;
  window.onload = null;
  window.addEventListener("load", async (event) => {
    document.getElementById("restart").addEventListener("click", () => {
      window.location.reload();
    });
    // The client reports focus to the app once the first output arrived; focus then.
    new MutationObserver(() => {
      if (document.body.classList.contains("-first-byte")) focusTerminal();
    }).observe(document.body, { attributes: true, attributeFilter: ["class"] });
    const size = document.getElementById("terminal").dataset.fontSize || "16";
    try {
      await Promise.race([
        document.fonts.load(`${size}px "Roboto Mono"`),
        new Promise((resolve) => setTimeout(resolve, 3000)),
      ]);
    } catch (error) {
      // The fallback monospace is measured instead.
    }
    if (typeof startClient === "function") startClient(event);
  });
})();
