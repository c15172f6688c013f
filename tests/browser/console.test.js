'use strict';
/*
 * Browser tests of the operators' console (admin-console/, served at /admin/): Debian's
 * Chromium, headless, 1280×800, driven by playwright-core against the stack of
 * tests/browser/run and its simulators, with the real aiphoto-dispatch run when a task must
 * move. The demo admins of the local stack sign in (docs/admin.md: demo_owner,
 * demo_operator, demo_support, demo_viewer, password ADMIN_DEMO_PASSWORD of
 * scripts/dev-credentials.env).
 *
 * The tests run in order and hand on what they made (a customer, a scene, a task): login,
 * the dashboard against GET /admin/stats, a user found and credited, then disabled (their next
 * call refused), a scene added with an image (GET /scenes has it), a failed task retried until
 * it completes, the editors' validation messages, the gray release and its rollback, what a
 * viewer and a support admin are offered, a lapsed session. A 1280×800 screenshot of every
 * page goes to AIPHOTO_ARTIFACTS (console-*.png). Any request to a host other than the
 * loopback addresses fails the run.
 *
 * The refund dialog's test is tests/browser/console_refund.test.js.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const {request} = require('playwright-core');
const H = require('./helpers');

const {BASE, ARTIFACTS, call, png, pngSize} = H;
const C = require('./console_helpers');

let browser;
let api;
let sim;
const blocked = [];
const shots = [];
const s = {}; // what one test hands on to the next

function apiOk(method, p, opts) {
	return H.apiOk(api, method, p, opts);
}

async function shot(page, name) {
	await C.shot(page, name);
	shots.push(`console-${name}.png`);
}

/* The text of each dashboard figure, as the page shows it. */
async function figures(page) {
	return page.locator('[data-stat]').evaluateAll((ns) => Object.fromEntries(ns.map((n) =>
		[n.getAttribute('data-stat'), n.textContent.trim()])));
}

function yuan(fen) {
	return '¥' + (fen / 100).toFixed(2);
}

/* ------------------------------------------------------------------ the tests */

test.before(async () => {
	browser = await H.launch();
	// one connection a call: lighttpd closes a kept-alive connection after 5 idle seconds, and
	// the tests wait longer than that for the dispatcher
	api = await request.newContext({baseURL: BASE, extraHTTPHeaders: {Connection: 'close'}});
	sim = await request.newContext({baseURL: H.SIM, extraHTTPHeaders: {Connection: 'close'}});
	fs.mkdirSync(ARTIFACTS, {recursive: true});
	for (const f of fs.readdirSync(ARTIFACTS)) if (f.startsWith('console-')) fs.rmSync(path.join(ARTIFACTS, f));
	s.operator = await C.adminToken(api, 'demo_operator');
});

test.after(async () => {
	await call(sim, 'DELETE', '/__sim/ai/faults').catch(() => {});
	if (browser) await browser.close();
	if (api) await api.dispose();
	if (sim) await sim.dispose();
});

test('the console is served at /admin/ under its policy, beside the admin API', async () => {
	const page = await call(api, 'GET', '/admin/');
	assert.equal(page.status, 200);
	assert.match(page.headers['content-type'], /^text\/html/);
	const csp = page.headers['content-security-policy'] || '';
	assert.match(csp, /script-src 'self'/);
	assert.ok(!csp.includes('unsafe-inline'), csp);
	assert.match(csp, /frame-ancestors 'none'/);
	assert.equal(page.headers['cache-control'], 'no-store');
	assert.ok(!/(src|href)\s*=\s*["'](https?:)?\/\//i.test(page.body), 'the console loads something from another site');
	let weight = Buffer.byteLength(page.body);
	for (const f of ['console.js', 'console.css']) {
		const r = await call(api, 'GET', `/admin/${f}`);
		weight += Buffer.byteLength(r.body);
		assert.equal(r.status, 200, f);
		const text = r.body.replaceAll('http://www.w3.org/2000/svg', ''); // the SVG namespace
		assert.ok(!/["'`](https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i.test(text), `${f} names another site`);
	}
	assert.ok(weight < 150 * 1024, `the console weighs ${weight} bytes`);
	// the API under /api/v1/admin/ still answers its own envelope
	const me = await call(api, 'GET', '/api/v1/admin/me');
	assert.equal(me.status, 401);
	assert.equal(me.body.success, false);
});

test('a wrong password shows the API\'s message and no page', async () => {
	const direct = await call(api, 'POST', '/api/v1/admin/login', {json: {username: 'nobody_' + crypto.randomBytes(4).toString('hex'),
		password: 'not the password'}});
	assert.equal(direct.status, 401);
	const {page, errors} = await C.openConsole(browser, blocked, '#/dashboard');
	await page.locator('#login-form').waitFor();
	await shot(page, 'login');
	await page.locator('#login-username').fill('demo_viewer');
	await page.locator('#login-password').fill('wrong-' + crypto.randomBytes(4).toString('hex'));
	await page.locator('#login-submit').click();
	await page.locator('#login-error', {hasText: direct.body.message}).waitFor();
	assert.equal(await page.locator('#top').isVisible(), false);
	assert.equal(await page.evaluate(() => sessionStorage.getItem('aiphoto.admin.token')), null);
	// an empty form is refused before any request
	await page.locator('#login-password').fill('');
	await page.locator('#login-submit').click();
	await page.locator('#login-error', {hasText: '请输入用户名和密码'}).waitFor();
	await shot(page, 'login-refused');
	assert.deepEqual(errors, []);
	await page.context().close();
});

test('an operator logs in; the dashboard\'s numbers are the API\'s', async () => {
	const {page, errors} = await C.openConsole(browser, blocked, '');
	await C.login(page, 'demo_operator');
	await page.locator('#chart').waitFor();
	const token = await page.evaluate(() => sessionStorage.getItem('aiphoto.admin.token'));
	assert.ok(token, 'the token is in sessionStorage');
	assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
	const st = await apiOk('GET', '/admin/stats', {token});
	const shown = await figures(page);
	const created = Object.values(st.tasks.created_today).reduce((a, b) => a + b, 0);
	assert.deepEqual(shown, {
		'users.total': String(st.users.total),
		'users.new_today': String(st.users.new_today),
		'users.dau': String(st.users.dau),
		'orders_today.orders': String(st.orders_today.orders),
		'orders_today.revenue_fen': yuan(st.orders_today.revenue_fen),
		'tasks.created_today': String(created),
		'tasks.open': String(st.tasks.open.queued + st.tasks.open.running),
		'queue.depth': String(st.queue.depth),
		'credits_today.issued': String(st.credits_today.issued),
		'credits_today.spent': String(st.credits_today.spent),
		'credits_today.refunded': String(st.credits_today.refunded),
		'credits_today.taken_back': String(st.credits_today.taken_back)
	});
	// one bar a day, in the API's order, each titled with its figures
	const bars = await page.locator('#chart rect.bar').evaluateAll((ns) => ns.map((n) =>
		[n.getAttribute('data-day'), n.querySelector('title').textContent]));
	assert.equal(bars.length, 30);
	assert.deepEqual(bars.map(([d]) => d), st.by_day.map((d) => d.day));
	const today = st.by_day[st.by_day.length - 1];
	assert.ok(bars[29][1].includes(`收入 ${yuan(today.revenue_fen)}`) && bars[29][1].includes(`任务 ${today.tasks}`), bars[29][1]);
	// the operator's navigation: the audit log, not the admin accounts
	assert.equal(await page.locator('#nav a[data-page="audit"]').isVisible(), true);
	assert.equal(await page.locator('#nav a[data-page="admins"]').isVisible(), false);
	await shot(page, 'dashboard');
	assert.deepEqual(errors, []);
	s.page = page;
	s.errors = errors;
});

test('find a user and adjust their credits (bad input shows each field\'s message)', async () => {
	const {page} = s;
	s.customer = await H.apiSignIn(api, sim, 'oconsole' + crypto.randomBytes(10).toString('hex'));
	const id = s.customer.user.id;
	const q = s.customer.user.invite_code.toLowerCase(); // an exact key, any case
	await page.locator('#nav a[data-page="users"]').click();
	await page.locator('#f-q').fill(q);
	await page.locator('.filters button[type="submit"]').click();
	await page.locator(`.pager[data-query="q=${q}"] tr[data-id="${id}"]`).waitFor();
	assert.equal(await page.locator('.pager tbody tr').count(), 1, 'the search finds exactly that user');
	await shot(page, 'users');
	await page.locator(`tr[data-id="${id}"] a`).first().click();
	await page.locator('#credit-form').waitFor();
	const before = (await apiOk('GET', `/admin/users/${id}`, {token: s.operator})).user.credits;
	assert.equal((await page.locator('#user-credits').textContent()).trim(), String(before));
	// each field refused with its message, nothing sent
	await page.locator('#f-delta').fill('0');
	await page.locator('#credit-submit').click();
	await page.locator('.field-error[data-field="delta"]', {hasText: '调整积分不能为 0'}).waitFor();
	await page.locator('.field-error[data-field="memo"]', {hasText: '请填写原因'}).waitFor();
	await page.locator('#f-delta').fill('1.5');
	await page.locator('#credit-submit').click();
	await page.locator('.field-error[data-field="delta"]', {hasText: '须为整数'}).waitFor();
	assert.equal((await apiOk('GET', `/admin/users/${id}`, {token: s.operator})).user.credits, before);
	// a debit past the balance: the API's message
	await page.locator('#f-delta').fill(String(-(before + 1)));
	await page.locator('#f-memo').fill('扣过头');
	await page.locator('#credit-submit').click();
	await page.locator('#msg.error', {hasText: '余额不足'}).waitFor();
	// the adjustment itself
	await page.locator('#f-delta').fill('50');
	await page.locator('#f-memo').fill('补偿：生成失败');
	await page.locator('#credit-submit').click();
	await page.locator('#msg.ok', {hasText: `已调整 +50 积分，当前余额 ${before + 50}`}).waitFor();
	assert.equal((await page.locator('#user-credits').textContent()).trim(), String(before + 50));
	const after = await apiOk('GET', `/admin/users/${id}`, {token: s.operator});
	assert.equal(after.user.credits, before + 50);
	assert.equal(after.ledger[0].delta, 50);
	assert.equal(after.ledger[0].memo, '补偿：生成失败');
	await shot(page, 'user');
});

test('disable a user: their next API call is refused', async () => {
	const {page} = s;
	const id = s.customer.user.id;
	assert.equal((await call(api, 'GET', '/api/v1/user/me', {token: s.customer.token})).status, 200);
	await page.locator('#user-status').click();
	await page.locator('#dialog[open]').waitFor();
	await shot(page, 'user-disable-confirm');
	await page.locator('#dialog-ok').click();
	await page.locator('#msg.ok', {hasText: `已禁用用户 ${id}`}).waitFor();
	await page.locator('[data-field="status"] [data-status="disabled"]').waitFor();
	const refused = await call(api, 'GET', '/api/v1/user/me', {token: s.customer.token});
	assert.equal(refused.status, 403, JSON.stringify(refused.body));
	assert.equal((await apiOk('GET', `/admin/users/${id}`, {token: s.operator})).user.status, 'disabled');
	// and enabled again from the same button
	assert.equal((await page.locator('#user-status').textContent()).trim(), '启用用户');
});

test('add a scene with an image: GET /scenes has it', async () => {
	const {page} = s;
	const name = '控制台场景' + crypto.randomBytes(3).toString('hex');
	await page.locator('#nav a[data-page="scenes"]').click();
	await page.locator('#create').click();
	await page.locator('#dialog[open]').waitFor();
	// the form's own messages
	await page.locator('#f-thumbnail_url').fill('ftp://example');
	await page.locator('#f-parameters').fill('{not json');
	await page.locator('#dialog-ok').click();
	await page.locator('.field-error[data-field="name"]', {hasText: '请填写名称'}).waitFor();
	await page.locator('.field-error[data-field="thumbnail_url"]', {hasText: 'http(s)'}).waitFor();
	await page.locator('.field-error[data-field="parameters"]', {hasText: '不是合法的 JSON'}).waitFor();
	await shot(page, 'scene-form-refused');
	await page.locator('#f-name').fill(name);
	await page.locator('#f-thumbnail_url').fill('');
	await page.locator('#f-parameters').fill('{"style": "film"}');
	await page.locator('#f-category').fill('portrait');
	await page.locator('#dialog-ok').click();
	await page.locator('#msg.ok', {hasText: `场景“${name}”已创建`}).waitFor();
	const row = page.locator('.pager tbody tr', {hasText: name});
	await row.waitFor();
	s.sceneId = Number(await row.getAttribute('data-id'));
	// a file that is no image: the API's message in the dialog
	await row.locator('button.thumbnail').click();
	await page.locator('#thumbnail-file').setInputFiles({name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image\n')});
	await page.locator('#dialog-ok').click();
	await page.locator('#dialog-error:not(:empty)').waitFor();
	await page.locator('#thumbnail-file').setInputFiles({name: 'scene.png', mimeType: 'image/png', buffer: png(320, 240, [200, 120, 60])});
	await page.locator('#dialog-ok').click();
	await page.locator('#msg.ok', {hasText: `场景“${name}”的缩略图已更新`}).waitFor();
	const img = page.locator(`tr[data-id="${s.sceneId}"] img.thumb`);
	await img.waitFor();
	await page.waitForFunction((sel) => document.querySelector(sel).naturalWidth > 0, `tr[data-id="${s.sceneId}"] img.thumb`);
	const pub = await apiOk('GET', '/scenes');
	const mine = pub.find((x) => x.id === s.sceneId);
	assert.ok(mine, 'GET /scenes has the new scene');
	assert.equal(mine.name, name);
	assert.equal(mine.thumbnail_url, await img.getAttribute('src'));
	assert.match(mine.thumbnail_url, /\/media\//);
	await shot(page, 'scenes');
});

test('retry a failed task: it completes with the simulator', async () => {
	const {page} = s;
	const who = await H.apiSignIn(api, sim, 'oconsoletask' + crypto.randomBytes(8).toString('hex'));
	s.taskUser = who;
	await apiOk('POST', `/admin/users/${who.user.id}/credits`, {token: s.operator, json: {delta: 500, memo: 'browser test'},
		headers: {'Idempotency-Key': 'console-' + crypto.randomBytes(8).toString('hex')}});
	const up = await call(api, 'POST', '/api/v1/uploads', {token: who.token,
		multipart: {file: {name: 'me.png', mimeType: 'image/png', buffer: png(640, 800, [90, 140, 200])}}});
	assert.equal(up.status, 201, JSON.stringify(up.body));
	s.assetId = up.body.data.asset_id;
	const task = await apiOk('POST', '/tasks/photography', {token: who.token,
		json: {scene_id: s.sceneId, asset_ids: [s.assetId], count: 1},
		headers: {'Idempotency-Key': 'console-' + crypto.randomBytes(8).toString('hex')}});
	// the provider refuses it for good: the item fails
	assert.equal((await call(sim, 'POST', '/__sim/ai/faults', {json: {mode: '400', model: '*'}})).status, 201);
	await C.dispatch();
	await call(sim, 'DELETE', '/__sim/ai/faults');
	assert.equal((await apiOk('GET', `/admin/tasks/${task.id}`, {token: s.operator})).status, 'failed');

	await page.goto(`${BASE}/admin/#/tasks?user=${who.user.id}`);
	const row = page.locator(`tr[data-id="${task.id}"]`);
	await row.locator('[data-status="failed"]').waitFor();
	const failed = await apiOk('GET', `/admin/tasks/${task.id}`, {token: s.operator});
	assert.equal((await row.locator('td').nth(6).textContent()).trim(), failed.items[0].error_code);
	assert.equal(await page.locator('#auto-refresh').isChecked(), true);
	await shot(page, 'tasks');
	await row.locator('button.retry').click();
	await page.locator('#msg.ok', {hasText: `任务 ${task.id} 已重新排队 1 张`}).waitFor();
	await row.locator('[data-status="queued"]').waitFor();
	assert.equal(await row.locator('button.retry').count(), 0, 'nothing left to retry');
	await C.dispatch();
	// the monitor refreshes itself
	await row.locator('[data-status="completed"]').waitFor({timeout: 20000});
	const t = await apiOk('GET', `/admin/tasks/${task.id}`, {token: s.operator});
	assert.equal(t.status, 'completed');
	assert.equal(t.done, 1);
	// the task's details
	await row.locator('td').first().locator('button').click();
	await page.locator('#dialog[open] [data-status="succeeded"]').waitFor();
	await shot(page, 'task-detail');
	await page.locator('#dialog-cancel').click();
});

test('cancel a queued task from the monitor: its price goes back', async () => {
	const {page} = s;
	const who = s.taskUser;
	const before = (await apiOk('GET', '/user/credits', {token: who.token})).credits;
	const task = await apiOk('POST', '/tasks/photography', {token: who.token,
		json: {scene_id: s.sceneId, asset_ids: [s.assetId], count: 2},
		headers: {'Idempotency-Key': 'console-' + crypto.randomBytes(8).toString('hex')}});
	await page.goto(`${BASE}/admin/#/tasks?user=${who.user.id}`);
	const row = page.locator(`tr[data-id="${task.id}"]`);
	await row.locator('[data-status="queued"]').waitFor();
	await row.locator('button.cancel').click();
	await page.locator('#dialog[open]').waitFor();
	await shot(page, 'task-cancel-confirm');
	await page.locator('#dialog-ok').click();
	await page.locator('#msg.ok', {hasText: `任务 ${task.id} 已取消 2 张`}).waitFor();
	await row.locator('[data-status="canceled"]').waitFor();
	assert.equal(await row.locator('button.cancel').count(), 0);
	const t = await apiOk('GET', `/admin/tasks/${task.id}`, {token: s.operator});
	assert.equal(t.status, 'canceled');
	assert.equal(t.credits_refunded, task.credits_charged);
	assert.equal((await apiOk('GET', '/user/credits', {token: who.token})).credits, before);
});

test('the editors show their validation messages and the API\'s', async () => {
	const {page} = s;
	// packages: the form's bounds
	await page.locator('#nav a[data-page="packages"]').click();
	await page.locator('.pager table').waitFor();
	await shot(page, 'packages');
	await page.locator('#create').click();
	await page.locator('#f-name').fill('测试套餐');
	await page.locator('#f-price_fen').fill('0');
	await page.locator('#f-credits').fill('abc');
	await page.locator('#dialog-ok').click();
	await page.locator('.field-error[data-field="price_fen"]', {hasText: '不能小于 1'}).waitFor();
	await page.locator('.field-error[data-field="credits"]', {hasText: '须为整数'}).waitFor();
	await page.locator('#dialog-cancel').click();
	// an edit saved: the API has it
	const pkgRow = page.locator('.pager tbody tr').first();
	const pkgId = Number(await pkgRow.getAttribute('data-id'));
	const pkg = await apiOk('GET', `/admin/packages/${pkgId}`, {token: s.operator});
	await pkgRow.locator('button.edit').click();
	assert.equal(await page.locator('#f-price_fen').inputValue(), String(pkg.price_fen));
	await page.locator('#f-sort_order').fill(String(pkg.sort_order + 1));
	await page.locator('#dialog-ok').click();
	await page.locator('#msg.ok', {hasText: `套餐“${pkg.name}”已保存`}).waitFor();
	const saved = await apiOk('GET', `/admin/packages/${pkgId}`, {token: s.operator});
	assert.deepEqual([saved.sort_order, saved.price_fen, saved.credits, saved.active],
		[pkg.sort_order + 1, pkg.price_fen, pkg.credits, pkg.active]);
	// templates: an unknown scene is the API's 404 message, shown in the dialog
	await page.locator('#nav a[data-page="templates"]').click();
	await page.locator('.pager').waitFor();
	await page.locator('#create').click();
	await page.locator('#f-name').fill('控制台模板');
	await page.locator('#f-scene_id').fill('999999999');
	await page.locator('#f-template').fill('a portrait, {{style}}');
	await page.locator('#dialog-ok').click();
	await page.locator('#dialog-error:not(:empty)').waitFor();
	const msg = (await page.locator('#dialog-error').textContent()).trim();
	assert.equal((await page.locator('#msg.error').textContent()).trim(), msg);
	await page.locator('#dialog-cancel').click();
	// a template's preview: the API's rendering
	const tplRow = page.locator('.pager tbody tr').first();
	const tplId = Number(await tplRow.getAttribute('data-id'));
	await tplRow.locator('button.preview').click();
	await page.locator('#f-params').fill('{"style": "胶片"}');
	await page.locator('#dialog-ok').click();
	await page.locator('#preview-out pre').first().waitFor();
	const pv = await apiOk('POST', `/admin/prompt-templates/${tplId}/preview`, {token: s.operator, json: {params: {style: '胶片'}}});
	assert.equal(await page.locator('#preview-out pre').first().textContent(), pv.prompt);
	await shot(page, 'template-preview');
	await page.locator('#dialog-cancel').click();
	await shot(page, 'templates');
	// models: the key's variable name
	await page.locator('#nav a[data-page="models"]').click();
	await page.locator('.pager').waitFor();
	await page.locator('#create').click();
	await page.locator('#f-api_key_env').fill('sk-secret');
	await page.locator('#f-endpoint').fill('not a url');
	await page.locator('#dialog-ok').click();
	await page.locator('.field-error[data-field="api_key_env"]', {hasText: '大写字母'}).waitFor();
	await page.locator('.field-error[data-field="endpoint"]', {hasText: 'http(s)'}).waitFor();
	await page.locator('#dialog-cancel').click();
	await shot(page, 'models');
	// a test call against the simulated provider: the outcome and the image
	const models = (await apiOk('GET', '/admin/ai-models?limit=50', {token: s.operator})).items;
	const sync = models.find((m) => m.provider === 'openai' && m.active && m.api_key_set);
	assert.ok(sync, 'an active simulated OpenAI-style model');
	const mrow = page.locator(`tr[data-id="${sync.id}"]`);
	await mrow.locator('button.test').click();
	await page.locator('#dialog-ok').click();
	await page.locator('#msg.ok', {hasText: `模型 ${sync.name} 测试结果：成功`}).waitFor();
	await page.locator('#test-out [data-status="succeeded"]').waitFor();
	await page.waitForFunction(() => document.querySelector('#test-out img').naturalWidth > 0);
	await shot(page, 'model-test');
	// the provider failing: the outcome says so
	await call(sim, 'POST', '/__sim/ai/faults', {json: {mode: '500', model: '*'}});
	try {
		await page.locator('#dialog-ok').click();
		await page.locator('#msg.error', {hasText: `模型 ${sync.name} 测试结果：可重试的失败`}).waitFor({timeout: 40000});
		await page.locator('#test-out [data-status="retryable"]').waitFor();
	} finally {
		await call(sim, 'DELETE', '/__sim/ai/faults');
	}
	await page.locator('#dialog-cancel').click();
	// config: bad JSON is the form's; a bad value is the API's
	await page.locator('#nav a[data-page="config"]').click();
	const pricing = page.locator('[data-config="pricing"]');
	await pricing.waitFor();
	const was = (await apiOk('GET', '/admin/config/pricing', {token: s.operator})).value;
	await pricing.locator('textarea').fill('{"photography": ');
	await pricing.locator('button[data-key="pricing"]').click();
	await pricing.locator('.field-error', {hasText: '不是合法的 JSON'}).waitFor();
	await pricing.locator('textarea').fill(JSON.stringify(Object.assign({}, was, {photography: -1})));
	await pricing.locator('button[data-key="pricing"]').click();
	await page.locator('#msg.error', {hasText: 'photography'}).waitFor();
	assert.deepEqual((await apiOk('GET', '/admin/config/pricing', {token: s.operator})).value, was);
	await pricing.locator('textarea').fill(JSON.stringify(was));
	await pricing.locator('button[data-key="pricing"]').click();
	await page.locator('#msg.ok', {hasText: '配置 pricing 已保存'}).waitFor();
	await shot(page, 'config');
});

test('gray release: percent, lists and backend saved; the rollback sends everybody to the cloud', async () => {
	const {page} = s;
	await page.locator('#nav a[data-page="gray"]').click();
	await page.locator('#gray-save').waitFor();
	await page.locator('#f-gray_percent').fill('101');
	await page.locator('#gray-save').click();
	await page.locator('.field-error[data-field="gray_percent"]', {hasText: '不能大于 100'}).waitFor();
	await page.locator('#f-backend_type').selectOption('cloud');
	await page.locator('#f-gray_release').check();
	await page.locator('#f-gray_percent').fill('5');
	await page.locator('#f-white_list').fill('owhite1\nowhite2\n');
	await page.locator('#f-black_list').fill('oblack1');
	await page.locator('#gray-save').click();
	await page.locator('#msg.ok', {hasText: '灰度设置已保存'}).waitFor();
	await page.locator('#gray-state', {hasText: '灰度开启：5%'}).waitFor();
	let v = (await apiOk('GET', '/admin/config/backend_config', {token: s.operator})).value;
	assert.deepEqual([v.backend_type, v.gray_release, v.gray_percent, v.white_list, v.black_list],
		['cloud', true, 5, ['owhite1', 'owhite2'], ['oblack1']]);
	assert.equal((await apiOk('GET', '/config/backend?openid=owhite1')).decision, 'server');
	await shot(page, 'gray');
	await page.locator('#rollback').click();
	await page.locator('#dialog-ok').click();
	await page.locator('#msg.ok', {hasText: '已回滚'}).waitFor();
	await page.locator('#gray-state', {hasText: '灰度关闭：所有人走云开发'}).waitFor();
	v = (await apiOk('GET', '/admin/config/backend_config', {token: s.operator})).value;
	assert.deepEqual([v.backend_type, v.gray_release], ['cloud', false]);
	assert.equal((await apiOk('GET', '/config/backend?openid=owhite1')).decision, 'cloud');
});

test('orders and the audit log page', async () => {
	const {page} = s;
	await page.locator('#nav a[data-page="orders"]').click();
	await page.locator('.pager').waitFor();
	await page.locator('#f-user').fill('x');
	await page.locator('.filters button[type="submit"]').click();
	await page.locator('.field-error[data-field="user"]', {hasText: '须为整数'}).waitFor();
	await page.locator('#f-user').fill('');
	await page.locator('#f-status').selectOption('paid');
	await page.locator('.filters button[type="submit"]').click();
	await page.locator('.pager[data-query="status=paid"]').waitFor();
	const statuses = await page.locator('.pager tbody [data-status]').evaluateAll((ns) => ns.map((n) => n.getAttribute('data-status')));
	assert.ok(statuses.every((x) => x === 'paid'), statuses.join());
	await shot(page, 'orders');
	await page.locator('#nav a[data-page="audit"]').click();
	await page.locator('#f-target_type').fill('user');
	await page.locator('#f-target_id').fill(String(s.customer.user.id));
	await page.locator('.filters button[type="submit"]').click();
	await page.locator(`.pager[data-query="target_type=user&target_id=${s.customer.user.id}"]`).waitFor();
	const rows = page.locator('.pager tbody tr');
	const actions = await rows.evaluateAll((ns) => ns.map((n) => n.children[2].textContent));
	assert.deepEqual(actions, ['user.status', 'user.credits']);
	await shot(page, 'audit');
	assert.deepEqual(s.errors, []);
});

test('every list pages with the API\'s cursors', async () => {
	const {page} = s;
	// 22 edits of one package (its sort order moved and put back): 22 audit rows of it, more
	// than a page holds
	const pkg = (await apiOk('GET', '/admin/packages?limit=1', {token: s.operator})).items[0];
	for (let i = 0; i < 22; i++) {
		await apiOk('PUT', `/admin/packages/${pkg.id}`, {token: s.operator, json: {sort_order: pkg.sort_order + (i % 2 ? 0 : 1)}});
	}
	const filter = `target_type=package&target_id=${pkg.id}`;
	const first = await apiOk('GET', `/admin/audit?${filter}&limit=20`, {token: s.operator});
	assert.ok(first.next_cursor, 'a second page');
	const second = await apiOk('GET', `/admin/audit?${filter}&limit=20&cursor=${encodeURIComponent(first.next_cursor)}`,
		{token: s.operator});
	await page.goto(`${BASE}/admin/#/audit`);
	await page.locator('#f-target_type').fill('package');
	await page.locator('#f-target_id').fill(String(pkg.id));
	await page.locator('.filters button[type="submit"]').click();
	await page.locator(`.pager[data-query="${filter}"]`).waitFor();
	const ids = () => page.locator('.pager tbody tr').evaluateAll((ns) => ns.map((n) => Number(n.getAttribute('data-id'))));
	assert.equal(await page.locator('.pager button.prev').isDisabled(), true);
	assert.deepEqual(await ids(), first.items.map((a) => a.id));
	await page.locator('.pager button.next').click();
	await page.locator('.page-no', {hasText: '第 2 页'}).waitFor();
	assert.deepEqual(await ids(), second.items.map((a) => a.id));
	assert.equal(await page.locator('.pager button.next').isDisabled(), !second.next_cursor);
	await page.locator('.pager button.prev').click();
	await page.locator('.page-no', {hasText: '第 1 页'}).waitFor();
	assert.deepEqual(await ids(), first.items.map((a) => a.id));
	assert.equal((await apiOk('GET', `/admin/packages/${pkg.id}`, {token: s.operator})).sort_order, pkg.sort_order);
});

test('the database down: the page shows the API\'s message, and works again once it is back', async () => {
	const {page} = s;
	await page.goto(`${BASE}/admin/#/dashboard`);
	await page.locator('#chart').waitFor();
	await C.stack('pg-stop');
	try {
		const down = await call(api, 'GET', '/api/v1/admin/users', {token: s.operator});
		assert.equal(down.status, 503, JSON.stringify(down.body));
		await page.locator('#nav a[data-page="users"]').click();
		await page.locator('.page-error, .pager .empty, #msg.error').first().waitFor();
		await page.locator('#msg.error', {hasText: down.body.message}).waitFor();
		await shot(page, 'database-down');
	} finally {
		await C.stack('pg-start');
	}
	// an operator's next click works again (the workers reconnect)
	for (let i = 0; i < 40; i++) {
		if ((await call(api, 'GET', '/api/v1/admin/users', {token: s.operator})).status === 200) break;
		await new Promise((r) => setTimeout(r, 250));
	}
	await page.reload();
	await page.locator('.pager tbody tr').first().waitFor();
	// and the network gone: its own message
	await page.route('**/api/v1/admin/users?*', (route) => route.abort('internetdisconnected'));
	await page.locator('.filters button[type="submit"]').click();
	await page.locator('#msg.error', {hasText: '网络错误'}).waitFor();
	await page.unroute('**/api/v1/admin/users?*');
});

test('a viewer is offered no write action; a support admin only credits', async () => {
	const {page, errors} = await C.openConsole(browser, blocked, '');
	await C.login(page, 'demo_viewer');
	await page.locator('#chart').waitFor();
	assert.equal(await page.locator('#nav a[data-page="audit"]').isVisible(), false);
	assert.equal(await page.locator('#nav a[data-page="admins"]').isVisible(), false);
	const visits = [
		[`#/users/${s.customer.user.id}`, '.facts'], ['#/orders', '.pager'], ['#/tasks', '.pager tbody tr'],
		['#/scenes', '.pager tbody tr'], ['#/packages', '.pager tbody tr'], ['#/templates', '.pager'],
		['#/models', '.pager'], ['#/config', '[data-config="pricing"]'], ['#/gray', '#f-gray_percent']
	];
	for (const [hash, ready] of visits) {
		await page.goto(`${BASE}/admin/${hash}`);
		await page.locator(ready).first().waitFor();
		await page.waitForFunction(() => !document.querySelector('#main[aria-busy]'));
		assert.equal(await page.locator('[data-write]').count(), 0, `${hash} offers a viewer a write action`);
	}
	assert.equal(await page.locator('#f-gray_percent').isDisabled(), true);
	// a scene opens read-only
	await page.goto(`${BASE}/admin/#/scenes`);
	await page.locator(`tr[data-id="${s.sceneId}"] button.edit`).click();
	assert.equal(await page.locator('#f-name').isDisabled(), true);
	assert.equal(await page.locator('#dialog-ok').isVisible(), false);
	await shot(page, 'viewer-scene');
	await page.locator('#dialog-cancel').click();
	// the audit log is not a viewer's: back to the dashboard
	await page.goto(`${BASE}/admin/#/audit`);
	await page.waitForURL(`${BASE}/admin/#/dashboard`);
	assert.deepEqual(errors, []);
	await page.context().close();

	const sup = await C.openConsole(browser, blocked, '');
	await C.login(sup.page, 'demo_support');
	await sup.page.locator('#chart').waitFor();
	await sup.page.goto(`${BASE}/admin/#/users/${s.customer.user.id}`);
	await sup.page.locator('#credit-form').waitFor();
	assert.equal(await sup.page.locator('#user-status').count(), 0);
	assert.deepEqual(await sup.page.locator('[data-write]').evaluateAll((ns) => ns.map((n) => n.getAttribute('data-write'))), ['support']);
	await sup.page.goto(`${BASE}/admin/#/tasks`);
	await sup.page.locator('.pager tbody tr').first().waitFor();
	assert.equal(await sup.page.locator('[data-write]').count(), 0);
	assert.deepEqual(sup.errors, []);
	await sup.page.context().close();
});

test('an owner manages the admin accounts', async () => {
	const {page, errors} = await C.openConsole(browser, blocked, '');
	await C.login(page, 'demo_owner');
	await page.locator('#nav a[data-page="admins"]').click();
	await page.locator('.pager tbody tr').first().waitFor();
	const names = await page.locator('.pager tbody tr td:nth-child(2)').allTextContents();
	for (const n of ['demo_owner', 'demo_operator', 'demo_support', 'demo_viewer']) assert.ok(names.includes(n), names.join());
	await page.locator('#create').click();
	await page.locator('#f-username').fill('bad name');
	await page.locator('#f-password').fill('short');
	await page.locator('#dialog-ok').click();
	await page.locator('.field-error[data-field="username"]', {hasText: '只能包含'}).waitFor();
	await page.locator('.field-error[data-field="password"]', {hasText: '至少 8 个字符'}).waitFor();
	await page.locator('#dialog-cancel').click();
	await shot(page, 'admins');
	assert.deepEqual(errors, []);
	s.ownerPage = page;
});

test('a session that ends sends the console back to the login with the API\'s message', async () => {
	const page = s.ownerPage;
	await page.evaluate(() => sessionStorage.setItem('aiphoto.admin.token', 'expired.token.value'));
	const direct = await call(api, 'GET', '/api/v1/admin/users', {token: 'expired.token.value'});
	assert.equal(direct.status, 401);
	await page.locator('#nav a[data-page="users"]').click();
	await page.locator('#login-form').waitFor();
	await page.locator('#login-error', {hasText: direct.body.message}).waitFor();
	assert.equal(await page.evaluate(() => sessionStorage.getItem('aiphoto.admin.token')), null);
	await page.context().close();
});

test('every console page has its 1280×800 screenshot; nothing went to another host', () => {
	for (const name of shots) assert.deepEqual(pngSize(path.join(ARTIFACTS, name)), C.SIZE, name);
	for (const p of ['login', 'dashboard', 'users', 'user', 'orders', 'tasks', 'scenes', 'packages', 'templates',
		'models', 'config', 'gray', 'audit', 'admins']) {
		assert.ok(shots.includes(`console-${p}.png`), `no screenshot of ${p}`);
	}
	assert.deepEqual(blocked, []);
});
