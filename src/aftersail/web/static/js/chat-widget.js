// AfterSail chat widget for a seller's store page:
//   <script src="https://help.example.com/static/js/chat-widget.js" data-tenant="your-store" async></script>
// Adds a round button at the bottom inline-end corner (bottom-left on right-to-left pages) that opens the
// buyer chat (/chat?embed=1) in an iframe. No framework, no stylesheet (styles are set through the CSSOM, so
// a strict style-src on the store page does not break it), and one global: window.AfterSailChat.
(function () {
  "use strict";
  if (window.AfterSailChat) return; // pasted twice

  var script =
    document.currentScript || document.querySelector('script[src*="chat-widget.js"][data-tenant]');
  var tenant = script && script.getAttribute("data-tenant");
  if (!tenant) return;
  var origin = new URL(script.src, window.location.href).origin;
  var Z_INDEX = "2147483000";
  var ICON_CHAT = "M4 5h16v11H9l-5 4z M8 9.5h8 M8 12.5h5";
  var ICON_CLOSE = "M6 6l12 12 M18 6L6 18";
  var SVG = "http://www.w3.org/2000/svg";

  var container = null; // the widget's shadow root (or its element, in a browser without shadow DOM)
  var button = null;
  var frame = null;
  var labels = { open: "", close: "" };
  var opened = false;

  function css(node, styles) {
    for (var name in styles) node.style.setProperty(name, styles[name]);
  }

  function pageLanguage() {
    return document.documentElement.lang || (navigator.language || "");
  }

  function rightToLeft() {
    var root = document.body || document.documentElement;
    return window.getComputedStyle(root).direction === "rtl";
  }

  function narrow() {
    return window.matchMedia("(max-width: 480px)").matches;
  }

  function icon(path) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "26");
    svg.setAttribute("height", "26");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var shape = document.createElementNS(SVG, "path");
    shape.setAttribute("d", path);
    shape.setAttribute("fill", "none");
    shape.setAttribute("stroke", "currentColor");
    shape.setAttribute("stroke-width", "1.8");
    shape.setAttribute("stroke-linecap", "round");
    shape.setAttribute("stroke-linejoin", "round");
    svg.appendChild(shape);
    return svg;
  }

  function side() {
    return rightToLeft() ? "left" : "right"; // the inline end of the page
  }

  function place() {
    var edge = side();
    var other = edge === "left" ? "right" : "left";
    css(button, { position: "fixed", bottom: "20px", [edge]: "20px", [other]: "auto" });
    if (!frame) return;
    if (narrow()) {
      css(frame, { top: "0", bottom: "0", left: "0", right: "0", width: "100%", height: "100%", "border-radius": "0" });
    } else {
      css(frame, {
        top: "auto",
        bottom: "88px",
        [edge]: "20px",
        [other]: "auto",
        width: "380px",
        height: "min(640px, calc(100vh - 110px))",
        "border-radius": "16px",
      });
    }
    button.style.display = opened && narrow() ? "none" : "inline-flex";
  }

  function label() {
    var text = opened ? labels.close : labels.open;
    if (text) {
      button.setAttribute("aria-label", text);
      button.title = text;
    }
    if (frame && labels.open) frame.title = labels.open;
  }

  function chatAddress() {
    var params = new URLSearchParams({ t: tenant, embed: "1" });
    var lang = pageLanguage();
    if (lang) params.set("lang", lang);
    return origin + "/chat?" + params.toString();
  }

  function makeFrame() {
    frame = document.createElement("iframe");
    frame.src = chatAddress();
    frame.setAttribute("allow", "clipboard-write");
    css(frame, {
      position: "fixed",
      border: "0",
      background: "#fff",
      "box-shadow": "0 12px 40px rgba(16, 24, 40, 0.22)",
      "z-index": Z_INDEX,
      display: "none",
      "color-scheme": "light",
    });
    container.appendChild(frame);
  }

  function open() {
    if (!button) return; // not built yet
    if (!frame) makeFrame();
    opened = true;
    frame.style.display = "block";
    button.replaceChildren(icon(ICON_CLOSE));
    button.setAttribute("aria-expanded", "true");
    place();
    label();
    frame.focus();
  }

  function close() {
    if (!opened || !button) return;
    opened = false;
    frame.style.display = "none";
    button.replaceChildren(icon(ICON_CHAT));
    button.setAttribute("aria-expanded", "false");
    place();
    label();
    button.focus();
  }

  function toggle() {
    if (opened) close();
    else open();
  }

  function build() {
    var host = document.createElement("div");
    host.setAttribute("data-aftersail-chat", "");
    container = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    button = document.createElement("button");
    button.type = "button";
    button.setAttribute("aria-expanded", "false");
    css(button, {
      "inline-size": "56px",
      "block-size": "56px",
      "border-radius": "50%",
      border: "0",
      padding: "0",
      margin: "0",
      cursor: "pointer",
      color: "#fff",
      background: "#4f46e5",
      "box-shadow": "0 6px 20px rgba(79, 70, 229, 0.35)",
      display: "inline-flex",
      "align-items": "center",
      "justify-content": "center",
      "z-index": Z_INDEX,
    });
    button.appendChild(icon(ICON_CHAT));
    button.addEventListener("click", toggle);
    container.appendChild(button);
    document.body.appendChild(host);
    place();
    window.addEventListener("resize", place);
    window.addEventListener("message", function (event) {
      if (frame && event.source === frame.contentWindow && event.origin === origin) {
        if (event.data && event.data.type === "aftersail-chat:close") close();
      }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && opened) close();
    });
    fetch(origin + "/chat/widget-labels?" + new URLSearchParams({ lang: pageLanguage() }).toString(), {
      credentials: "omit",
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (found) {
        if (found) {
          labels = { open: found.open || "", close: found.close || "" };
          label();
        }
      })
      .catch(function () {
        /* the button still works; it has no words then */
      });
  }

  window.AfterSailChat = Object.freeze({ open: open, close: close, toggle: toggle });
  if (document.body) build();
  else document.addEventListener("DOMContentLoaded", build);
})();
