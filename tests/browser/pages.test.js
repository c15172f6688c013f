'use strict';
/*
 * Browser tests of the WeChat H5 pages (wechat-pages/): Debian's Chromium, headless, driven
 * by playwright-core against a running local stack and its WeChat simulator.
 *
 * Environment (tests/browser/run sets it): AIPHOTO_BASE_URL (http://127.0.0.1:PORT),
 * AIPHOTO_SIM_URL (the simulator), AIPHOTO_ARTIFACTS (where the screenshots go),
 * AIPHOTO_CHROMIUM (the browser binary, default /usr/bin/chromium).
 *
 * The tests run in order and share one signed-in user: sign-in, balance, check-in, invite,
 * purchase, records, expired token. Every request the browser makes to a host other than
 * the loopback addresses is refused and makes the run fail.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const {request} = require('playwright-core');
const H = require('./helpers');

const {REPO, BASE, SIM, ARTIFACTS, call, open, pngSize} = H;
const SHOTS = ['member.png', 'credits.png', 'credits_info.png', 'credits-outside-wechat.png'];

let browser;
let api; // request context for the product's API
let sim; // request context for the simulator
const blocked = []; // non-loopback URLs the browser tried
const me = {openid: 'obrowser' + crypto.randomBytes(10).toString('hex'), nickname: '浏览器测试'};

/* ------------------------------------------------------------------ helpers */

function apiOk(method, p, opts) {
	return H.apiOk(api, method, p, opts);
}

/* A user signed in through the OAuth API calls (no browser): {token, user}. */
function apiSignIn(openid) {
	return H.apiSignIn(api, sim, openid);
}

/* A 360×640 context that signs in as `me` (helpers.js), with the Pay bridge stub if asked. */
async function newContext({wechat = true, bridge = false} = {}) {
	const ctx = await H.newContext(browser, {who: me, blocked, wechat});
	if (bridge) await installBridge(ctx);
	return ctx;
}

async function tokenOf(page) {
	return page.evaluate(() => localStorage.getItem('aiphoto.token'));
}

const shot = H.shot;

function jwt(claims) {
	const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
	return `${enc({alg: 'HS256', typ: 'JWT'})}.${enc(claims)}.${crypto.randomBytes(32).toString('base64url')}`;
}

async function balanceShown(page) {
	return Number((await page.locator('#balance').textContent()).trim());
}

/* ------------------------------------------------------------------ WeChat Pay stub */

const payments = []; // {params, order, pay} per getBrandWCPayRequest

/*
 * window.WeixinJSBridge as WeChat injects it, a moment after the page starts, announced by
 * WeixinJSBridgeReady. getBrandWCPayRequest hands the parameters to node, which finds the
 * order in the Pay simulator by its prepay_id, answers "ok" at once and has the simulator
 * mark the order paid (and notify the product) only a little later: the page must not
 * believe the "ok" but wait for the server.
 */
async function installBridge(ctx) {
	await ctx.exposeBinding('__aiphotoPay', async (_source, params) => {
		const rec = {params, at: Date.now()};
		payments.push(rec);
		const prepay = String(params && params.package || '').replace(/^prepay_id=/, '');
		const orders = await call(sim, 'GET', '/__sim/pay/orders');
		const list = Array.isArray(orders.body) ? orders.body : (orders.body.orders || []);
		rec.order = list.find((o) => o.prepay_id === prepay);
		if (!rec.order) return 'fail';
		rec.pay = new Promise((resolve) => setTimeout(resolve, 1500)).then(() =>
			call(sim, 'POST', '/__sim/pay/pay', {json: {out_trade_no: rec.order.out_trade_no}}));
		return 'ok';
	});
	await ctx.addInitScript(() => {
		setTimeout(() => {
			window.WeixinJSBridge = {
				invoke(name, params, cb) {
					if (name !== 'getBrandWCPayRequest') {
						cb({err_msg: `${name}:fail`});
						return;
					}
					window.__aiphotoPay(params).then(
						(r) => cb({err_msg: `get_brand_wcpay_request:${r}`}),
						(e) => cb({err_msg: 'get_brand_wcpay_request:fail', err_desc: String(e)}));
				}
			};
			document.dispatchEvent(new Event('WeixinJSBridgeReady'));
		}, 400);
	});
}

/* ------------------------------------------------------------------ the tests */

test.before(async () => {
	browser = await H.launch();
	api = await request.newContext({baseURL: BASE});
	sim = await request.newContext({baseURL: SIM});
	fs.mkdirSync(ARTIFACTS, {recursive: true});
	for (const name of SHOTS) fs.rmSync(path.join(ARTIFACTS, name), {force: true});
});

test.after(async () => {
	if (browser) await browser.close();
	if (api) await api.dispose();
	if (sim) await sim.dispose();
});

test('the vendored WeUI is the pinned release with its licence, and pages load nothing from outside', () => {
	const pin = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).dependencies.weui;
	assert.match(pin, /^2\.6\.\d+$/, 'package.json pins weui 2.6.x exactly');
	const vendor = path.join(REPO, 'wechat-pages', 'vendor', 'weui');
	assert.equal(fs.readFileSync(path.join(vendor, 'VERSION'), 'utf8').trim(), pin);
	assert.match(fs.readFileSync(path.join(vendor, 'LICENSE.txt'), 'utf8'), /MIT License/);
	const css = fs.readFileSync(path.join(vendor, 'weui.min.css'), 'utf8');
	assert.ok(css.includes(`WeUI v${pin}`), 'weui.min.css names the pinned version');
	const installed = path.join(REPO, 'node_modules', 'weui', 'dist', 'style', 'weui.min.css');
	if (fs.existsSync(installed)) {
		assert.equal(css, fs.readFileSync(installed, 'utf8'), 'run scripts/build-pages');
	}
	for (const file of ['member.html', 'credits.html', 'credits_info.html']) {
		const html = fs.readFileSync(path.join(REPO, 'wechat-pages', file), 'utf8');
		assert.ok(!/(src|href)="(https?:)?\/\//.test(html), `${file} loads something from another site`);
		assert.ok(html.includes('vendor/weui/weui.min.css') && html.includes('src="app.js"'), file);
	}
});

test('the OAuth round trip signs in on member.html', async () => {
	const ctx = await newContext({bridge: true});
	const {page, navs, errors} = await open(ctx, 'member.html');
	await page.locator('#view').waitFor({state: 'visible'});
	assert.ok(navs.some((u) => u.startsWith(`${BASE}/api/v1/auth/wechat/authorize?`)), navs.join('\n'));
	assert.ok(navs.some((u) => u.startsWith(`${SIM}/open/connect/oauth2/authorize?`)), navs.join('\n'));
	assert.ok(navs.some((u) => /member\.html\?code=[^&]+&state=/.test(u)), navs.join('\n'));
	const auth = new URL(navs.find((u) => u.startsWith(`${BASE}/api/v1/auth/wechat/authorize?`)));
	assert.equal(auth.searchParams.get('redirect'), '/wechat/member.html');
	assert.equal(auth.searchParams.get('scope'), 'snsapi_userinfo');
	// the code and state are gone from the address bar once used
	await page.waitForURL(`${BASE}/wechat/member.html`);
	me.token = await tokenOf(page);
	assert.ok(me.token && me.token.split('.').length === 3, 'a JWT is kept in localStorage');
	me.user = await apiOk('GET', '/user/me', {token: me.token});
	assert.equal(me.user.nickname, me.nickname, 'snsapi_userinfo brought the nickname');
	assert.equal((await page.locator('#nickname').textContent()).trim(), me.nickname);
	assert.equal((await page.locator('#invite-code').textContent()).trim(), me.user.invite_code);
	assert.equal(await page.locator('#avatar').getAttribute('src'), me.user.avatar_url);
	assert.deepEqual(errors, []);
	me.ctx = ctx;
	me.page = page;
});

test('the balance and the packages match the API', async () => {
	const {page} = me;
	const credits = await apiOk('GET', '/user/credits', {token: me.token});
	assert.equal(await balanceShown(page), credits.credits);
	const packages = await apiOk('GET', '/credits/packages');
	assert.ok(packages.length > 0, 'the demo seed has packages');
	assert.equal(await page.locator('.ap-package').count(), packages.length);
	for (const p of packages) {
		const row = page.locator(`.ap-package[data-package="${p.id}"]`);
		const text = await row.textContent();
		assert.ok(text.includes(p.name), text);
		assert.ok(text.includes(`¥${(p.price_fen / 100).toFixed(2)}`), text);
		assert.ok(text.includes(String(p.credits + p.bonus_credits)), text);
	}
	assert.equal(await page.locator('#pay-notice').isVisible(), false, 'no outside-WeChat notice inside WeChat');
});

test('checking in once adds the award and disables the button', async () => {
	const {page} = me;
	const before = await apiOk('GET', '/user/credits', {token: me.token});
	assert.equal(before.checked_in_today, false);
	const btn = page.locator('#checkin');
	assert.equal(await btn.isEnabled(), true);
	const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/credits/checkin'));
	await btn.click();
	const res = await answer;
	assert.equal(res.status(), 200);
	const award = (await res.json()).data;
	await page.locator('#checkin[data-done="true"]').waitFor();
	assert.equal(await btn.isDisabled(), true);
	assert.equal((await btn.textContent()).trim(), '今日已签到');
	await page.locator('#ap-toast .weui-toast__content', {hasText: `+${award.credits_awarded}`}).waitFor();
	const after = await apiOk('GET', '/user/credits', {token: me.token});
	assert.equal(after.checked_in_today, true);
	assert.equal(after.credits, before.credits + award.credits_awarded);
	assert.equal(await balanceShown(page), after.credits);
	assert.ok((await page.locator('#streak').textContent()).includes(String(after.checkin_streak)));
	// a reload keeps it disabled: the state comes from the server
	await page.reload();
	await page.locator('#view').waitFor({state: 'visible'});
	assert.equal(await page.locator('#checkin').isDisabled(), true);
	assert.equal(await balanceShown(page), after.credits);
});

test('the invite code is copied, and a friend\'s code rewards once with errors shown', async () => {
	const {page, ctx} = me;
	await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], {origin: BASE});
	await page.locator('#copy-invite').click();
	await page.locator('#ap-toast .weui-toast__content', {hasText: '已复制'}).waitFor();
	assert.equal(await page.evaluate(() => navigator.clipboard.readText()), me.user.invite_code);

	// one's own code: the API's message is shown
	await page.locator('#invite-input').fill(me.user.invite_code);
	const refused = page.waitForResponse((r) => r.url().endsWith('/api/v1/user/invite'));
	await page.locator('#invite-submit').click();
	const body = await (await refused).json();
	assert.equal(body.success, false);
	await page.locator('#ap-tip', {hasText: body.message}).waitFor({state: 'visible'});

	const friend = await apiSignIn('obrowserfriend' + crypto.randomBytes(8).toString('hex'));
	const before = await apiOk('GET', '/user/credits', {token: me.token});
	await page.locator('#invite-input').fill(friend.user.invite_code);
	const ok = page.waitForResponse((r) => r.url().endsWith('/api/v1/user/invite'));
	await page.locator('#invite-submit').click();
	const reward = (await (await ok).json()).data;
	await page.locator('#invite-form').waitFor({state: 'hidden'});
	const after = await apiOk('GET', '/user/credits', {token: me.token});
	assert.equal(after.credits, before.credits + reward.bonus);
	assert.equal(await balanceShown(page), after.credits);
	await shot(page, 'member.png');
});

test('buying a package through the WeChat Pay bridge ends with the new balance', async () => {
	const {page} = me;
	const packages = await apiOk('GET', '/credits/packages');
	const pkg = packages[0];
	const before = await apiOk('GET', '/user/credits', {token: me.token});
	const polls = [];
	page.on('response', async (r) => {
		if (/\/api\/v1\/payment\/orders\/AP/.test(r.url())) {
			try { polls.push((await r.json()).data.status); } catch (e) { polls.push('?'); }
		}
	});
	const created = page.waitForResponse((r) => r.url().endsWith('/api/v1/payment/create-order'));
	await page.locator(`.ap-buy[data-package="${pkg.id}"]`).click();
	const order = (await (await created).json()).data;
	assert.equal(order.credits, pkg.credits + pkg.bonus_credits);
	const want = before.credits + order.credits;
	await page.waitForFunction((n) => document.querySelector('#balance').textContent.trim() === String(n),
		want, {timeout: 30000});
	await page.locator('#ap-toast .weui-toast__content', {hasText: `充值成功 +${order.credits}`}).waitFor();

	const rec = payments[payments.length - 1];
	assert.deepEqual(rec.params, order.pay_params, 'the bridge got the server\'s pay_params unchanged');
	assert.equal(rec.order.out_trade_no, order.out_trade_no);
	const paid = await rec.pay;
	assert.equal(paid.status, 200, JSON.stringify(paid.body));
	// the bridge said "ok" before the order was paid: the page kept asking the server
	assert.equal(polls[0], 'created', `polls: ${polls}`);
	assert.equal(polls[polls.length - 1], 'paid', `polls: ${polls}`);
	const o = await apiOk('GET', `/payment/orders/${order.out_trade_no}`, {token: me.token});
	assert.equal(o.status, 'paid');
	const after = await apiOk('GET', '/user/credits', {token: me.token});
	assert.equal(after.credits, want);
	me.order = order;
});

test('credits.html shows the balance and buys the same way', async () => {
	const {page} = me;
	await page.goto(`${BASE}/wechat/credits.html`);
	await page.locator('#view').waitFor({state: 'visible'});
	const credits = await apiOk('GET', '/user/credits', {token: me.token});
	assert.equal(await balanceShown(page), credits.credits);
	assert.equal(await page.locator('#records-link').getAttribute('href'), 'credits_info.html');
	const packages = await apiOk('GET', '/credits/packages');
	const pkg = packages[packages.length - 1];
	await page.locator(`.ap-buy[data-package="${pkg.id}"]`).click();
	const want = credits.credits + pkg.credits + pkg.bonus_credits;
	await page.waitForFunction((n) => document.querySelector('#balance').textContent.trim() === String(n),
		want, {timeout: 30000});
	assert.equal((await apiOk('GET', '/user/credits', {token: me.token})).credits, want);
	await shot(page, 'credits.png');
});

test('outside WeChat the pages say so instead of paying', async () => {
	const ctx = await newContext({wechat: false});
	await ctx.addInitScript((t) => localStorage.setItem('aiphoto.token', t), me.token);
	const {page} = await open(ctx, 'credits.html');
	await page.locator('#view').waitFor({state: 'visible'});
	assert.equal(await page.locator('#pay-notice').isVisible(), true);
	let creates = 0;
	page.on('request', (r) => { if (r.url().includes('/payment/create-order')) creates++; });
	await page.locator('.ap-buy').first().click();
	await page.locator('#ap-tip', {hasText: '请在微信中打开'}).waitFor({state: 'visible'});
	assert.equal(creates, 0, 'no order is created outside WeChat');
	await shot(page, 'credits-outside-wechat.png');
	await ctx.close();
});

test('on a development stack an ordinary browser can pay through the simulator', async () => {
	const ctx = await newContext({wechat: false});
	await ctx.addInitScript((t) => localStorage.setItem('aiphoto.token', t), me.token);
	const {page, errors} = await open(ctx, `credits.html?sim=${encodeURIComponent(SIM)}`);
	await page.locator('#view').waitFor({state: 'visible'});
	await page.locator('.ap-devpay-link').click();
	await page.locator('#pay-notice').waitFor({state: 'hidden'});
	const before = await apiOk('GET', '/user/credits', {token: me.token});
	const packages = await apiOk('GET', '/credits/packages');
	await page.locator(`.ap-buy[data-package="${packages[0].id}"]`).click();
	// the sheet can be cancelled: nothing is paid
	await page.locator('#ap-devpay-cancel').click();
	await page.locator('#ap-tip', {hasText: '已取消支付'}).waitFor({state: 'visible'});
	await page.locator(`.ap-buy[data-package="${packages[0].id}"]`).click();
	await page.locator('#ap-devpay-confirm').click();
	const want = before.credits + packages[0].credits + packages[0].bonus_credits;
	await page.waitForFunction((n) => document.querySelector('#balance').textContent.trim() === String(n),
		want, {timeout: 30000});
	assert.equal((await apiOk('GET', '/user/credits', {token: me.token})).credits, want);
	// the choice holds for the tab: a reload loads the stand-in again
	await page.reload();
	await page.locator('#view').waitFor({state: 'visible'});
	assert.equal(await page.locator('#pay-notice').isVisible(), false);
	assert.deepEqual(errors, []);
	await ctx.close();
});

test('the records list the purchase and the check-in, with tabs and load more', async () => {
	const {page} = me;
	await page.goto(`${BASE}/wechat/credits_info.html`);
	await page.locator('.weui-navbar__item.weui-bar__item_on[data-kind="all"]').waitFor();
	await page.locator('.ap-record').first().waitFor();
	const all = await apiOk('GET', '/credits/records?kind=all', {token: me.token});
	const rows = page.locator('.ap-record');
	assert.equal(await rows.count(), all.items.length);
	for (const [i, r] of all.items.entries()) {
		assert.equal(await rows.nth(i).getAttribute('data-id'), String(r.id));
		const text = await rows.nth(i).textContent();
		assert.ok(text.includes(`${r.delta > 0 ? '+' : ''}${r.delta}`) && text.includes(`余额 ${r.balance_after}`), text);
	}
	const kinds = all.items.map((r) => r.kind);
	assert.ok(kinds.includes('checkin') && kinds.includes('recharge') && kinds.includes('invite'), kinds.join());
	assert.ok(all.items.some((r) => r.kind === 'recharge' && r.delta === me.order.credits));
	assert.ok((await page.locator('.ap-record[data-kind="checkin"]').textContent()).includes('签到'));

	await page.locator('.weui-navbar__item[data-kind="recharge"]').click();
	await page.locator('.weui-navbar__item.weui-bar__item_on[data-kind="recharge"]').waitFor();
	await page.locator('#records-end').waitFor({state: 'visible'});
	const recharge = await apiOk('GET', '/credits/records?kind=recharge', {token: me.token});
	assert.equal(await page.locator('.ap-record').count(), recharge.items.length);
	assert.equal(await page.locator('.ap-record:not([data-kind="recharge"])').count(), 0);
	assert.ok(new URL(page.url()).searchParams.get('kind') === 'recharge');

	// 14 spends: the consumption tab shows 12, then the rest behind "load more"
	for (let i = 0; i < 14; i++) {
		await apiOk('POST', '/credits/consume', {token: me.token, json: {amount: 1, reason: `浏览器测试 ${i + 1}`},
			headers: {'Idempotency-Key': `browser-${crypto.randomBytes(8).toString('hex')}`}});
	}
	await page.locator('.weui-navbar__item[data-kind="consume"]').click();
	await page.locator('#more-area').waitFor({state: 'visible'});
	assert.equal(await page.locator('.ap-record[data-kind="consume"]').count(), 12);
	await shot(page, 'credits_info.png');
	await page.locator('#load-more').click();
	await page.locator('#records-end', {hasText: '没有更多了'}).waitFor({state: 'visible'});
	assert.equal(await page.locator('.ap-record[data-kind="consume"]').count(), 14);
	assert.equal(await page.locator('#more-area').isVisible(), false);
	const ids = await page.locator('.ap-record').evaluateAll((n) => n.map((x) => Number(x.dataset.id)));
	assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first, no duplicates across pages');
	assert.equal(new Set(ids).size, ids.length);
});

test('an expired token restarts sign-in and comes back as the same user', async () => {
	const ctx = await newContext();
	const expired = jwt({iss: 'aiphoto', aud: 'user', sub: String(me.user.id), role: 'user',
		iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600});
	await ctx.addInitScript((t) => {
		if (!sessionStorage.getItem('planted')) {
			sessionStorage.setItem('planted', '1');
			localStorage.setItem('aiphoto.token', t);
		}
	}, expired);
	const {page, navs} = await open(ctx, 'member.html');
	await page.locator('#view').waitFor({state: 'visible'});
	assert.ok(navs.some((u) => u.startsWith(`${BASE}/api/v1/auth/wechat/authorize?`)), navs.join('\n'));
	const fresh = await tokenOf(page);
	assert.notEqual(fresh, expired);
	assert.equal((await apiOk('GET', '/user/me', {token: fresh})).id, me.user.id);
	assert.equal((await page.locator('#user-id').textContent()).trim(), `ID ${me.user.id}`);

	// a token that looks valid but that the server refuses (401) does the same
	const forged = jwt({iss: 'aiphoto', aud: 'user', sub: String(me.user.id), role: 'user',
		iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3600});
	await page.evaluate((t) => localStorage.setItem('aiphoto.token', t), forged);
	const before = navs.length;
	const refused = page.waitForResponse((r) => r.url().includes('/api/v1/') && r.status() === 401);
	await page.goto(`${BASE}/wechat/credits_info.html?kind=recharge`);
	await refused;
	await page.locator('#view').waitFor({state: 'visible'});
	await page.locator('.ap-record, #records-end').first().waitFor();
	assert.ok(navs.slice(before).some((u) => u.includes('/api/v1/auth/wechat/authorize?redirect=%2Fwechat%2Fcredits_info.html%3Fkind%3Drecharge&scope=snsapi_base')),
		navs.slice(before).join('\n'));
	await page.waitForURL(`${BASE}/wechat/credits_info.html?kind=recharge`);
	// the address above is also the one before the sign-in: wait for the new token itself
	await page.waitForFunction((t) => {
		const v = localStorage.getItem('aiphoto.token');
		return v && v !== t;
	}, forged);
	const again = await tokenOf(page);
	assert.notEqual(again, forged);
	assert.equal((await apiOk('GET', '/user/me', {token: again})).id, me.user.id);
	await ctx.close();
});

test('a used OAuth code shows a readable error with a way to sign in again', async () => {
	const ctx = await newContext();
	const {page} = await open(ctx, 'member.html');
	await page.locator('#view').waitFor({state: 'visible'});
	// the same code and state again (a reload of the address WeChat sent back): state used up
	const auth = await call(api, 'GET', '/api/v1/auth/wechat/authorize?redirect=%2Fwechat%2Fcredits.html&scope=snsapi_base');
	const state = new URL(auth.headers.location.replace('#wechat_redirect', '')).searchParams.get('state');
	const code = await call(sim, 'POST', '/__sim/oauth/code', {json: {openid: me.openid}});
	await apiOk('POST', '/auth/wechat/oauth', {json: {code: code.body.code, state}});
	await page.goto(`${BASE}/wechat/credits.html?code=${code.body.code}&state=${state}`);
	await page.locator('#ap-fatal').waitFor({state: 'visible'});
	assert.ok((await page.locator('#ap-fatal-message').textContent()).includes('state'));
	await page.locator('#ap-retry').click();
	await page.locator('#view').waitFor({state: 'visible'});
	await page.waitForURL(`${BASE}/wechat/credits.html`);
	await ctx.close();
});

test('every page has a 360×640 screenshot and nothing left the machine', async () => {
	if (me.ctx) await me.ctx.close();
	for (const name of SHOTS) {
		assert.deepEqual(pngSize(path.join(ARTIFACTS, name)), {width: 360, height: 640}, name);
	}
	assert.deepEqual(blocked, [], 'requests to other hosts');
});
