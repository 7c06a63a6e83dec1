// WeChat simulator page: the server signs/encrypts and pushes; this page only shows the chat.
(function () {
  "use strict";
  const chat = document.getElementById("chat");
  const input = document.getElementById("input");
  const status = document.getElementById("status");
  const notice = document.getElementById("notice");
  let openid = localStorage.getItem("wechat-sim-openid");
  if (!openid) {
    openid = "oSIM_" + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
    localStorage.setItem("wechat-sim-openid", openid);
  }
  let lastSeq = 0;
  let typingTimer = null;
  const VIA = { passive: "被动回复", custom: "客服消息" };

  function render(m) {
    if (m.via === "typing") {
      status.textContent = "对方正在输入…";
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { status.textContent = ""; }, 8000);
      return;
    }
    if (m.from === "bot") { status.textContent = ""; }
    const row = document.createElement("div");
    row.className = "msg " + m.from;
    row.dataset.via = m.via;
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    if (m.menu) {
      renderMenu(bubble, m.menu);
    } else {
      bubble.textContent = m.text;          // never innerHTML: replies are untrusted text
    }
    if (VIA[m.via]) {
      const via = document.createElement("span");
      via.className = "via";
      via.textContent = VIA[m.via];
      bubble.appendChild(via);
    }
    row.appendChild(bubble);
    chat.appendChild(row);
    chat.scrollTop = chat.scrollHeight;
  }

  // a menu message as WeChat shows it: head text, the options as blue links, tail text;
  // tapping an option sends its content as a text message that carries the option id (bizmsgmenuid)
  function renderMenu(bubble, menu) {
    bubble.classList.add("menu-message");
    if (menu.head) {
      const head = document.createElement("div");
      head.className = "menu-head";
      head.textContent = menu.head;
      bubble.appendChild(head);
    }
    for (const item of menu.items) {
      const link = document.createElement("a");
      link.className = "menu-item";
      link.href = "#";
      link.dataset.menuId = item.id;
      link.textContent = item.content;
      link.addEventListener("click", (ev) => {
        ev.preventDefault();
        send({ type: "text", content: item.content, menu_id: item.id });
      });
      bubble.appendChild(link);
    }
    if (menu.tail) {
      const tail = document.createElement("div");
      tail.className = "menu-tail";
      tail.textContent = menu.tail;
      bubble.appendChild(tail);
    }
  }

  async function poll() {
    try {
      const resp = await fetch(`/simulator/api/messages?openid=${encodeURIComponent(openid)}&after=${lastSeq}`);
      if (resp.ok) {
        const data = await resp.json();
        // polls overlap (after a send, on the timer): render each message once, whichever poll sees it first
        for (const m of data.messages) {
          if (m.seq <= lastSeq) continue;
          lastSeq = m.seq;
          render(m);
        }
      }
    } catch (e) { /* server restarting: try again */ }
  }

  async function send(payload) {
    const body = Object.assign({ openid: openid, content: "", lat: 0, lon: 0, label: "", event: "", key: "",
                                 menu_id: "" }, payload);
    const pending = fetch("/simulator/api/send", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    setTimeout(poll, 150);                  // show the user's own bubble right away
    try { await pending; } finally { await poll(); }
  }

  document.getElementById("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    input.value = "";
    send({ type: "text", content: text });
  });
  document.querySelectorAll("[data-menu]").forEach((b) =>
    b.addEventListener("click", () => send({ type: "event", event: "CLICK", key: b.dataset.menu })));
  document.querySelectorAll("[data-action]").forEach((b) => b.addEventListener("click", () => {
    const action = b.dataset.action;
    if (action === "subscribe" || action === "unsubscribe") send({ type: "event", event: action });
    if (action === "image") send({ type: "image" });
    if (action === "voice") { send({ type: "voice", content: input.value.trim() }); input.value = ""; }
  }));
  document.getElementById("location").addEventListener("change", (ev) => {
    const value = ev.target.value;
    ev.target.value = "";
    if (!value) return;
    const [lat, lon, label] = value.split(",");
    send({ type: "location", lat: parseFloat(lat), lon: parseFloat(lon), label: label });
  });

  fetch("/simulator/api/config").then((r) => r.json()).then((cfg) => {
    document.getElementById("mode").textContent = cfg.mode === "safe" ? "🔒 安全模式" : "明文模式";
    if (!cfg.enabled) {
      notice.hidden = false;
      notice.textContent = "模拟器未启用：" + cfg.reason;
      document.getElementById("send").disabled = true;
    }
  });
  poll();
  setInterval(poll, 1000);
})();
