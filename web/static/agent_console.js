// 客服工作台: polls /agent/api/* (queue every 2 s, the open chat every 1 s). All user text goes
// through textContent, never innerHTML.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = { me: null, selected: null, lastId: 0, status: null, agentId: null, channel: null };

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 3500);
  }

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.body && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    const resp = await fetch(path, opts);
    if (resp.status === 401) { location.href = "/agent/login"; throw new Error("login required"); }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const detail = typeof data.detail === "string" ? data.detail : "操作失败（" + resp.status + "）";
      throw new Error(detail);
    }
    return data;
  }

  function ago(ts) {
    if (!ts) return "";
    const s = Math.max(0, Math.round(Date.now() / 1000 - ts));
    if (s < 60) return s + "秒前";
    if (s < 3600) return Math.floor(s / 60) + "分钟前";
    return Math.floor(s / 3600) + "小时前";
  }

  function fmtTime(ts) {
    if (!ts) return "";
    const d = new Date(ts * 1000);
    return d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // ---- lists -------------------------------------------------------------------------------
  function item(h, withClaim) {
    const li = el("li");
    li.dataset.id = h.id;
    li.className = "handoff-item" + (state.selected === h.id ? " selected" : "");
    const line1 = el("div", "line1");
    line1.append(el("strong", null, "#" + h.id), el("span", "tag " + h.skill, h.skill_label),
                 el("span", "tag", h.channel_label), el("span", "muted", ago(h.queued_at)));
    if (withClaim) {
      const btn = el("button", "claim", "接入");
      btn.type = "button";
      btn.addEventListener("click", (ev) => { ev.stopPropagation(); claim(h.id); });
      line1.append(btn);
    }
    const line2 = el("div", "line2", h.reason_label + "｜" + (h.preview || h.nickname || ""));
    li.append(line1, line2);
    li.addEventListener("click", () => select(h.id));
    return li;
  }

  function fill(listId, countId, rows, withClaim) {
    const list = $(listId);
    list.replaceChildren(...rows.map((h) => item(h, withClaim)));
    if (countId) $(countId).textContent = rows.length;
  }

  async function refreshQueue() {
    try {
      const q = await api("/agent/api/queue");
      fill("mine-list", "mine-count", q.mine, false);
      fill("queue-list", "queue-count", q.queued, true);
      fill("callback-list", "callback-count", q.callbacks, true);
      const recent = $("recent-list");
      recent.replaceChildren(...q.recent.map((h) => {
        const li = el("li", "handoff-item", "#" + h.id + " " + h.skill_label + " · " +
                      (h.rating ? "评分 " + h.rating : "未评分") + " · " + (h.agent_name || ""));
        li.dataset.id = h.id;
        li.addEventListener("click", () => select(h.id));
        return li;
      }));
      $("hours").textContent = "服务时间 " + q.service_hours + (q.open_now ? "（服务中）" : "（非服务时间）");
    } catch (err) { /* keep the last view; the next poll retries */ }
  }

  // ---- chat --------------------------------------------------------------------------------
  function addMessage(m) {
    const box = $("messages");
    const row = el("div", "msg " + m.role);
    const who = { user: "用户", agent: m.author || "客服", system: "系统", bot: "机器人" }[m.role] || m.role;
    row.append(el("span", "who", who + " " + fmtTime(m.at)));
    row.append(el("div", "text", m.text));
    if (m.delivery && m.delivery.indexOf("failed") === 0) {
      row.append(el("span", "failed", "未送达：" + m.delivery));
    }
    row.dataset.id = m.id || "";
    box.append(row);
    box.scrollTop = box.scrollHeight;
  }

  function renderHead(h) {
    $("chat-title").textContent = "#" + h.id + " · " + h.nickname + "（" + h.user + "）";
    $("chat-status").textContent = h.status_label;
    const mine = h.agent_id === (state.me && state.me.user.id);
    $("claim-btn").hidden = !(h.status === "queued" || h.status === "callback");
    $("end-btn").hidden = !(h.status === "active" && mine);
    const canWrite = h.status === "active" && mine && h.channel !== "wecom_kf";
    $("reply-input").disabled = !canWrite;
    $("send-btn").disabled = !canWrite;
    const note = $("native-note");
    if (h.channel === "wecom_kf" && h.status === "active") {
      note.textContent = "该用户来自微信客服：会话已转到接待人员的企业微信，请在企业微信客户端中直接回复。";
      note.hidden = false;
    } else if (h.status === "ended") {
      note.textContent = "会话已结束" + (h.rating ? "，用户评分：" + h.rating + " 分" : "") + "。";
      note.hidden = false;
    } else {
      note.hidden = true;
    }
    state.status = h.status;
    state.agentId = h.agent_id;
    state.channel = h.channel;
  }

  function dl(pairs) {
    const list = el("dl");
    pairs.forEach(([k, v]) => { if (v !== undefined && v !== null && v !== "") list.append(el("dt", null, k), el("dd", null, v)); });
    return list;
  }

  function pct(x) { return x === null || x === undefined ? "-" : Math.round(x * 100) + "%"; }

  function renderCard(card, h) {
    const body = $("card-body");
    body.className = "";
    const intent = card.intent || {};
    const slots = card.slots || {};
    const answer = card.bot_answer || {};
    const nodes = [dl([
      ["渠道", card.channel_label], ["用户", (card.nickname || "") + "（" + (card.user || "") + "）"],
      ["原因", card.reason_label], ["技能组", h.skill_label], ["意图", (intent.name || "-") + "（置信度 " + pct(intent.confidence) + "）"],
      ["等待", h.wait_s ? Math.round(h.wait_s) + " 秒" : ""], ["通知", h.notified_at ? "已推送企业微信" : (h.notify_error ? "未推送：" + h.notify_error : "")],
    ])];
    const facts = Object.keys(slots);
    if (facts.length) {
      nodes.push(el("h3", null, "已知信息"));
      nodes.push(dl(facts.map((k) => [k, String(slots[k])])));
    }
    nodes.push(el("h3", null, "机器人最后的回答"));
    nodes.push(el("div", "turn", (answer.text || "（无）") +
      (answer.answer_id ? "　[" + answer.answer_id + (answer.score !== null && answer.score !== undefined ? "，匹配分 " + answer.score : "") + "]" : "")));
    if (card.suggestion) {
      const s = card.suggestion;
      nodes.push(el("h3", null, "建议回复（知识库" + (s.answerable ? "" : "，置信度低，仅供参考") + "）"));
      const box = el("div", "suggest" + (s.answerable ? "" : " low"), s.text + (s.citation ? "\n（" + s.citation + "）" : ""));
      box.id = "suggestion";
      const use = el("button", null, "插入回复框");
      use.type = "button";
      use.id = "suggestion-insert";
      use.addEventListener("click", () => insert(s.text));
      nodes.push(box, use);
    }
    nodes.push(el("h3", null, "最近对话（已脱敏）"));
    (card.turns || []).forEach((t) => {
      const line = el("div", "turn");
      line.append(el("b", null, (t.role === "user" ? "用户" : "机器人") + "："), document.createTextNode(t.text));
      nodes.push(line);
    });
    body.replaceChildren(...nodes);
  }

  function insert(text) {
    const box = $("reply-input");
    box.value = box.value ? box.value + "\n" + text : text;
    box.focus();
  }

  async function select(id) {
    state.selected = id;
    state.lastId = 0;
    history.replaceState(null, "", "/agent/?h=" + id);
    try {
      const d = await api("/agent/api/handoffs/" + id);
      $("chat-empty").hidden = true;
      $("chat-panel").hidden = false;
      renderHead(d.handoff);
      renderCard(d.card || {}, d.handoff);
      const box = $("messages");
      box.replaceChildren();
      (d.card.turns || []).forEach((t) => addMessage({ role: t.role === "user" ? "user" : "bot", text: t.text, at: t.at }));
      box.append(el("div", "divider", "—— 转人工 ——"));
      d.messages.forEach((m) => { addMessage(m); state.lastId = Math.max(state.lastId, m.id); });
      const lastUser = [...(d.card.turns || [])].reverse().find((t) => t.role === "user");
      if (lastUser && !$("quick-search").value) $("quick-search").value = lastUser.text.slice(0, 100);
      document.querySelectorAll(".handoff-item").forEach((li) => li.classList.toggle("selected", Number(li.dataset.id) === id));
    } catch (err) { toast(err.message); }
  }

  async function pollMessages() {
    if (!state.selected) return;
    try {
      const d = await api("/agent/api/handoffs/" + state.selected + "/messages?after=" + state.lastId);
      d.messages.forEach((m) => { addMessage(m); state.lastId = Math.max(state.lastId, m.id); });
      if (d.status !== state.status) {
        const full = await api("/agent/api/handoffs/" + state.selected);
        renderHead(full.handoff);
        renderCard(full.card || {}, full.handoff);
      }
    } catch (err) { /* retried next tick */ }
  }

  async function claim(id) {
    try {
      await api("/agent/api/handoffs/" + id + "/claim", { method: "POST" });
      toast("已接入 #" + id);
      await refreshQueue();
      await select(id);
    } catch (err) { toast(err.message); refreshQueue(); }
  }

  async function send(ev) {
    ev.preventDefault();
    const text = $("reply-input").value.trim();
    if (!text || !state.selected) return;
    $("send-btn").disabled = true;
    try {
      const r = await api("/agent/api/handoffs/" + state.selected + "/messages", { method: "POST", body: { text } });
      $("reply-input").value = "";
      if (r.delivery && r.delivery.indexOf("failed") === 0) toast("消息未送达：" + r.delivery);
      await pollMessages();
    } catch (err) { toast(err.message); }
    finally { $("send-btn").disabled = state.status !== "active"; }
  }

  async function end() {
    if (!state.selected) return;
    try {
      await api("/agent/api/handoffs/" + state.selected + "/end", { method: "POST" });
      toast("会话已结束，已请用户评分");
      await refreshQueue();
      await select(state.selected);
    } catch (err) { toast(err.message); }
  }

  async function quickSearch(ev) {
    ev.preventDefault();
    const q = $("quick-search").value.trim();
    if (!q) return;
    try {
      const r = await api("/agent/api/quick-replies?q=" + encodeURIComponent(q));
      $("quick-results").replaceChildren(...r.replies.map((h) => {
        const li = el("li", "quick-reply");
        const btn = el("button", "insert", "插入");
        btn.type = "button";
        btn.addEventListener("click", () => insert(h.text));
        li.append(btn, el("span", "qtext", h.title + "：" + h.text.slice(0, 120) + "（" + h.citation + "）"));
        return li;
      }));
    } catch (err) { toast(err.message); }
  }

  async function setStatus() {
    try {
      await api("/agent/api/status", { method: "POST", body: { status: $("status-select").value } });
      toast("状态已更新");
      refreshQueue();
    } catch (err) { toast(err.message); }
  }

  async function init() {
    state.me = await api("/agent/api/me");
    $("me").textContent = state.me.user.name + "（" + state.me.agent.skills.map((s) => ({ sales: "销售", claims: "理赔", complaints: "投诉" })[s] || s).join("/") + "）";
    $("status-select").value = state.me.agent.status;
    $("status-select").addEventListener("change", setStatus);
    $("claim-btn").addEventListener("click", () => state.selected && claim(state.selected));
    $("end-btn").addEventListener("click", end);
    $("reply-form").addEventListener("submit", send);
    $("quick-form").addEventListener("submit", quickSearch);
    $("reply-input").addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) send(ev); });
    await refreshQueue();
    const wanted = Number(new URLSearchParams(location.search).get("h"));
    if (wanted) select(wanted);
    setInterval(refreshQueue, 2000);
    setInterval(pollMessages, 1000);
  }

  init().catch((err) => toast(err.message));
})();
