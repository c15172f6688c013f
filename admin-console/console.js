/*
 * console.js — the operators' web console at /admin/ (docs/admin.md, "The web console").
 *
 * One page, a hash router (#/dashboard, #/users, #/users/42, #/orders, …), no build step and
 * no library: the DOM is built with el(), the dashboard's chart is SVG drawn here.
 *
 * Contracts:
 * - The admin token lives in this tab's sessionStorage (TOKEN_KEY) and nowhere else; closing
 *   the tab ends the console's session.
 * - Every call to the API goes through api(): it sends the token, answers the envelope's data,
 *   and otherwise shows the envelope's message (or the HTTP status when there is no envelope)
 *   and throws ApiError. A 401 forgets the token and goes back to the login with the message.
 * - What the signed-in role may not do is not offered: write controls are made by
 *   writeButton()/can() only for the roles of docs/admin.md's matrix (the API refuses the
 *   others anyway). Write controls carry the attribute data-write.
 * - Lists page with the API's cursors (PAGE rows a page, "上一页"/"下一页").
 * - Money and credit writes carry an Idempotency-Key made once per dialog or form use, so a
 *   repeated click or a retry after a network error is the same request.
 */
'use strict';

(function () {
	const API = '/api/v1/admin';
	const TOKEN_KEY = 'aiphoto.admin.token';
	const ROLES = ['viewer', 'support', 'operator', 'owner'];
	const PAGE = 20;
	const TASK_REFRESH_MS = 5000;

	let me = null; // GET /admin/me of the signed-in admin
	let generation = 0; // bumped on every navigation: late answers of a page left are dropped
	let timers = []; // intervals of the page shown, cleared on navigation
	let loginNotice = '';

	/* ------------------------------------------------------------------ DOM helpers */

	function $(sel, root) {
		return (root || document).querySelector(sel);
	}

	/*
	 * el('button', {class: 'primary', onclick: f, 'data-id': 3}, '保存') — an element with
	 * attributes (null/false skipped, true as ""), listeners (on… functions), `text`, and
	 * children (strings become text; arrays are flattened; null is skipped).
	 */
	function el(tag, attrs, ...children) {
		const svg = ['svg', 'g', 'rect', 'line', 'polyline', 'text', 'title', 'circle'].includes(tag);
		const n = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false) continue;
			if (k === 'text') n.textContent = String(v);
			else if (k === 'class') n.setAttribute('class', v);
			else if (k.startsWith('on') && typeof v === 'function') n.addEventListener(k.slice(2), v);
			else if (k === 'value' && !svg) n.value = v;
			else if (k === 'checked' && !svg) n.checked = Boolean(v);
			else n.setAttribute(k, v === true ? '' : String(v));
		}
		append(n, children);
		return n;
	}

	function append(n, children) {
		for (const c of children.flat(Infinity)) {
			if (c === null || c === undefined || c === false) continue;
			n.append(c instanceof Node ? c : document.createTextNode(String(c)));
		}
		return n;
	}

	function clear(n) {
		while (n.firstChild) n.removeChild(n.firstChild);
		return n;
	}

	/* The result line (#msg): what an action did, or the envelope's message when it failed. */
	let msgTimer = null;
	function say(text, kind) {
		const m = $('#msg');
		m.textContent = text;
		m.className = kind === 'error' ? 'error' : 'ok';
		clearTimeout(msgTimer);
		msgTimer = setTimeout(() => m.classList.add('hidden'), kind === 'error' ? 15000 : 8000);
	}

	const TZ = {timeZone: 'Asia/Shanghai', hour12: false};
	function when(s) {
		if (!s) return '—';
		const d = new Date(s);
		return Number.isNaN(d.getTime()) ? String(s) : d.toLocaleString('zh-CN', TZ);
	}

	function yuan(fen) {
		return fen === null || fen === undefined ? '—' : '¥' + (fen / 100).toFixed(2);
	}

	function newKey() {
		if (window.crypto && crypto.randomUUID) return 'console-' + crypto.randomUUID();
		const b = new Uint8Array(16);
		crypto.getRandomValues(b);
		return 'console-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
	}

	/* ------------------------------------------------------------------ the API */

	class ApiError extends Error {
		constructor(status, code, message) {
			super(message);
			this.status = status;
			this.code = code;
		}
	}

	/*
	 * One call of the admin API: method, path under /api/v1/admin, and {query (empty values
	 * left out), json, body (FormData), headers, quiet (no result line)} → the envelope's data.
	 * Throws ApiError (status, code, message) after showing the message; a 401 (other than the
	 * login's own) forgets the token and shows the login page.
	 */
	async function api(method, path, opts) {
		const o = opts || {};
		const url = new URL(API + path, location.origin);
		for (const [k, v] of Object.entries(o.query || {})) {
			if (v !== '' && v !== null && v !== undefined) url.searchParams.set(k, String(v));
		}
		const headers = Object.assign({Accept: 'application/json'}, o.headers || {});
		const token = sessionStorage.getItem(TOKEN_KEY);
		if (token) headers.Authorization = 'Bearer ' + token;
		let body = o.body;
		if (o.json !== undefined) {
			headers['Content-Type'] = 'application/json';
			body = JSON.stringify(o.json);
		}
		let res;
		try {
			res = await fetch(url, {method, headers, body, credentials: 'omit', cache: 'no-store'});
		} catch (e) {
			const err = new ApiError(0, 'NETWORK', '网络错误，请检查连接后重试');
			if (!o.quiet) say(err.message, 'error');
			throw err;
		}
		let env = null;
		try {
			env = await res.json();
		} catch (e) {
			env = null;
		}
		if (res.ok && env && env.success === true) return env.data;
		const message = (env && typeof env.message === 'string' && env.message) || `请求失败（HTTP ${res.status}）`;
		const err = new ApiError(res.status, env && env.code, message);
		if (res.status === 401 && path !== '/login') {
			sessionStorage.removeItem(TOKEN_KEY);
			me = null;
			loginNotice = message;
			if (location.hash !== '#/login') location.hash = '#/login';
			else route();
			throw err;
		}
		if (!o.quiet) say(message, 'error');
		throw err;
	}

	function rank(role) {
		return ROLES.indexOf(role);
	}

	/* Whether the signed-in admin's role is at least `role` (docs/admin.md's matrix). */
	function can(role) {
		return Boolean(me) && rank(me.role) >= rank(role);
	}

	/* A button of a write action, made only for the roles that may do it. */
	function writeButton(role, label, onclick, attrs) {
		if (!can(role)) return null;
		return el('button', Object.assign({type: 'button', 'data-write': role, onclick}, attrs || {}), label);
	}

	/* ------------------------------------------------------------------ dialogs */

	/*
	 * The dialog: a title, a body, and onOk (async; its truthy answer closes the dialog). An
	 * ApiError thrown by onOk is shown in the dialog (and on the result line) and keeps it
	 * open. okLabel null: no OK button (a read-only dialog).
	 */
	function dialog(title, body, onOk, okLabel) {
		const d = $('#dialog');
		$('#dialog-title').textContent = title;
		append(clear($('#dialog-body')), [body]);
		$('#dialog-error').textContent = '';
		const ok = $('#dialog-ok');
		ok.classList.toggle('hidden', okLabel === null);
		ok.textContent = okLabel || '确定';
		$('#dialog-cancel').textContent = okLabel === null ? '关闭' : '取消';
		ok.disabled = false;
		d.onsubmitok = async () => {
			if (!onOk) return d.close();
			ok.disabled = true;
			$('#dialog-error').textContent = '';
			try {
				if (await onOk()) d.close();
			} catch (e) {
				$('#dialog-error').textContent = e.message;
			} finally {
				ok.disabled = false;
			}
		};
		if (!d.open) d.showModal();
	}

	function confirmDialog(title, text, action, okLabel) {
		dialog(title, el('p', {}, text), async () => {
			await action();
			return true;
		}, okLabel || '确定');
	}

	/* ------------------------------------------------------------------ forms */

	/*
	 * A form from field descriptions: {name, label, type: text|textarea|int|bool|json|select|
	 * lines, required, min, max, maxLength, pattern, patternMsg, options, nullable, hint,
	 * check(value) → message}. read() answers the values or null after showing a message under
	 * every field in error (the server's message for what it refuses still shows on its own).
	 */
	function form(fields, values, readonly) {
		const v = values || {};
		const inputs = {};
		const rows = fields.map((f) => {
			let input;
			const cur = v[f.name];
			const id = 'f-' + f.name;
			if (f.type === 'textarea' || f.type === 'json' || f.type === 'lines') {
				let text = cur;
				if (f.type === 'json') text = cur === undefined || cur === null ? '' : JSON.stringify(cur, null, 2);
				if (f.type === 'lines') text = Array.isArray(cur) ? cur.join('\n') : '';
				input = el('textarea', {id, name: f.name, rows: f.rows || (f.type === 'json' ? 6 : 4), value: text || ''});
			} else if (f.type === 'bool') {
				input = el('input', {id, name: f.name, type: 'checkbox', checked: cur === undefined ? f.default !== false : cur});
			} else if (f.type === 'select') {
				input = el('select', {id, name: f.name}, f.options.map(([val, label]) =>
					el('option', {value: val, selected: String(cur === undefined ? f.default || '' : cur) === val}, label)));
			} else {
				input = el('input', {id, name: f.name, type: 'text', inputmode: f.type === 'int' ? 'numeric' : null,
					value: cur === undefined || cur === null ? (f.default === undefined ? '' : String(f.default)) : String(cur)});
			}
			if (readonly) input.disabled = true;
			inputs[f.name] = input;
			return el('div', {class: 'field' + (f.type === 'bool' ? ' inline' : '')},
				el('label', {for: id}, f.label, f.required ? el('span', {class: 'req'}, ' *') : null),
				input,
				f.hint ? el('small', {class: 'hint'}, f.hint) : null,
				el('small', {class: 'field-error', 'data-field': f.name}));
		});
		const node = el('div', {class: 'form'}, rows);

		function read() {
			let bad = false;
			const out = {};
			for (const f of fields) {
				const input = inputs[f.name];
				const err = node.querySelector(`.field-error[data-field="${f.name}"]`);
				err.textContent = '';
				let msg = '';
				let val;
				if (f.type === 'bool') {
					val = input.checked;
				} else if (f.type === 'int') {
					const t = input.value.trim();
					if (t === '') {
						if (f.required) msg = `请填写${f.label}`;
						else val = f.nullable ? null : undefined;
					} else if (!/^-?\d+$/.test(t)) {
						msg = `${f.label}须为整数`;
					} else {
						val = Number(t);
						if (f.min !== undefined && val < f.min) msg = `${f.label}不能小于 ${f.min}`;
						else if (f.max !== undefined && val > f.max) msg = `${f.label}不能大于 ${f.max}`;
					}
				} else if (f.type === 'json') {
					const t = input.value.trim();
					if (t === '') {
						if (f.required) msg = `请填写${f.label}`;
						else val = f.nullable ? null : undefined;
					} else {
						try {
							val = JSON.parse(t);
							if (val === null || typeof val !== 'object' || Array.isArray(val)) msg = `${f.label}须为 JSON 对象 {…}`;
						} catch (e) {
							msg = `${f.label}不是合法的 JSON：${e.message}`;
						}
					}
				} else if (f.type === 'lines') {
					val = input.value.split('\n').map((s) => s.trim()).filter((s) => s !== '');
					if (f.maxItems !== undefined && val.length > f.maxItems) msg = `${f.label}最多 ${f.maxItems} 项`;
					const long = val.find((s) => s.length > (f.maxLength || 128));
					if (!msg && long !== undefined) msg = `${f.label}中的“${long.slice(0, 20)}…”超过 ${f.maxLength || 128} 个字符`;
				} else {
					val = input.value;
					if (f.type !== 'select') val = val.trim();
					if (val === '' && f.required) msg = `请填写${f.label}`;
					else if (f.maxLength !== undefined && [...val].length > f.maxLength) msg = `${f.label}最多 ${f.maxLength} 个字符`;
					else if (val !== '' && f.pattern && !f.pattern.test(val)) msg = f.patternMsg || `${f.label}格式不正确`;
					if (val === '' && f.omitEmpty) val = undefined;
				}
				if (!msg && f.check && val !== undefined) msg = f.check(val) || '';
				if (msg) {
					err.textContent = msg;
					bad = true;
				} else if (val !== undefined) {
					out[f.name] = val;
				}
			}
			if (bad) {
				const first = node.querySelector('.field-error:not(:empty)');
				if (first) first.scrollIntoView({block: 'nearest'});
				return null;
			}
			return out;
		}
		return {node, read, inputs};
	}

	/* ------------------------------------------------------------------ lists */

	/*
	 * A paged table of an admin list route: {path, query() → filters, columns: [[label,
	 * row → node|string]], empty}. Answers {node, reload(), reset()}; reset() starts at the
	 * first page (after a filter changed), reload() reads the current page again.
	 */
	function pager(opts) {
		const cursors = [''];
		let at = 0;
		let next = null;
		const table = el('div', {class: 'table-wrap'});
		const info = el('span', {class: 'page-no'});
		const prev = el('button', {type: 'button', class: 'prev', onclick: () => { at--; load(); }}, '上一页');
		const nextBtn = el('button', {type: 'button', class: 'next', onclick: () => {
			cursors[at + 1] = next;
			at++;
			load();
		}}, '下一页');
		const node = el('div', {class: 'pager'}, table, el('div', {class: 'pages'}, prev, info, nextBtn));
		const gen = generation;

		async function load() {
			let data;
			const filter = opts.query ? opts.query() : {};
			try {
				data = await api('GET', opts.path, {query: Object.assign({}, filter, {limit: PAGE, cursor: cursors[at]})});
			} catch (e) {
				if (gen === generation && e.status !== 401) {
					clear(table).append(el('p', {class: 'error page-error'}, e.message));
					prev.disabled = at === 0;
					nextBtn.disabled = true;
				}
				return;
			}
			if (gen !== generation) return;
			// what the rows shown answer (data-query="status=paid&user=3"), for whoever waits on a filter
			node.setAttribute('data-query', new URLSearchParams(Object.entries(filter).filter(([, v]) =>
				v !== '' && v !== null && v !== undefined)).toString());
			next = data.next_cursor || null;
			const rows = data.items || [];
			clear(table).append(rows.length ? el('table', {class: 'list'},
				el('thead', {}, el('tr', {}, opts.columns.map(([label]) => el('th', {}, label)))),
				el('tbody', {}, rows.map((r) => el('tr', {'data-id': r.id !== undefined ? r.id : r.out_trade_no},
					opts.columns.map(([, cell]) => el('td', {}, cell(r)))))))
				: el('p', {class: 'empty'}, opts.empty || '没有记录'));
			prev.disabled = at === 0;
			nextBtn.disabled = !next;
			info.textContent = `第 ${at + 1} 页`;
		}
		load();
		return {
			node,
			reload: load,
			reset() {
				cursors.length = 1;
				at = 0;
				load();
			}
		};
	}

	/* A filter bar: fields as in form(), a 查询 button calling onSearch(values). */
	function filters(fields, onSearch) {
		const f = form(fields, {});
		const go = (e) => {
			if (e) e.preventDefault();
			const v = f.read();
			if (v) onSearch(v);
		};
		const node = el('form', {class: 'filters', novalidate: true, onsubmit: go}, f.node, el('button', {type: 'submit', class: 'primary'}, '查询'));
		return {node, read: f.read};
	}

	function statusTag(status, labels) {
		return el('span', {class: 'tag tag-' + status, 'data-status': status}, (labels && labels[status]) || status);
	}

	/* Whether an image URL is this host's media store (the only images the policy lets load). */
	function ownMedia(u) {
		if (!u) return false;
		try {
			const url = new URL(u, location.href);
			return url.origin === location.origin && url.pathname.startsWith('/media/');
		} catch (e) {
			return false;
		}
	}

	function link(href, text) {
		return el('a', {href}, text);
	}

	function section(title, ...children) {
		return el('section', {class: 'card'}, el('h2', {}, title), children);
	}

	function pageHead(title, ...actions) {
		return el('div', {class: 'page-head'}, el('h1', {}, title), el('div', {class: 'actions'}, actions));
	}

	function dl(pairs) {
		return el('dl', {class: 'facts'}, pairs.map(([k, v, key]) => [el('dt', {}, k), el('dd', key ? {'data-field': key} : {}, v)]));
	}

	function jsonBlock(v) {
		return el('pre', {class: 'json'}, v === undefined ? '' : JSON.stringify(v, null, 2));
	}

	/* ------------------------------------------------------------------ login */

	function showLogin() {
		$('#top').classList.add('hidden');
		clear($('#main'));
		$('#login').classList.remove('hidden');
		$('#login-error').textContent = loginNotice;
		loginNotice = '';
		$('#login-username').focus();
	}

	async function login(e) {
		e.preventDefault();
		const username = $('#login-username').value.trim();
		const password = $('#login-password').value;
		const err = $('#login-error');
		if (!username || !password) {
			err.textContent = '请输入用户名和密码';
			return;
		}
		$('#login-submit').disabled = true;
		err.textContent = '';
		try {
			const data = await api('POST', '/login', {json: {username, password}, quiet: true});
			sessionStorage.setItem(TOKEN_KEY, data.token);
			$('#login-password').value = '';
			me = null;
			location.hash = '#/dashboard';
			route();
		} catch (ex) {
			err.textContent = ex.message;
		} finally {
			$('#login-submit').disabled = false;
		}
	}

	/* ------------------------------------------------------------------ dashboard */

	const TASK_STATUS = {queued: '排队中', running: '生成中', completed: '已完成', partial: '部分完成', failed: '失败', canceled: '已取消'};
	const ITEM_STATUS = {queued: '排队中', running: '生成中', succeeded: '成功', failed: '失败', canceled: '已取消'};
	const ORDER_STATUS = {created: '待支付', paid: '已支付', partially_refunded: '部分退款', refunded: '已退款', closed: '已关闭'};
	const REFUND_STATUS = {processing: '退款中', success: '已退款', abnormal: '异常', closed: '已关闭'};

	function stat(label, value, key, sub) {
		return el('div', {class: 'stat'}, el('div', {class: 'stat-label'}, label),
			el('div', {class: 'stat-value', 'data-stat': key}, String(value)), sub ? el('div', {class: 'stat-sub'}, sub) : null);
	}

	/* The 30-day chart: revenue as bars (left axis, yuan), tasks as a line (right axis). */
	function chart(days) {
		const W = 1100;
		const H = 260;
		const L = 64;
		const R = 48;
		const T = 16;
		const B = 40;
		const n = days.length || 1;
		const step = (W - L - R) / n;
		const maxRev = Math.max(100, ...days.map((d) => d.revenue_fen || 0));
		const maxTasks = Math.max(1, ...days.map((d) => d.tasks || 0));
		const y = (v, max) => T + (H - T - B) * (1 - v / max);
		const parts = [];
		for (let i = 0; i <= 4; i++) {
			const yy = T + (H - T - B) * i / 4;
			parts.push(el('line', {x1: L, x2: W - R, y1: yy, y2: yy, class: 'grid'}));
			parts.push(el('text', {x: L - 6, y: yy + 4, class: 'axis', 'text-anchor': 'end'}, yuan(maxRev * (4 - i) / 4).replace(/\.00$/, '')));
			parts.push(el('text', {x: W - R + 6, y: yy + 4, class: 'axis'}, String(Math.round(maxTasks * (4 - i) / 4))));
		}
		days.forEach((d, i) => {
			const x = L + i * step;
			const top = y(d.revenue_fen || 0, maxRev);
			parts.push(el('rect', {x: x + step * 0.15, y: top, width: step * 0.7, height: H - B - top, class: 'bar',
				'data-day': d.day}, el('title', {}, `${d.day} 收入 ${yuan(d.revenue_fen)}，订单 ${d.orders}，任务 ${d.tasks}，新用户 ${d.new_users}`)));
			if (i % 5 === 0 || i === days.length - 1) {
				parts.push(el('text', {x: x + step / 2, y: H - B + 16, class: 'axis', 'text-anchor': 'middle'}, String(d.day).slice(5)));
			}
		});
		const pts = days.map((d, i) => `${(L + i * step + step / 2).toFixed(1)},${y(d.tasks || 0, maxTasks).toFixed(1)}`);
		parts.push(el('polyline', {points: pts.join(' '), class: 'line'}));
		days.forEach((d, i) => parts.push(el('circle', {cx: L + i * step + step / 2, cy: y(d.tasks || 0, maxTasks), r: 3, class: 'dot'})));
		return el('figure', {class: 'chart'},
			el('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': '近 30 天收入与任务数', id: 'chart'}, parts),
			el('figcaption', {}, el('span', {class: 'key key-bar'}), ' 每日收入（左轴） ', el('span', {class: 'key key-line'}), ' 每日任务数（右轴）'));
	}

	async function pageDashboard(main) {
		const s = await api('GET', '/stats');
		const created = s.tasks.created_today || {};
		const createdSum = Object.values(created).reduce((a, b) => a + b, 0);
		const c = s.credits_today;
		append(main, [
			pageHead(`概览 · ${s.day}`, el('button', {type: 'button', onclick: () => route()}, '刷新')),
			el('div', {class: 'stats'},
				stat('用户总数', s.users.total, 'users.total'),
				stat('今日新用户', s.users.new_today, 'users.new_today'),
				stat('今日活跃', s.users.dau, 'users.dau'),
				stat('今日订单', s.orders_today.orders, 'orders_today.orders'),
				stat('今日收入', yuan(s.orders_today.revenue_fen), 'orders_today.revenue_fen'),
				stat('今日任务', createdSum, 'tasks.created_today', Object.entries(created).map(([k, v]) => `${TASK_STATUS[k] || k} ${v}`).join('，')),
				stat('进行中任务', s.tasks.open.queued + s.tasks.open.running, 'tasks.open',
					`排队 ${s.tasks.open.queued}，生成中 ${s.tasks.open.running}`),
				stat('队列深度', s.queue.depth, 'queue.depth', `到期 ${s.queue.due}，运行 ${s.queue.running}` +
					(s.queue.oldest_queued_seconds === null ? '' : `，最久 ${s.queue.oldest_queued_seconds} 秒`)),
				stat('今日发放积分', c.issued, 'credits_today.issued'),
				stat('今日消耗积分', c.spent, 'credits_today.spent'),
				stat('今日退回积分', c.refunded, 'credits_today.refunded'),
				stat('今日扣回积分', c.taken_back, 'credits_today.taken_back')),
			section('近 30 天', chart(s.by_day || [])),
			section('AI 服务（近 24 小时）', (s.providers || []).length ? el('table', {class: 'list'},
				el('thead', {}, el('tr', {}, ['模型', '成功', '失败', '成功率', 'P95 耗时'].map((h) => el('th', {}, h)))),
				el('tbody', {}, s.providers.map((p) => el('tr', {},
					el('td', {}, p.name || (p.ai_model_id === null ? '（未知）' : `#${p.ai_model_id}`)),
					el('td', {}, String(p.succeeded)), el('td', {}, String(p.failed)),
					el('td', {}, (p.success_rate * 100).toFixed(1) + '%'),
					el('td', {}, p.p95_ms === null ? '—' : `${p.p95_ms} ms`)))))
				: el('p', {class: 'empty'}, '近 24 小时没有生成记录'))
		]);
	}

	/* ------------------------------------------------------------------ users */

	function pageUsers(main) {
		let q = '';
		const list = pager({
			path: '/users',
			query: () => ({q}),
			empty: '没有找到用户',
			columns: [
				['ID', (u) => link(`#/users/${u.id}`, String(u.id))],
				['昵称', (u) => link(`#/users/${u.id}`, u.nickname || '（无昵称）')],
				['积分', (u) => String(u.credits)],
				['状态', (u) => statusTag(u.status, {active: '正常', disabled: '已禁用'})],
				['邀请码', (u) => u.invite_code],
				['注册时间', (u) => when(u.created_at)]
			]
		});
		const f = filters([{name: 'q', label: '搜索', maxLength: 128,
			hint: 'ID、邀请码、openid、unionid 或昵称的一部分'}], (v) => {
			q = v.q || '';
			list.reset();
		});
		append(main, [pageHead('用户'), f.node, list.node]);
	}

	async function pageUser(main, id) {
		const d = await api('GET', `/users/${encodeURIComponent(id)}`);
		const u = d.user;
		const balance = el('span', {id: 'user-credits'}, String(u.credits));
		let key = newKey();
		let lastBody = '';
		const credit = form([
			{name: 'delta', label: '调整积分', type: 'int', required: true, min: -10000000, max: 10000000,
				check: (v) => (v === 0 ? '调整积分不能为 0' : ''), hint: '正数发放，负数扣减'},
			{name: 'memo', label: '原因', required: true, maxLength: 256}
		]);
		const creditForm = can('support') ? el('form', {id: 'credit-form', novalidate: true, 'data-write': 'support', onsubmit: async (e) => {
			e.preventDefault();
			const body = credit.read();
			if (!body) return;
			const text = JSON.stringify(body);
			if (lastBody && text !== lastBody) key = newKey(); // as refundDialog's key
			lastBody = text;
			try {
				const r = await api('POST', `/users/${u.id}/credits`, {json: body, headers: {'Idempotency-Key': key}});
				balance.textContent = String(r.credits);
				say(`${r.replayed ? '（重复提交，未再次调整）' : ''}已调整 ${r.delta > 0 ? '+' : ''}${r.delta} 积分，当前余额 ${r.credits}`);
				route(); // the ledger with the new row
			} catch (ex) {
				/* the result line shows the message */
			}
		}}, credit.node, el('button', {type: 'submit', class: 'primary', id: 'credit-submit'}, '调整积分')) : null;

		const next = u.status === 'active' ? 'disabled' : 'active';
		const statusBtn = writeButton('operator', u.status === 'active' ? '禁用用户' : '启用用户', () =>
			confirmDialog(u.status === 'active' ? '禁用用户' : '启用用户',
				u.status === 'active' ? `禁用后用户 ${u.nickname || u.id} 的所有请求都会被拒绝。确定禁用？` : `确定重新启用用户 ${u.nickname || u.id}？`,
				async () => {
					const r = await api('POST', `/users/${u.id}/status`, {json: {status: next}});
					say(r.status === 'disabled' ? `已禁用用户 ${r.id}` : `已启用用户 ${r.id}`);
					route();
				}), {id: 'user-status', class: u.status === 'active' ? 'danger' : ''});

		const small = (rows, columns, empty) => (rows.length ? el('table', {class: 'list'},
			el('thead', {}, el('tr', {}, columns.map(([h]) => el('th', {}, h)))),
			el('tbody', {}, rows.map((r) => el('tr', {}, columns.map(([, f]) => el('td', {}, f(r)))))))
			: el('p', {class: 'empty'}, empty));

		append(main, [
			pageHead(`用户 ${u.id} · ${u.nickname || '（无昵称）'}`, link('#/users', '返回列表'), statusBtn),
			el('div', {class: 'cols'},
				section('资料', dl([
					['ID', String(u.id)], ['昵称', u.nickname || '—'], ['积分', balance],
					['状态', statusTag(u.status, {active: '正常', disabled: '已禁用'}), 'status'],
					['邀请码', u.invite_code], ['邀请人', u.invited_by ? link(`#/users/${u.invited_by}`, String(u.invited_by)) : '—'],
					['连续签到', `${u.checkin_streak || 0} 天（最近 ${u.last_checkin_day || '—'}）`],
					['注册时间', when(u.created_at)]
				])),
				creditForm ? section('调整积分', creditForm,
					can('operator') ? null : el('p', {class: 'hint'}, '客服每次最多调整的积分有上限，超出时请联系运营。')) : null),
			section('微信身份', small(d.identities, [['类型', (i) => (i.app_kind === 'mp' ? '小程序' : '公众号')], ['openid', (i) => i.openid || '—'],
				['unionid', (i) => i.unionid || '—'], ['appid', (i) => i.appid || '—'], ['绑定时间', (i) => when(i.created_at)]], '没有微信身份')),
			section('积分流水（最近 20 条）', small(d.ledger, [['时间', (r) => when(r.created_at)], ['类型', (r) => r.kind],
				['变动', (r) => (r.delta > 0 ? '+' : '') + r.delta], ['余额', (r) => String(r.balance_after)],
				['说明', (r) => r.memo || r.reference || '—']], '没有积分流水')),
			section('订单（最近 20 条）', small(d.orders, [['订单号', (o) => o.out_trade_no], ['金额', (o) => yuan(o.amount_fen)],
				['积分', (o) => String(o.credits)], ['状态', (o) => statusTag(o.status, ORDER_STATUS)], ['创建时间', (o) => when(o.created_at)]], '没有订单')),
			section('任务（最近 20 条）', small(d.tasks, [['ID', (t) => link(`#/tasks?user=${u.id}`, String(t.id))], ['类型', (t) => t.type],
				['状态', (t) => statusTag(t.status, TASK_STATUS)], ['张数', (t) => `${t.done}/${t.count}`], ['创建时间', (t) => when(t.created_at)]], '没有任务'))
		]);
	}

	/* ------------------------------------------------------------------ orders */

	function refundDialog(o, list) {
		// one key per body: the same request again (a double click, a retry after a network
		// error) replays; a changed body (another amount or if_spent) is a new request
		let key = newKey();
		let lastBody = '';
		const left = o.amount_fen - (o.refunded_fen || 0);
		const f = form([
			{name: 'amount_fen', label: '退款金额（分）', type: 'int', min: 1, max: left, hint: `留空则退剩余的 ${left} 分（${yuan(left)}）`},
			{name: 'reason', label: '退款原因', required: true, maxLength: 80},
			{name: 'if_spent', label: '积分已被使用时', type: 'select', default: 'refuse',
				options: [['refuse', '拒绝退款'], ['take_remaining', '扣回剩余积分后退款']]}
		]);
		dialog(`退款 · ${o.out_trade_no}`, [el('p', {}, `订单金额 ${yuan(o.amount_fen)}，已退 ${yuan(o.refunded_fen || 0)}，积分 ${o.credits}`), f.node],
			async () => {
				const body = f.read();
				if (!body) return false;
				if (lastBody && JSON.stringify(body) !== lastBody) key = newKey();
				lastBody = JSON.stringify(body);
				const r = await api('POST', `/orders/${encodeURIComponent(o.out_trade_no)}/refunds`,
					{json: body, headers: {'Idempotency-Key': key}});
				const rf = r.refund || r;
				say(`退款 ${rf.out_refund_no}：${yuan(rf.amount_fen)}，${REFUND_STATUS[rf.status] || rf.status}`);
				list.reload();
				return true;
			}, '提交退款');
	}

	async function refundsDialog(o) {
		const r = await api('GET', `/orders/${encodeURIComponent(o.out_trade_no)}/refunds`);
		const items = r.items || [];
		dialog(`退款记录 · ${o.out_trade_no}`, items.length ? el('table', {class: 'list'},
			el('thead', {}, el('tr', {}, ['退款单号', '金额', '积分', '状态', '原因', '管理员', '时间'].map((h) => el('th', {}, h)))),
			el('tbody', {}, items.map((x) => el('tr', {}, el('td', {}, x.out_refund_no), el('td', {}, yuan(x.amount_fen)),
				el('td', {}, String(x.credits)), el('td', {}, statusTag(x.status, REFUND_STATUS)), el('td', {}, x.reason),
				el('td', {}, String(x.admin_id)), el('td', {}, when(x.created_at)))))) : el('p', {class: 'empty'}, '没有退款记录'), null, null);
	}

	function pageOrders(main, arg, params) {
		let q = {status: params.get('status') || '', user: params.get('user') || ''};
		const list = pager({
			path: '/orders',
			query: () => q,
			empty: '没有订单',
			columns: [
				['订单号', (o) => o.out_trade_no],
				['用户', (o) => link(`#/users/${o.user_id}`, String(o.user_id))],
				['商品', (o) => o.description],
				['金额', (o) => yuan(o.amount_fen)],
				['积分', (o) => String(o.credits)],
				['状态', (o) => statusTag(o.status, ORDER_STATUS)],
				['微信支付', (o) => o.trade_state || '—'],
				['已退款', (o) => (o.refunded_fen ? yuan(o.refunded_fen) : '—')],
				['支付时间', (o) => when(o.paid_at)],
				['', (o) => el('span', {class: 'row-actions'},
					['paid', 'partially_refunded'].includes(o.status)
						? writeButton('operator', '退款', () => refundDialog(o, list), {class: 'refund'}) : null,
					['paid', 'partially_refunded', 'refunded'].includes(o.status)
						? el('button', {type: 'button', class: 'refunds', onclick: () => refundsDialog(o).catch(() => {})}, '退款记录') : null)]
			]
		});
		const f = filters([
			{name: 'status', label: '状态', type: 'select', default: q.status,
				options: [['', '全部'], ...Object.entries(ORDER_STATUS)]},
			{name: 'user', label: '用户 ID', type: 'int', min: 1, default: q.user}
		], (v) => {
			q = {status: v.status, user: v.user === undefined || v.user === null ? '' : v.user};
			list.reset();
		});
		append(main, [pageHead('订单'), f.node, list.node]);
	}

	/* ------------------------------------------------------------------ tasks */

	async function taskDialog(id) {
		const t = await api('GET', `/tasks/${id}`);
		dialog(`任务 ${t.id}`, [
			dl([['用户', link(`#/users/${t.user_id}`, String(t.user_id))], ['类型', t.type], ['状态', statusTag(t.status, TASK_STATUS)],
				['张数', `完成 ${t.done}，失败 ${t.failed}，取消 ${t.canceled}，共 ${t.count}`],
				['积分', `扣 ${t.credits_charged}，退 ${t.credits_refunded}`], ['创建', when(t.created_at)], ['结束', when(t.finished_at)]]),
			el('h3', {}, '提示词'), el('pre', {class: 'json'}, t.prompt || ''),
			el('h3', {}, '各张'), el('table', {class: 'list'},
				el('thead', {}, el('tr', {}, ['ID', '状态', '尝试', '模型', '错误'].map((h) => el('th', {}, h)))),
				el('tbody', {}, (t.items || []).map((i) => el('tr', {}, el('td', {}, String(i.id)), el('td', {}, statusTag(i.status, ITEM_STATUS)),
					el('td', {}, `${i.attempt}/${i.max_attempts}`), el('td', {}, i.ai_model_id === null ? '—' : String(i.ai_model_id)),
					el('td', {}, i.error_code ? `${i.error_code}${i.error ? '：' + i.error : ''}` : '—')))))
		], null, null);
	}

	function pageTasks(main, arg, params) {
		let q = {status: params.get('status') || '', type: '', user: params.get('user') || '', model: ''};
		const list = pager({
			path: '/tasks',
			query: () => q,
			empty: '没有任务',
			columns: [
				['ID', (t) => el('button', {type: 'button', class: 'link', onclick: () => taskDialog(t.id).catch(() => {})}, String(t.id))],
				['用户', (t) => link(`#/users/${t.user_id}`, String(t.user_id))],
				['类型', (t) => (t.type === 'fitting' ? '试衣' : '写真')],
				['状态', (t) => statusTag(t.status, TASK_STATUS)],
				['进度', (t) => `完成 ${t.done} / 失败 ${t.failed} / 取消 ${t.canceled} / 共 ${t.count}`],
				['积分', (t) => `${t.credits_charged}（退 ${t.credits_refunded}）`],
				['错误', (t) => [...new Set((t.items || []).filter((i) => i.error_code).map((i) => i.error_code))].join('，') || '—'],
				['创建时间', (t) => when(t.created_at)],
				['', (t) => el('span', {class: 'row-actions'},
					t.failed > 0 ? writeButton('operator', '重试', async () => {
						try {
							const r = await api('POST', `/tasks/${t.id}/retry`);
							say(`任务 ${t.id} 已重新排队 ${r.requeued} 张`);
							list.reload();
						} catch (e) { /* shown */ }
					}, {class: 'retry'}) : null,
					['queued', 'running'].includes(t.status) ? writeButton('operator', '取消', () =>
						confirmDialog(`取消任务 ${t.id}`, '排队中的各张将被取消，其积分退还给用户。确定取消？', async () => {
							const r = await api('POST', `/tasks/${t.id}/cancel`);
							say(r.canceled ? `任务 ${t.id} 已取消 ${r.canceled} 张` : `任务 ${t.id} 没有可取消的排队项`);
							list.reload();
						}), {class: 'cancel danger'}) : null)]
			]
		});
		const f = filters([
			{name: 'status', label: '状态', type: 'select', default: q.status, options: [['', '全部'], ...Object.entries(TASK_STATUS)]},
			{name: 'type', label: '类型', type: 'select', options: [['', '全部'], ['photography', '写真'], ['fitting', '试衣']]},
			{name: 'user', label: '用户 ID', type: 'int', min: 1, default: q.user},
			{name: 'model', label: '模型 ID', type: 'int', min: 1}
		], (v) => {
			q = {status: v.status, type: v.type, user: v.user === null || v.user === undefined ? '' : v.user,
				model: v.model === null || v.model === undefined ? '' : v.model};
			list.reset();
		});
		const auto = el('input', {type: 'checkbox', id: 'auto-refresh', checked: true});
		timers.push(setInterval(() => {
			if (auto.checked && !$('#dialog').open) list.reload();
		}, TASK_REFRESH_MS));
		append(main, [pageHead('任务监控', el('label', {class: 'inline'}, auto, ` 每 ${TASK_REFRESH_MS / 1000} 秒自动刷新`),
			el('button', {type: 'button', onclick: () => list.reload()}, '刷新')), f.node, list.node]);
	}

	/* ------------------------------------------------------------------ the catalogue */

	const URLISH = /^(https?:\/\/\S+|\/media\/\S+)$/;
	const CATALOG = {
		scenes: {
			title: '场景', path: '/scenes',
			fields: [
				{name: 'name', label: '名称', required: true, maxLength: 64},
				{name: 'category', label: '分类', maxLength: 32},
				{name: 'description', label: '描述', type: 'textarea', maxLength: 1000},
				{name: 'thumbnail_url', label: '缩略图地址', maxLength: 1024, pattern: URLISH,
					patternMsg: '缩略图地址须为 http(s) 地址或 /media/ 路径', hint: '也可保存后用“上传缩略图”上传图片'},
				{name: 'parameters', label: '参数（JSON）', type: 'json', check: (v) => (JSON.stringify(v).length > 16384 ? '参数最多 16 KiB' : '')},
				{name: 'sort_order', label: '排序', type: 'int', min: -1000000, max: 1000000, default: 0},
				{name: 'active', label: '上架', type: 'bool'}
			],
			columns: [
				['缩略图', (s) => (ownMedia(s.thumbnail_url) ? el('img', {src: s.thumbnail_url, alt: '', class: 'thumb'}) : (s.thumbnail_url ? '外部图片' : '—'))],
				['名称', (s) => s.name], ['分类', (s) => s.category || '—'], ['排序', (s) => String(s.sort_order)],
				['状态', (s) => statusTag(s.active ? 'active' : 'inactive', {active: '上架', inactive: '下架'})],
				['更新时间', (s) => when(s.updated_at)]
			],
			extra: (s, list) => [writeButton('operator', '上传缩略图', () => thumbnailDialog(s, list), {class: 'thumbnail'})],
			deleteLabel: '下架'
		},
		packages: {
			title: '套餐', path: '/packages',
			fields: [
				{name: 'name', label: '名称', required: true, maxLength: 64},
				{name: 'price_fen', label: '价格（分）', type: 'int', required: true, min: 1, max: 100000000},
				{name: 'credits', label: '积分', type: 'int', required: true, min: 1, max: 100000000},
				{name: 'bonus_credits', label: '赠送积分', type: 'int', min: 0, max: 100000000, default: 0},
				{name: 'sort_order', label: '排序', type: 'int', min: -1000000, max: 1000000, default: 0},
				{name: 'active', label: '上架', type: 'bool'}
			],
			columns: [
				['名称', (p) => p.name], ['价格', (p) => yuan(p.price_fen)], ['积分', (p) => `${p.credits} + 赠 ${p.bonus_credits}`],
				['排序', (p) => String(p.sort_order)], ['状态', (p) => statusTag(p.active ? 'active' : 'inactive', {active: '上架', inactive: '下架'})],
				['更新时间', (p) => when(p.updated_at)]
			],
			deleteLabel: '下架'
		},
		templates: {
			title: '提示词模板', path: '/prompt-templates',
			fields: [
				{name: 'name', label: '名称', required: true, maxLength: 64},
				{name: 'type', label: '类型', type: 'select', options: [['photography', '写真'], ['fitting', '试衣']], default: 'photography'},
				{name: 'scene_id', label: '场景 ID', type: 'int', min: 1, nullable: true, hint: '留空：该类型的通用模板'},
				{name: 'template', label: '模板', type: 'textarea', required: true, maxLength: 4000, rows: 6, hint: '可用 {{name}} 占位'},
				{name: 'negative_prompt', label: '反向提示词', type: 'textarea', maxLength: 4000},
				{name: 'active', label: '启用', type: 'bool'}
			],
			columns: [
				['名称', (t) => t.name], ['类型', (t) => (t.type === 'fitting' ? '试衣' : '写真')],
				['场景', (t) => (t.scene_id === null ? '通用' : String(t.scene_id))],
				['模板', (t) => el('span', {class: 'clip'}, t.template)],
				['状态', (t) => statusTag(t.active ? 'active' : 'inactive', {active: '启用', inactive: '停用'})],
				['更新时间', (t) => when(t.updated_at)]
			],
			extra: (t) => [el('button', {type: 'button', class: 'preview', onclick: () => previewDialog(t)}, '预览')],
			deleteLabel: '删除'
		},
		models: {
			title: 'AI 模型', path: '/ai-models',
			fields: [
				{name: 'name', label: '名称', required: true, maxLength: 64},
				{name: 'provider', label: '服务商', type: 'select', options: [['openai', 'OpenAI（同步）'], ['dashscope', 'DashScope（异步）']], default: 'openai'},
				{name: 'kind', label: '用途', type: 'select', options: [['photography', '写真'], ['fitting', '试衣']], default: 'photography'},
				{name: 'endpoint', label: '接口地址', required: true, maxLength: 1024, pattern: /^https?:\/\/\S+$/, patternMsg: '接口地址须为 http(s) 地址'},
				{name: 'api_key_env', label: '密钥环境变量名', required: true, maxLength: 128, pattern: /^[A-Z_][A-Z0-9_]*$/,
					patternMsg: '只能是大写字母、数字和下划线，且不以数字开头', hint: '填变量名，不填密钥本身'},
				{name: 'model', label: '模型名', required: true, maxLength: 128},
				{name: 'priority', label: '优先级', type: 'int', min: 0, max: 1000000, default: 100},
				{name: 'weight', label: '权重', type: 'int', min: 1, max: 1000000, default: 1},
				{name: 'timeout_ms', label: '超时（毫秒）', type: 'int', min: 1000, max: 600000, default: 60000},
				{name: 'poll_interval_ms', label: '轮询间隔（毫秒）', type: 'int', min: 100, max: 60000, default: 2000},
				{name: 'options', label: '请求参数（JSON）', type: 'json', check: (v) => (JSON.stringify(v).length > 8192 ? '请求参数最多 8 KiB' : '')},
				{name: 'active', label: '启用', type: 'bool'}
			],
			columns: [
				['名称', (m) => m.name], ['服务商', (m) => `${m.provider}（${m.mode}）`], ['用途', (m) => (m.kind === 'fitting' ? '试衣' : '写真')],
				['模型', (m) => m.model], ['优先级/权重', (m) => `${m.priority} / ${m.weight}`],
				['密钥', (m) => (m.api_key_set ? `${m.api_key_env}（已配置）` : `${m.api_key_env}（未配置）`)],
				['状态', (m) => statusTag(m.active ? 'active' : 'inactive', {active: '启用', inactive: '停用'})]
			],
			extra: (m) => [writeButton('operator', '测试', () => modelTestDialog(m), {class: 'test'})],
			deleteLabel: '删除'
		}
	};

	function thumbnailDialog(s, list) {
		const input = el('input', {type: 'file', id: 'thumbnail-file', accept: 'image/jpeg,image/png,image/webp'});
		dialog(`上传缩略图 · ${s.name}`, [el('p', {}, 'JPEG、PNG 或 WebP，最大 10 MB。'), input], async () => {
			const file = input.files && input.files[0];
			if (!file) throw new Error('请选择图片');
			if (file.size > 10 * 1024 * 1024) throw new Error('图片不能超过 10 MB');
			const fd = new FormData();
			fd.append('file', file);
			const r = await api('POST', `/scenes/${s.id}/thumbnail`, {body: fd});
			say(`场景“${r.name}”的缩略图已更新`);
			list.reload();
			return true;
		}, '上传');
	}

	function previewDialog(t) {
		const f = form([
			{name: 'scene_id', label: '场景 ID', type: 'int', min: 1, hint: '留空：模板自己的场景'},
			{name: 'params', label: '参数（JSON）', type: 'json'}
		]);
		const out = el('div', {id: 'preview-out'});
		dialog(`预览 · ${t.name}`, [f.node, out], async () => {
			const body = f.read();
			if (!body) return false;
			const r = await api('POST', `/prompt-templates/${t.id}/preview`, {json: body});
			append(clear(out), [el('h3', {}, '提示词'), el('pre', {class: 'json'}, r.prompt),
				el('h3', {}, '反向提示词'), el('pre', {class: 'json'}, r.negative_prompt || '—'),
				el('p', {}, r.chosen ? '该类型此场景的任务现在会选用这个模板。' : '该类型此场景的任务现在不会选用这个模板。')]);
			return false;
		}, '预览');
	}

	function modelTestDialog(m) {
		const f = form([{name: 'prompt', label: '提示词', maxLength: 1000, omitEmpty: true, hint: '留空用默认提示词；每次测试会产生服务商费用'}]);
		const out = el('div', {id: 'test-out'});
		dialog(`测试模型 · ${m.name}`, [f.node, out], async () => {
			const body = f.read();
			if (!body) return false;
			const r = await api('POST', `/ai-models/${m.id}/test`, {json: body});
			const OUT = {succeeded: '成功', pending: '仍在生成', retryable: '可重试的失败', failed: '失败', not_configured: '未配置'};
			say(`模型 ${m.name} 测试结果：${OUT[r.outcome] || r.outcome}`, r.outcome === 'succeeded' ? 'ok' : 'error');
			append(clear(out), [dl([['结果', statusTag(r.outcome, OUT)], ['代码', r.code || '—'], ['说明', r.message || '—'],
				['HTTP', r.http_status === null ? '—' : String(r.http_status)], ['耗时', `${r.duration_ms} ms，轮询 ${r.polls} 次`]]),
			ownMedia(r.image_url) ? el('img', {src: r.image_url, alt: '测试图片', class: 'preview-img'}) : null]);
			return false;
		}, '开始测试');
	}

	function pageCatalog(kind) {
		return function (main) {
			const c = CATALOG[kind];
			let list;
			const edit = (row) => {
				const readonly = !can('operator');
				const f = form(c.fields, row || {}, readonly);
				dialog(row ? `${readonly ? '查看' : '编辑'}${c.title} · ${row.name}` : `新建${c.title}`, f.node, readonly ? null : async () => {
					const body = f.read();
					if (!body) return false;
					const r = row ? await api('PUT', `${c.path}/${row.id}`, {json: body}) : await api('POST', c.path, {json: body});
					say(`${c.title}“${r.name}”已${row ? '保存' : '创建'}`);
					list.reload();
					return true;
				}, readonly ? null : '保存');
			};
			list = pager({
				path: c.path,
				empty: `没有${c.title}`,
				columns: [['ID', (r) => String(r.id)], ...c.columns, ['', (r) => el('span', {class: 'row-actions'},
					el('button', {type: 'button', class: 'edit', onclick: () => edit(r), 'data-write': can('operator') ? 'operator' : null},
						can('operator') ? '编辑' : '查看'),
					c.extra ? c.extra(r, list) : null,
					r.active !== false ? writeButton('operator', c.deleteLabel, () => confirmDialog(`${c.deleteLabel}${c.title}`,
						`确定${c.deleteLabel}“${r.name}”？`, async () => {
							await api('DELETE', `${c.path}/${r.id}`);
							say(`${c.title}“${r.name}”已${c.deleteLabel}`);
							list.reload();
						}), {class: 'delete danger'}) : null)]]
			});
			append(main, [pageHead(c.title, writeButton('operator', `新建${c.title}`, () => edit(null), {id: 'create', class: 'primary'})), list.node]);
		};
	}

	/* ------------------------------------------------------------------ config and gray release */

	const CONFIG_LABEL = {pricing: '价格（每张积分）', checkin: '签到', invite: '邀请', notify: '通知', backend_config: '后端与灰度', content_check: '内容安全'};

	async function pageConfig(main) {
		const data = await api('GET', '/config');
		append(main, [pageHead('配置')]);
		for (const item of data.items) {
			if (item.key === 'backend_config') {
				append(main, [section(`${CONFIG_LABEL[item.key]}（${item.key}）`, el('p', {}, '在', link('#/gray', '灰度发布'), '页修改。'))]);
				continue;
			}
			const f = form([{name: 'value', label: '内容（JSON）', type: 'json', required: true, rows: 8}], {value: item.value}, !can('operator'));
			const meta = el('p', {class: 'hint'}, `最后修改：${when(item.updated_at)}${item.updated_by ? `，管理员 ${item.updated_by}` : ''}`);
			const save = writeButton('operator', '保存', async () => {
				const v = f.read();
				if (!v) return;
				try {
					const r = await api('PUT', `/config/${item.key}`, {json: v.value});
					say(`配置 ${item.key} 已保存`);
					meta.textContent = `最后修改：${when(r.updated_at)}${r.updated_by ? `，管理员 ${r.updated_by}` : ''}`;
				} catch (e) { /* shown */ }
			}, {class: 'primary', 'data-key': item.key});
			append(main, [el('section', {class: 'card', 'data-config': item.key}, el('h2', {}, `${CONFIG_LABEL[item.key] || item.key}（${item.key}）`),
				f.node, meta, save)]);
		}
	}

	const GRAY_DEFAULT = {backend_type: 'cloud', server_url: '', gray_release: false, gray_percent: 0, white_list: [], black_list: []};

	async function pageGray(main) {
		const item = await api('GET', '/config/backend_config');
		const cur = Object.assign({}, GRAY_DEFAULT, item.value || {});
		const ro = !can('operator');
		const f = form([
			{name: 'backend_type', label: '默认后端', type: 'select', options: [['cloud', '云开发（cloud）'], ['server', '服务器（server）'], ['auto', '自动（auto，按 cloud 处理）']],
				hint: '灰度关闭时所有人走这里；灰度期间请保持 cloud（与小程序适配层一致）'},
			{name: 'server_url', label: '服务器地址', maxLength: 1024, pattern: /^https?:\/\/\S+[^/]$/, patternMsg: '须为 https 地址，末尾不带 /'},
			{name: 'gray_release', label: '开启灰度', type: 'bool'},
			{name: 'gray_percent', label: '灰度比例（%）', type: 'int', required: true, min: 0, max: 100},
			{name: 'white_list', label: '白名单 openid（每行一个）', type: 'lines', maxItems: 10000, maxLength: 128},
			{name: 'black_list', label: '黑名单 openid（每行一个）', type: 'lines', maxItems: 10000, maxLength: 128}
		], cur, ro);
		const summary = () => (cur.gray_release ? `灰度开启：${cur.gray_percent}% 的 openid 与白名单走服务器，黑名单走云开发`
			: `灰度关闭：所有人走${cur.backend_type === 'server' ? '服务器' : '云开发'}`);
		const state = el('p', {id: 'gray-state', class: 'state'}, summary());
		const put = async (value, done) => {
			const r = await api('PUT', '/config/backend_config', {json: value});
			Object.assign(cur, r.value);
			say(done);
			route();
		};
		append(main, [
			pageHead('灰度发布', writeButton('operator', '回滚：全部切回云开发', () => confirmDialog('回滚',
				'关闭灰度，所有用户立即切回云开发（名单与比例保留）。确定回滚？', () =>
					put(Object.assign({}, cur, {backend_type: 'cloud', gray_release: false}), '已回滚：所有用户走云开发')),
			{id: 'rollback', class: 'danger'})),
			section('当前状态', state, el('p', {class: 'hint'}, `最后修改：${when(item.updated_at)}`)),
			section('设置', f.node, writeButton('operator', '保存', async () => {
				const v = f.read();
				if (!v) return;
				if (v.server_url === undefined) v.server_url = '';
				try {
					await put(Object.assign({}, v), '灰度设置已保存');
				} catch (e) { /* shown */ }
			}, {id: 'gray-save', class: 'primary'}))
		]);
	}

	/* ------------------------------------------------------------------ audit and admins */

	function pageAudit(main) {
		let q = {};
		const list = pager({
			path: '/audit',
			query: () => q,
			empty: '没有审计记录',
			columns: [
				['时间', (a) => when(a.created_at)], ['管理员', (a) => `${a.actor}${a.admin_id ? `（${a.admin_id}）` : ''}`],
				['操作', (a) => a.action], ['对象', (a) => `${a.target_type} ${a.target_id || ''}`],
				['地址', (a) => a.address || '—'], ['请求', (a) => a.request_id || '—'],
				['变更', (a) => el('details', {}, el('summary', {}, '前后对比'), el('div', {class: 'diff'},
					el('div', {}, el('h4', {}, '之前'), jsonBlock(a.before)), el('div', {}, el('h4', {}, '之后'), jsonBlock(a.after))))]
			]
		});
		const f = filters([
			{name: 'admin', label: '管理员 ID', type: 'int', min: 1},
			{name: 'action', label: '操作', maxLength: 64, hint: '如 user.credits'},
			{name: 'target_type', label: '对象类型', maxLength: 32, hint: '如 user、scene、task'},
			{name: 'target_id', label: '对象 ID', maxLength: 128}
		], (v) => {
			q = v;
			list.reset();
		});
		append(main, [pageHead('审计日志'), f.node, list.node]);
	}

	const ROLE_LABEL = {viewer: '只读（viewer）', support: '客服（support）', operator: '运营（operator）', owner: '所有者（owner）'};

	function pageAdmins(main) {
		let list;
		const roleField = {name: 'role', label: '角色', type: 'select', options: Object.entries(ROLE_LABEL), default: 'viewer'};
		const create = () => {
			const f = form([
				{name: 'username', label: '用户名', required: true, maxLength: 64, pattern: /^[A-Za-z0-9_.@-]+$/, patternMsg: '用户名只能包含字母、数字和 _ . @ -'},
				{name: 'password', label: '初始密码', required: true, maxLength: 256, check: (v) => (v.length < 8 ? '密码至少 8 个字符' : '')},
				roleField
			]);
			dialog('新建管理员', f.node, async () => {
				const body = f.read();
				if (!body) return false;
				const r = await api('POST', '/admins', {json: body});
				say(`管理员 ${r.username} 已创建`);
				list.reload();
				return true;
			}, '创建');
		};
		const edit = (a) => {
			const f = form([roleField, {name: 'disabled', label: '停用', type: 'bool', default: false}], a);
			dialog(`修改管理员 · ${a.username}`, [f.node, el('p', {class: 'hint'}, '修改角色或停用会让此人立即退出登录。')], async () => {
				const body = f.read();
				if (!body) return false;
				const r = await api('PUT', `/admins/${a.id}`, {json: body});
				say(`管理员 ${r.username} 已修改`);
				list.reload();
				return true;
			}, '保存');
		};
		list = pager({
			path: '/admins',
			empty: '没有管理员',
			columns: [['ID', (a) => String(a.id)], ['用户名', (a) => a.username], ['角色', (a) => ROLE_LABEL[a.role] || a.role],
				['状态', (a) => statusTag(a.disabled ? 'disabled' : 'active', {active: '正常', disabled: '已停用'})],
				['最近登录', (a) => when(a.last_login_at)], ['创建时间', (a) => when(a.created_at)],
				['', (a) => writeButton('owner', '修改', () => edit(a), {class: 'edit'})]]
		});
		append(main, [pageHead('管理员', writeButton('owner', '新建管理员', create, {id: 'create', class: 'primary'})), list.node]);
	}

	function changePassword() {
		const f = form([
			{name: 'current_password', label: '当前密码', required: true, maxLength: 256},
			{name: 'new_password', label: '新密码', required: true, maxLength: 256, check: (v) => (v.length < 8 ? '新密码至少 8 个字符' : '')}
		]);
		for (const i of Object.values(f.inputs)) i.type = 'password';
		dialog('修改密码', f.node, async () => {
			const body = f.read();
			if (!body) return false;
			const r = await api('POST', '/password', {json: body});
			sessionStorage.setItem(TOKEN_KEY, r.token);
			say('密码已修改，其他登录已失效');
			return true;
		}, '修改');
	}

	/* ------------------------------------------------------------------ the router */

	const PAGES = {
		dashboard: {render: pageDashboard},
		users: {render: (main, arg) => (arg ? pageUser(main, arg) : pageUsers(main))},
		orders: {render: pageOrders},
		tasks: {render: pageTasks},
		scenes: {render: pageCatalog('scenes')},
		packages: {render: pageCatalog('packages')},
		templates: {render: pageCatalog('templates')},
		models: {render: pageCatalog('models')},
		config: {render: pageConfig},
		gray: {render: pageGray},
		audit: {render: pageAudit, role: 'operator'},
		admins: {render: pageAdmins, role: 'owner'}
	};

	async function route() {
		generation++;
		const gen = generation;
		for (const t of timers) clearInterval(t);
		timers = [];
		const d = $('#dialog');
		if (d.open) d.close();
		const hash = location.hash.replace(/^#\/?/, '');
		const [pathPart, queryPart] = hash.split('?');
		const [name, arg] = pathPart.split('/');
		const params = new URLSearchParams(queryPart || '');
		if (!sessionStorage.getItem(TOKEN_KEY) || name === 'login') {
			if (sessionStorage.getItem(TOKEN_KEY) && name === 'login') sessionStorage.removeItem(TOKEN_KEY);
			me = null;
			showLogin();
			return;
		}
		$('#login').classList.add('hidden');
		if (!me) {
			try {
				me = await api('GET', '/me');
			} catch (e) {
				return;
			}
			if (gen !== generation) return;
		}
		$('#top').classList.remove('hidden');
		$('#me').textContent = `${me.username} · ${ROLE_LABEL[me.role] || me.role}`;
		$('#me').setAttribute('data-role', me.role);
		for (const a of document.querySelectorAll('#nav a')) {
			const min = a.getAttribute('data-min-role');
			a.classList.toggle('hidden', Boolean(min) && !can(min));
		}
		const page = PAGES[name] && (!PAGES[name].role || can(PAGES[name].role)) ? name : 'dashboard';
		if (page !== name) {
			location.replace('#/dashboard');
			return;
		}
		for (const a of document.querySelectorAll('#nav a')) {
			if (a.getAttribute('data-page') === page) a.setAttribute('aria-current', 'page');
			else a.removeAttribute('aria-current');
		}
		const main = clear($('#main'));
		main.setAttribute('data-page', page + (arg ? '-detail' : ''));
		main.setAttribute('aria-busy', 'true');
		const holder = el('div', {});
		try {
			await PAGES[page].render(holder, arg, params);
		} catch (e) {
			if (!(e instanceof ApiError)) {
				say(`页面出错：${e.message}`, 'error');
				throw e;
			}
			if (gen === generation) append(holder, [el('p', {class: 'error page-error'}, e.message)]);
		}
		if (gen !== generation) return;
		main.append(holder);
		main.removeAttribute('aria-busy');
	}

	document.addEventListener('DOMContentLoaded', () => {
		$('#login-form').addEventListener('submit', login);
		$('#logout').addEventListener('click', () => {
			sessionStorage.removeItem(TOKEN_KEY);
			me = null;
			location.hash = '#/login';
		});
		$('#me').addEventListener('click', changePassword);
		$('#dialog-cancel').addEventListener('click', () => $('#dialog').close());
		$('#dialog-form').addEventListener('submit', (e) => {
			e.preventDefault();
			$('#dialog').onsubmitok();
		});
		window.addEventListener('hashchange', route);
		route();
	});
})();
