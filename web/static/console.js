/* 保险小助手 ops console: small page scripts over the JSON APIs (no framework, no CDN). */
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") n.className = v; else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) n.setAttribute(k, v);
  }
  for (const kid of kids.flat()) n.append(kid instanceof Node ? kid : document.createTextNode(kid ?? ""));
  return n;
};
const fmtTime = (ts) => ts ? new Date(ts * 1000).toLocaleString("zh-CN", { hour12: false }) : "";

function toast(msg, bad = false) {
  const t = $("#toast"); t.textContent = msg; t.className = bad ? "bad" : ""; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => (t.hidden = true), 4000);
}

class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : (detail && detail.message) || `HTTP ${status}`);
    this.status = status;
    this.problems = (detail && detail.problems) || (Array.isArray(detail) ? detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`) : []);
  }
}

async function api(method, url, body) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const resp = await fetch(url, opts);
  if (resp.status === 401) { location.href = "/console/login?next=" + encodeURIComponent(location.pathname + location.search); throw new ApiError(401, "请先登录"); }
  const data = resp.headers.get("content-type")?.includes("json") ? await resp.json() : await resp.text();
  if (!resp.ok) throw new ApiError(resp.status, data && data.detail !== undefined ? data.detail : data);
  return data;
}

function showProblems(list, err) {
  list.replaceChildren(...(err ? [err.message, ...err.problems] : []).filter((p, i, a) => p && a.indexOf(p) === i).map((p) => el("li", {}, p)));
}

// saved to the draft, but the fact checker will refuse to publish it as it stands
function showWarnings(list, warnings) {
  if (warnings && warnings.length) showProblems(list, { message: "已保存到草稿，但与产品资料或用语规范不符，发布前需修改：", problems: warnings });
  else showProblems(list);
}

async function busy(button, fn) {
  button.disabled = true;
  try { return await fn(); } finally { button.disabled = false; }
}

/* ---- status bar (editors) ------------------------------------------------------------------- */
async function refreshStatus() {
  const bar = $("#kb-status");
  if (!bar) return;
  try {
    const s = await api("GET", "/api/kb/status");
    const live = s.live_version_id ? `本服务正在使用版本 ${s.live_version_id}` : "本服务索引状态未知";
    const building = s.building_version_id ? `，正在构建版本 ${s.building_version_id}…` : "";
    const failed = s.last_error ? `。⚠ ${s.last_error}` : "";
    bar.textContent = `草稿：版本 ${s.draft_version_id}；已发布：版本 ${s.published_version_id}；${live}${building}${failed}` +
      (s.unpublished_changes ? "。草稿有未发布的修改。" : "。草稿与线上一致。");
    bar.className = "statusbar" + (s.unpublished_changes || s.building_version_id || s.last_error ? "" : " clean");
    bar.dataset.live = s.live_version_id || ""; bar.dataset.published = s.published_version_id;
    return s;
  } catch (e) { bar.textContent = "无法读取知识库状态：" + e.message; }
}

let productNames = null;
async function products() {
  if (!productNames) {
    const { clauses } = await api("GET", "/api/kb/clauses");
    productNames = Object.fromEntries(clauses.map((c) => [c.product_id, (c.title || c.product_id).replace(/条款$/, "")]));
  }
  return productNames;
}

/* ---- FAQ ------------------------------------------------------------------------------------- */
async function pageFaq() {
  const form = $("#faq-search"), q = $("#faq-q");
  q.value = new URLSearchParams(location.search).get("q") || "";
  async function load() {
    const data = await api("GET", "/api/kb/faqs?q=" + encodeURIComponent(q.value.trim()));
    $("#faq-count").textContent = `共 ${data.faqs.length} 条（草稿版本 ${data.version_id}）`;
    $("#faq-table tbody").replaceChildren(...data.faqs.map((f) => el("tr", { "data-id": f.id },
      el("td", {}, el("a", { href: "/console/faq/" + encodeURIComponent(f.id) }, f.id)),
      el("td", {}, f.question), el("td", {}, String(f.similar.length)), el("td", { class: "clip" }, f.answer),
      el("td", {}, el("span", { class: "tag " + (f.published ? "live" : "draft") }, f.new ? "新增未发布" : f.published ? "已发布" : "已修改未发布")))));
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); history.replaceState(null, "", "?q=" + encodeURIComponent(q.value)); load(); });
  await load();
}

async function pageFaqEdit() {
  const box = $("#faq-editor"), faqId = box.dataset.faqId, problems = $("#f-problems");
  const names = await products();
  $("#f-products").replaceChildren(...Object.entries(names).map(([id, name]) =>
    el("label", { class: "inline" }, el("input", { type: "checkbox", value: id, name: "product" }), name)));
  const answer = $("#f-answer"), count = () => ($("#f-count").textContent = `（${answer.value.replace(/\s+/g, " ").trim().length}/300）`);
  answer.addEventListener("input", count);
  let hash = null;
  if (faqId) {
    const f = await api("GET", "/api/kb/faqs/" + encodeURIComponent(faqId));
    $("#f-question").value = f.question; $("#f-similar").value = f.similar.join("\n"); answer.value = f.answer; hash = f.hash;
    document.querySelectorAll("input[name=product]").forEach((c) => (c.checked = f.products.includes(c.value)));
  }
  count();
  $("#faq-form").addEventListener("submit", (e) => {
    e.preventDefault();
    busy($("#f-save"), async () => {
      const body = { id: $("#f-id").value.trim(), question: $("#f-question").value, answer: answer.value,
        similar: $("#f-similar").value.split("\n").map((s) => s.trim()).filter(Boolean),
        products: [...document.querySelectorAll("input[name=product]:checked")].map((c) => c.value), expected_hash: hash };
      try {
        const r = faqId ? await api("PUT", "/api/kb/faqs/" + encodeURIComponent(faqId), body) : await api("POST", "/api/kb/faqs", body);
        showWarnings(problems, r.warnings); toast(`已保存到草稿（版本 ${r.version.id}）`);
        if (!faqId) location.href = "/console/faq/" + encodeURIComponent(r.id); else { hash = r.hash; refreshStatus(); }
      } catch (err) { showProblems(problems, err); toast("保存失败：" + err.message, true); }
    });
  });
  const del = $("#f-delete");
  if (del) del.addEventListener("click", () => {
    if (!confirm(`确定删除 ${faqId}？（发布后生效，可回滚）`)) return;
    busy(del, async () => {
      try { await api("DELETE", "/api/kb/faqs/" + encodeURIComponent(faqId)); location.href = "/console/faq"; }
      catch (err) { showProblems(problems, err); }
    });
  });
}

/* ---- clauses --------------------------------------------------------------------------------- */
function renderPreview(p) {
  const problems = $("#c-problems");
  if (!p.ok) { showProblems(problems, { message: "无法分块：" + p.error, problems: [] }); $("#chunk-table tbody").replaceChildren(); $("#c-summary").textContent = ""; return; }
  showProblems(problems);
  $("#c-summary").textContent = `《${p.title}》 产品 ${p.product_id}，版本 ${p.version}，共 ${p.chunks.length} 条、${p.chars} 字` +
    (p.missing_sections.length ? `；缺少章节：${p.missing_sections.join("、")}` : "；十个章节齐全");
  $("#chunk-table tbody").replaceChildren(...p.chunks.map((c) => el("tr", {},
    el("td", {}, c.article), el("td", {}, c.section_title), el("td", {}, c.citation), el("td", {}, String(c.chars)), el("td", { class: "clip" }, c.text))));
}

async function pageClauses() {
  const { clauses } = await api("GET", "/api/kb/clauses");
  $("#clause-table tbody").replaceChildren(...clauses.map((c) => el("tr", {},
    el("td", {}, c.product_id), el("td", {}, c.title || ""), el("td", {}, c.version || ""), el("td", {}, String(c.articles)), el("td", {}, String(c.chars)),
    el("td", {}, el("button", { class: "secondary", onclick: () => { $("#c-product").value = c.product_id; loadCurrent(); } }, "编辑")))));
  $("#c-product").replaceChildren(...clauses.map((c) => el("option", { value: c.product_id }, `${c.product_id}（${c.title || ""}）`)));
  const source = $("#c-source");
  async function loadCurrent() {
    const c = await api("GET", "/api/kb/clauses/" + encodeURIComponent($("#c-product").value));
    source.value = c.source; renderPreview(c.preview);
  }
  $("#c-load").addEventListener("click", loadCurrent);
  $("#clause-upload").addEventListener("submit", (e) => {
    e.preventDefault();
    const file = $("#c-file").files[0];
    if (!file) { toast("请选择文件", true); return; }
    busy($("#c-import"), async () => {
      const fd = new FormData();
      fd.append("file", file); fd.append("product_id", $("#c-product").value);
      fd.append("title", $("#c-title").value); fd.append("version", $("#c-version").value || "1");
      try { const r = await api("POST", "/api/kb/clauses/import", fd); source.value = r.source; renderPreview(r.preview); toast("已读取文件，请检查分块后保存"); }
      catch (err) { showProblems($("#c-problems"), err); }
    });
  });
  $("#c-preview").addEventListener("click", () => busy($("#c-preview"), async () => renderPreview(await api("POST", "/api/kb/clauses/preview", { source: source.value }))));
  $("#c-save").addEventListener("click", () => busy($("#c-save"), async () => {
    try {
      const r = await api("PUT", "/api/kb/clauses/" + encodeURIComponent($("#c-product").value), { source: source.value });
      renderPreview(r.preview); showWarnings($("#c-problems"), r.warnings); toast(`条款已保存到草稿（版本 ${r.version.id}）`); refreshStatus();
    } catch (err) { showProblems($("#c-problems"), err); toast("保存失败", true); }
  }));
}

/* ---- rates ----------------------------------------------------------------------------------- */
async function pageRates() {
  const { rates } = await api("GET", "/api/kb/rates");
  const select = $("#r-product"), text = $("#r-text"), problems = $("#r-problems"), ok = $("#r-ok");
  select.replaceChildren(...rates.map((r) => el("option", { value: r }, r)));
  async function load() { const r = await api("GET", "/api/kb/rates/" + encodeURIComponent(select.value)); text.value = r.text; showProblems(problems); ok.hidden = true; }
  select.addEventListener("change", load);
  $("#r-validate").addEventListener("click", () => busy($("#r-validate"), async () => {
    const r = await api("POST", `/api/kb/rates/${encodeURIComponent(select.value)}/validate`, { text: text.value });
    ok.hidden = !r.ok; showProblems(problems, r.ok ? null : { message: "校验未通过：", problems: r.problems });
  }));
  $("#r-save").addEventListener("click", () => busy($("#r-save"), async () => {
    try { const r = await api("PUT", "/api/kb/rates/" + encodeURIComponent(select.value), { text: text.value }); ok.hidden = false; showProblems(problems); toast(`费率表已保存到草稿（版本 ${r.version.id}）`); refreshStatus(); }
    catch (err) { ok.hidden = true; showProblems(problems, err); toast("费率表未保存", true); }
  }));
  if (rates.length) await load();
}

/* ---- test box -------------------------------------------------------------------------------- */
const DECISION_NAMES = { answer: "答复", clarify: "澄清", refuse: "拒答" };
const num = (v, d = 2) => (v === null || v === undefined ? "—" : Number(v).toFixed(d));
function pair(a, b) {  // two numbers to compare: more decimals when two would show them equal
  const d = a !== null && b !== null && a !== undefined && b !== undefined && num(a) === num(b) && a !== b ? 4 : 2;
  return [num(a, d), num(b, d)];
}
function decisionWhy(r) {
  const t = r.thresholds || {}, options = r.options || [], known = (v) => v !== null && v !== undefined;
  const [m, a] = pair(r.confidence, t.answer);
  const top = (cmp) => (known(r.top_score) && known(t.clarify) ? `，最高分 ${pair(r.top_score, t.clarify).join(` ${cmp} 澄清阈值 `)}` : "");
  switch (r.reason) {
    case "exact_match": return `与已收录问题一致：${r.matched || "（未提供原句）"}`;
    case "confident": return `置信差 ${m} ≥ 答复阈值 ${a}`;
    case "clarify": return `不确定，给出 ${options.length} 个选项（置信差 ${m} < 答复阈值 ${a}${top("≥")}）`;
    case "low_confidence": return `没有把握：置信差 ${m} < 答复阈值 ${a}${top("<")}`;
    case "foreign_term": return `涉及我们不经营的：${r.foreign_term || "其他产品或平台"}`;
    case "exclusions": return "问的是这款产品哪些情况不赔：给出它的责任免除条款";
    case "no_candidates": return "没有找到候选条目";
    default: return r.reason || "";
  }
}

function renderAnswer(box, r) {
  if (!r) { box.replaceChildren(el("p", { class: "hint" }, "线上索引尚未就绪")); return; }
  const decision = r.decision || (r.answerable ? "answer" : "refuse"), t = r.thresholds || {};
  const options = r.options || [], titles = r.option_titles || [];
  box.replaceChildren(
    el("p", { class: "verdict" + (decision === "answer" ? " ok" : decision === "refuse" ? " error" : "") },
      el("span", { class: "tag decision " + decision, "data-decision": decision }, DECISION_NAMES[decision] || decision), " ",
      el("span", { class: "why", "data-reason": r.reason || "" }, decisionWhy({ ...r, decision }))),
    el("p", { class: "hint thresholds" }, `置信差 ${num(r.confidence, 4)} · 答复阈值 ${num(t.answer, 4)} · 澄清阈值 ${num(t.clarify, 4)}` +
      (r.top_score !== null && r.top_score !== undefined ? ` · 最高分 ${num(r.top_score, 4)}` : "")),
    decision === "clarify" && options.length ? el("div", { class: "clarify" }, el("span", { class: "hint" }, "您是想问："),
      el("ol", { class: "options" }, options.map((id, i) => el("li", { "data-id": id }, titles[i] ? `${titles[i]}（${id}）` : id)))) : "",
    el("p", { class: "hint" }, `版本 ${r.version_id ?? ""} · 索引 ${r.index_version}`),
    ...r.hits.map((h, i) => el("div", { class: "hit" + (i === 0 ? " top" : ""), "data-id": h.id }, el("b", {}, `${h.id}`), ` ${h.score.toFixed(3)} · ${h.citation}`, el("div", {}, h.text.slice(0, 300)))));
}

async function pageTest() {
  const names = await products();
  $("#t-product").append(...Object.entries(names).map(([id, name]) => el("option", { value: id }, name)));
  $("#test-form").addEventListener("submit", (e) => {
    e.preventDefault();
    $("#t-draft").textContent = "正在用草稿回答…"; $("#t-live").textContent = "";
    busy($("#t-ask"), async () => {
      try {
        const r = await api("POST", "/api/kb/test", { query: $("#t-query").value, context_product: $("#t-product").value || null });
        renderAnswer($("#t-draft"), r.draft); renderAnswer($("#t-live"), r.live);
      } catch (err) { $("#t-draft").textContent = "出错：" + err.message + " " + err.problems.join("；"); }
    });
  });
}

/* ---- versions -------------------------------------------------------------------------------- */
async function pageVersions() {
  const problems = $("#v-problems");
  async function load() {
    const { versions } = await api("GET", "/api/kb/versions");
    $("#version-table tbody").replaceChildren(...versions.map((v) => el("tr", { "data-version": v.id },
      el("td", {}, String(v.id)), el("td", {}, fmtTime(v.created_at)), el("td", {}, v.created_by), el("td", {}, v.summary),
      el("td", { class: "clip", title: v.changes.join("\n") }, `${v.changes.length} 项：${v.changes.slice(0, 3).join("，")}`),
      el("td", {}, v.is_published ? el("span", { class: "tag live" }, "线上") : v.is_draft_head ? el("span", { class: "tag draft" }, "草稿") : v.published_at ? "曾发布" : ""),
      el("td", {}, v.parent_id ? el("a", { href: `/console/versions/diff?a=${v.parent_id}&b=${v.id}` }, "改动") : "", " ",
        v.is_published ? "" : el("button", { class: "secondary rollback", onclick: (e) => rollback(v.id, e.target) }, "回滚到此版本")))));
    if (versions.length) { $("#v-b").value ||= versions[0].id; $("#v-a").value ||= (versions.find((v) => v.is_published) || versions[versions.length - 1]).id; }
  }
  async function watchReload(target) {
    const hint = $("#v-reload");
    for (let i = 0; i < 120; i++) {
      const s = await refreshStatus();
      if (s && s.live_version_id === target) { hint.textContent = `版本 ${target} 已在本服务生效（其他实例在 2 秒内同步）。`; return; }
      if (s && s.failed_version_id === target) { hint.textContent = `版本 ${target} 构建失败，线上继续使用旧版本：${s.last_error}`; return; }
      hint.textContent = `版本 ${target} 已发布，正在重建索引…`;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  async function rollback(id, button) {
    if (!confirm(`回滚到版本 ${id}？这会生成一个内容与版本 ${id} 相同的新版本并立即发布，草稿中未发布的修改也会被替换。`)) return;
    await busy(button, async () => {
      try { const r = await api("POST", "/api/kb/rollback", { version_id: id }); toast(`已回滚：新版本 ${r.published.id} 已发布`); showProblems(problems); await load(); watchReload(r.published.id); }
      catch (err) { showProblems(problems, err); toast("回滚失败", true); }
    });
  }
  $("#v-publish").addEventListener("click", () => busy($("#v-publish"), async () => {
    try { const r = await api("POST", "/api/kb/publish", { note: $("#v-note").value }); toast(`版本 ${r.published.id} 已发布`); showProblems(problems); await load(); watchReload(r.published.id); }
    catch (err) { showProblems(problems, err); toast("发布失败：" + err.message, true); }
  }));
  await load();
}

/* ---- unanswered ------------------------------------------------------------------------------ */
async function pageUnanswered() {
  const faqs = (await api("GET", "/api/kb/faqs")).faqs;
  $("#faq-ids").replaceChildren(...faqs.map((f) => el("option", { value: f.id }, f.question)));
  async function load() {
    const box = $("#u-groups");
    box.textContent = "正在分组…";
    const { groups, open } = await api("GET", "/api/unanswered/groups?days=" + $("#u-days").value);
    if (!groups.length) { box.replaceChildren(el("p", { id: "u-empty", class: "hint" }, "暂无未处理的未答问题 🎉")); return; }
    box.replaceChildren(el("p", { class: "hint" }, `${open} 个问题，${groups.length} 组`), ...groups.map(renderGroup));
  }
  function renderGroup(g) {
    const target = el("input", { list: "faq-ids", placeholder: "FAQ 编号", value: g.suggestion ? g.suggestion.faq_id : "", class: "u-target" });
    const node = el("div", { class: "group", "data-ids": g.ids.join(",") },
      el("div", {}, el("b", {}, g.representative), el("span", { class: "hint" }, ` · ${g.count} 次 · 最近 ${fmtTime(g.last_at)}`),
        g.suggestion ? el("span", { class: "hint" }, ` · 最接近：${g.suggestion.faq_id}（${g.suggestion.title}）`) : ""),
      el("ul", {}, g.questions.map((q) => el("li", {}, q))),
      el("div", { class: "actions" }, target,
        el("button", { class: "u-attach", onclick: (e) => act(e.target, "attach", { ids: g.ids, faq_id: target.value.trim() }) }, "加为相似问"),
        el("button", { class: "secondary u-newfaq", onclick: () => node.classList.toggle("open") }, "新建 FAQ"),
        el("button", { class: "secondary u-dismiss", onclick: (e) => act(e.target, "dismiss", { ids: g.ids }) }, "忽略")),
      el("div", { class: "newfaq" },
        el("label", {}, "FAQ 编号", el("input", { class: "n-id", placeholder: "faq.custom.example" })),
        el("label", {}, "标准问", el("input", { class: "n-question", value: g.representative })),
        el("label", {}, "答案", el("textarea", { class: "n-answer", rows: 3 })),
        el("button", { class: "n-create", onclick: (e) => act(e.target, "new-faq", { ids: g.ids, faq_id: $(".n-id", node).value.trim(), question: $(".n-question", node).value, answer: $(".n-answer", node).value }) }, "创建 FAQ（其余问题作为相似问）")),
      el("ul", { class: "problems" }));
    return node;
  }
  async function act(button, action, body) {
    const node = button.closest(".group");
    await busy(button, async () => {
      try {
        const r = await api("POST", "/api/unanswered/" + action, body);
        toast(action === "dismiss" ? "已忽略" : `已写入草稿（版本 ${r.version.id}），发布后生效`);
        node.remove(); refreshStatus();
      } catch (err) { showProblems($(".problems:last-child", node), err); }
    });
  }
  async function loadChoices() {
    const box = $("#cq-groups");
    const { groups, open } = await api("GET", "/api/clarifications?days=" + $("#u-days").value);
    if (!groups.length) { box.replaceChildren(el("p", { id: "cq-empty", class: "hint" }, "暂无待处理的澄清选择")); return; }
    box.replaceChildren(el("p", { class: "hint" }, `${open} 次选择，${groups.length} 个条目`), ...groups.map(renderChoiceGroup));
  }
  function renderChoiceGroup(g) {
    const why = g.kind === "faq" ? "该 FAQ 已不在线上，不能加相似问" : "条款条目，不能加相似问";
    return el("div", { class: "cgroup", "data-chosen": g.chosen_id },
      el("div", {}, el("b", {}, g.title || g.chosen_id), el("span", { class: "hint" }, ` · ${g.chosen_id} · 选定 ${g.count} 次`),
        g.attachable ? "" : el("span", { class: "tag" }, why)),
      el("table", { class: "list" },
        el("thead", {}, el("tr", {}, el("th", {}, "用户的问题"), el("th", {}, "次数"), el("th", {}, "日期"), el("th", {}, ""))),
        el("tbody", {}, g.questions.map((q) => el("tr", { class: "cq", "data-ids": q.ids.join(",") },
          el("td", {}, q.question, q.known ? el("span", { class: "tag live" }, " 已是相似问") : ""),
          el("td", {}, String(q.count)), el("td", {}, fmtTime(q.last_at)),
          el("td", { class: "row-actions" },
            g.attachable ? el("button", { class: "c-attach", onclick: (e) => actChoice(e.target, "attach", q.ids) }, "加为相似问") : "", " ",
            el("button", { class: "secondary c-dismiss", onclick: (e) => actChoice(e.target, "dismiss", q.ids) }, "忽略")))))),
      el("ul", { class: "problems" }));
  }
  async function actChoice(button, action, ids) {
    const row = button.closest("tr"), node = button.closest(".cgroup");
    await busy(button, async () => {
      try {
        const r = await api("POST", "/api/clarifications/" + action, { ids });
        toast(action === "dismiss" ? "已忽略" : r.published ? `已加为 ${r.faq_id} 的相似问并发布（版本 ${r.version.id}）`
          : `已是 ${r.faq_id} 的相似问，已标记为已处理`);
        row.remove();
        if (!node.querySelector("tr.cq")) node.remove();
        if (!document.querySelector("#cq-groups .cgroup")) loadChoices();
        refreshStatus();
      } catch (err) { showProblems($(".problems", node), err); }
    });
  }
  const loadAll = () => Promise.all([load(), loadChoices()]);
  $("#u-refresh").addEventListener("click", loadAll); $("#u-days").addEventListener("change", loadAll);
  await loadAll();
}

/* ---- analytics: tiny SVG charts ---------------------------------------------------------------- */
const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs = {}, text) => { const n = document.createElementNS(SVG, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text !== undefined) n.textContent = text; return n; };
const COLORS = ["#07c160", "#3b82f6", "#f59e0b", "#ef4444", "#8b5cf6"];

function lineChart(box, labels, series, { percent = false } = {}) {
  const W = 600, H = 220, L = 44, B = 28, T = 10, R = 10;
  const values = series.flatMap((s) => s.values.filter((v) => v !== null));
  const max = percent ? 1 : Math.max(1, ...values) * 1.1;
  const x = (i) => L + (labels.length <= 1 ? 0 : (i * (W - L - R)) / (labels.length - 1));
  const y = (v) => H - B - (v / max) * (H - B - T);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  for (let k = 0; k <= 4; k++) { const v = (max * k) / 4; svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eee" }), svgEl("text", { x: 2, y: y(v) + 4 }, percent ? Math.round(v * 100) + "%" : Math.round(v))); }
  const step = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((l, i) => { if (i % step === 0) svg.append(svgEl("text", { x: x(i) - 16, y: H - 8 }, l.slice(5))); });
  series.forEach((s, n) => {
    const pts = s.values.map((v, i) => (v === null ? null : `${x(i)},${y(v)}`)).filter(Boolean);
    svg.append(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: COLORS[n], "stroke-width": 2 }));
    s.values.forEach((v, i) => v !== null && svg.append(svgEl("circle", { cx: x(i), cy: y(v), r: 2.5, fill: COLORS[n] }, undefined)));
  });
  box.replaceChildren(svg, el("div", { class: "legend" }, series.map((s, n) => el("span", { style: `color:${COLORS[n]};margin-right:12px` }, "● " + s.name))));
}

function barChart(box, rows) {
  if (!rows.length) { box.replaceChildren(el("p", { class: "hint" }, "暂无数据")); return; }
  const W = 600, rowH = 24, L = 200, H = rows.length * rowH + 10, max = Math.max(1, ...rows.map((r) => r.value));
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, style: `height:${H}px` });
  rows.forEach((r, i) => {
    const w = ((W - L - 50) * r.value) / max;
    svg.append(svgEl("text", { x: 0, y: i * rowH + 17 }, r.label.length > 28 ? r.label.slice(0, 27) + "…" : r.label),
      svgEl("rect", { x: L, y: i * rowH + 5, width: Math.max(1, w), height: 16, fill: COLORS[0], rx: 2 }),
      svgEl("text", { x: L + w + 6, y: i * rowH + 17 }, String(r.value)));
  });
  box.replaceChildren(svg);
}

async function pageAnalytics() {
  const days = $("#a-days");
  async function load() {
    $("#a-csv").href = "/api/analytics.csv?days=" + days.value;
    const d = await api("GET", "/api/analytics?days=" + days.value);
    const t = d.totals, pct = (v) => (v === null ? "—" : (v * 100).toFixed(1) + "%"), num = (v) => (v === null ? "—" : v);
    $("#a-kpis").replaceChildren(...[["会话数", t.conversations], ["用户消息", t.messages], ["自动化率", pct(t.automation_rate)], ["转人工率", pct(t.handoff_rate)],
      ["未答问题", t.unanswered], ["时延 p50", num(t.latency_p50_ms) + " ms"], ["时延 p95", num(t.latency_p95_ms) + " ms"], ["平均评分", num(t.rating_avg)]]
      .map(([k, v]) => el("div", { class: "kpi", "data-kpi": k }, k, el("b", {}, String(v)))));
    const labels = d.daily.map((r) => r.date);
    lineChart($("#c-conversations"), labels, [{ name: "会话", values: d.daily.map((r) => r.conversations) }]);
    lineChart($("#c-automation"), labels, [{ name: "自动化率", values: d.daily.map((r) => r.automation_rate) }, { name: "转人工率", values: d.daily.map((r) => r.handoff_rate) }], { percent: true });
    barChart($("#c-reasons"), d.handoff_reasons.map((r) => ({ label: r.reason, value: r.count })));
    barChart($("#c-top"), d.top_answers.map((r) => ({ label: r.id, value: r.count })));
    lineChart($("#c-unanswered"), labels, [{ name: "未答问题", values: d.daily.map((r) => r.unanswered) }]);
    lineChart($("#c-latency"), labels, [{ name: "p50", values: d.daily.map((r) => r.latency_p50_ms) }, { name: "p95", values: d.daily.map((r) => r.latency_p95_ms) }]);
    barChart($("#c-ratings"), d.rating_distribution.map((r) => ({ label: `${r.score} 分`, value: r.count })));
  }
  days.addEventListener("change", load);
  await load();
}

/* ---- users and audit --------------------------------------------------------------------------- */
const ROLE_NAMES = { viewer: "观察员", agent: "坐席", editor: "编辑", admin: "管理员" };
async function pageUsers() {
  async function load() {
    const { users, roles } = await api("GET", "/api/users");
    $("#user-table tbody").replaceChildren(...users.map((u) => {
      const role = el("select", { class: "u-role" }, roles.map((r) => el("option", { value: r }, ROLE_NAMES[r])));
      role.value = u.role;
      role.addEventListener("change", () => change(u.username, { role: role.value }));
      return el("tr", { "data-user": u.username }, el("td", {}, u.username), el("td", {}, u.display_name), el("td", {}, role),
        el("td", {}, u.active ? "启用" : "已停用"),
        el("td", {}, el("button", { class: "secondary", onclick: () => change(u.username, { active: !u.active }) }, u.active ? "停用" : "启用"), " ",
          el("button", { class: "secondary", onclick: () => { const p = prompt(`为 ${u.username} 设置新密码（至少8位）`); if (p) change(u.username, { password: p }); } }, "重置密码")));
    }));
  }
  async function change(username, body) {
    try { await api("PUT", "/api/users/" + encodeURIComponent(username), body); toast("已更新"); }
    catch (err) { toast("失败：" + err.message, true); }
    load();
  }
  $("#user-form").addEventListener("submit", (e) => {
    e.preventDefault();
    busy($("#n-create"), async () => {
      try {
        await api("POST", "/api/users", { username: $("#n-username").value.trim(), password: $("#n-password").value, role: $("#n-role").value,
          display_name: $("#n-display").value.trim(), wecom_userid: $("#n-wecom").value.trim() || null });
        toast("用户已创建"); e.target.reset(); showProblems($("#n-problems")); load();
      } catch (err) { showProblems($("#n-problems"), err); }
    });
  });
  await load();
}

async function pageAudit() {
  const { chain, entries } = await api("GET", "/api/audit");
  $("#audit-chain").textContent = chain.intact ? `哈希链完整：共 ${chain.records} 条记录，未被修改。` : `⚠ 哈希链校验失败：${chain.problem}`;
  $("#audit-table tbody").replaceChildren(...entries.map((a) => el("tr", {}, el("td", {}, String(a.seq)), el("td", {}, fmtTime(a.at)), el("td", {}, a.actor),
    el("td", {}, a.role), el("td", {}, a.action), el("td", { class: "clip" }, a.target), el("td", { class: "clip" }, JSON.stringify(a.detail)))));
}

const PAGES = { faq: pageFaq, faq_new: pageFaqEdit, faq_edit: pageFaqEdit, clauses: pageClauses, rates: pageRates, test: pageTest,
  versions: pageVersions, unanswered: pageUnanswered, analytics: pageAnalytics, users: pageUsers, audit: pageAudit };
document.addEventListener("DOMContentLoaded", async () => {
  refreshStatus();
  const init = PAGES[document.body.dataset.page];
  if (init) {
    try { await init(); document.body.dataset.ready = "1"; }
    catch (err) { toast("页面加载失败：" + err.message, true); document.body.dataset.ready = "error"; }
  }
});
