'use strict';
/*
 * The H5 studio in the browser (studio.html, task.html, works.html): Debian's Chromium,
 * headless, against the stack of tests/browser/run, with the real aiphoto-dispatch run at
 * the moments the tests choose and the simulator's AI providers doing the work.
 *
 * At 360×640 and at 414×896, a new follower signs in through OAuth, sees an upload refused
 * with the server's message, uploads two photos (one so large that the page scales it down
 * first), chooses a scene, generates a batch of 5 (the first answer is lost on the way and the
 * tap repeated, then a double tap: one task, charged once), watches it complete, favourites
 * and deletes works, tries a garment on through a stand-in for WeChat's JS-SDK (served in place
 * of the vendored file, its signature checked), sees that outside WeChat the SDK is never
 * requested, cancels a running batch and sees the refund, and meets a short balance with its
 * way to buy credits. Then the address an iPhone signs is checked, and the page weight of every
 * page is measured as transferred (compressed). Every page and state is captured into
 * AIPHOTO_ARTIFACTS as studio-<size>-<state>.png. Every request to a host other than the
 * loopback addresses is refused and fails the run.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const {execFile} = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const {request} = require('playwright-core');
const H = require('./helpers');

const {REPO, BASE, SIM, ARTIFACTS, call, open, png, pngSize} = H;
const BUILD = path.join(REPO, process.env.AIPHOTO_BUILD || 'build');
const SIZES = [{width: 360, height: 640}, {width: 414, height: 896}];
const BUDGET = 150 * 1024; // bytes a page may weigh before its images
const PAGES = ['studio.html', 'task.html', 'works.html', 'member.html', 'credits.html', 'credits_info.html'];

let browser;
let api;
let sim;
const blocked = [];
const shots = [];

/* ------------------------------------------------------------------ helpers */

function apiOk(method, p, opts) {
	return H.apiOk(api, method, p, opts);
}

function run(file, args, env) {
	return new Promise((resolve, reject) => {
		execFile(file, args, {cwd: REPO, env: Object.assign({}, process.env, env || {}), timeout: 120000},
			(err, stdout, stderr) => (err ? reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${stderr}`)) :
				resolve(stdout)));
	});
}

/* One run of the real dispatcher until nothing is due (as tests/integration/test_dispatch.py). */
function dispatch() {
	return run(path.join(BUILD, 'aiphoto-dispatch'), ['--until-idle'],
		{DISPATCH_RETRY_BASE_MS: '100', DISPATCH_BUDGET_SECONDS: '30'});
}

/* Credits bought the way a user buys them (helpers.js): the order, once paid. */
function buyCredits(token, packageId) {
	return H.buyCredits(api, sim, token, packageId, 'studio-');
}

/*
 * A stand-in for WeChat's JS-SDK, as the script served in place of the vendored jweixin.js:
 * it records its calls in window.__wxCalls, confirms wx.config, and chooseImage hands back
 * local ids whose data (base64, by id) getLocalImgData gives, the way WeChat does.
 */
function wxStandIn(data, refuse) {
	return `(function (data, refuse) {
		'use strict';
		let n = 0;
		window.__wxCalls = [];
		window.wx = {
			config(c) { window.__wxCalls.push(['config', c]); },
			ready(fn) { if (!refuse) setTimeout(fn, 10); },
			error(fn) { if (refuse) setTimeout(() => fn({errMsg: 'config:invalid signature'}), 10); },
			chooseImage(o) {
				window.__wxCalls.push(['chooseImage', o.count]);
				const ids = Object.keys(data);
				setTimeout(() => o.success({localIds: [ids[n++ % ids.length]]}), 10);
			},
			getLocalImgData(o) { setTimeout(() => o.success({localData: data[o.localId]}), 10); },
			previewImage(o) { window.__wxCalls.push(['previewImage', o.current]); }
		};
	})(${JSON.stringify(data)}, ${refuse ? 'true' : 'false'});`;
}

/*
 * Serves the stand-in in place of the vendored SDK (refuse: wx.config fails as WeChat's does on
 * a bad signature); returns the list of its loads.
 */
async function serveStandIn(ctx, data, refuse) {
	const loads = [];
	await ctx.route(`${BASE}/wechat/vendor/jweixin/jweixin.js`, (route) => {
		loads.push(route.request().url());
		return route.fulfill({status: 200, contentType: 'text/javascript', body: wxStandIn(data, refuse)});
	});
	return loads;
}

async function shot(page, size, state, opts) {
	const name = `studio-${size.width}x${size.height}-${state}.png`;
	await H.shot(page, name, opts);
	shots.push({name, size});
}

async function textOf(page, sel) {
	return (await page.locator(sel).textContent()).trim();
}

/* ------------------------------------------------------------------ the tests */

test.before(async () => {
	browser = await H.launch();
	// Connection: close: lighttpd drops a connection idle for 5 s (max-keep-alive-idle), and
	// a POST sent on a kept-alive connection just as it is dropped fails with "socket hang up"
	api = await request.newContext({baseURL: BASE, extraHTTPHeaders: {Connection: 'close'}});
	sim = await request.newContext({baseURL: SIM});
	fs.mkdirSync(ARTIFACTS, {recursive: true});
	for (const f of fs.readdirSync(ARTIFACTS)) if (f.startsWith('studio-')) fs.rmSync(path.join(ARTIFACTS, f));
});

test.after(async () => {
	if (browser) await browser.close();
	if (api) await api.dispose();
	if (sim) await sim.dispose();
});

test('the studio pages load nothing from another site', () => {
	for (const file of ['studio.html', 'task.html', 'works.html']) {
		const html = fs.readFileSync(path.join(REPO, 'wechat-pages', file), 'utf8');
		assert.ok(!/(src|href)="(https?:)?\/\//.test(html), `${file} loads something from another site`);
		assert.ok(html.includes('vendor/weui/weui.min.css') && html.includes('src="app.js"'), file);
		assert.ok(html.includes(`<nav class="ap-tabbar" aria-label="页面导航" data-current="${file}">`), `${file} has the tab bar`);
	}
	for (const file of fs.readdirSync(path.join(REPO, 'wechat-pages')).filter((f) => f.endsWith('.js'))) {
		const js = fs.readFileSync(path.join(REPO, 'wechat-pages', file), 'utf8');
		assert.ok(!/["'`](https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i.test(js), `${file} names another site`);
	}
});

for (const size of SIZES) {
	const label = `${size.width}×${size.height}`;
	const me = {openid: 'ostudio' + crypto.randomBytes(10).toString('hex'), nickname: '创作测试'};
	const s = {}; // what the steps of this size hand on

	test(`${label}: sign in through OAuth on studio.html, see the price and the balance`, async () => {
		const ctx = await H.newContext(browser, {who: me, blocked, viewport: size});
		const sdk = [];
		const signedFor = [];
		ctx.on('request', (r) => {
			if (r.url().includes('/vendor/jweixin/')) sdk.push(r.url());
			if (r.url().startsWith(`${BASE}/api/v1/auth/wechat/jssdk?`)) signedFor.push(new URL(r.url()).searchParams.get('url'));
		});
		const {page, navs, errors} = await open(ctx, 'studio.html');
		await page.locator('#view').waitFor({state: 'visible'});
		assert.ok(navs.some((u) => u.startsWith(`${BASE}/api/v1/auth/wechat/authorize?redirect=%2Fwechat%2Fstudio.html`)), navs.join('\n'));
		await page.waitForURL(`${BASE}/wechat/studio.html`);
		// WeChat on Android checks the signature against the current address: the one without
		// the sign-in's code and state
		await page.locator('html[data-wx]').waitFor({state: 'attached'});
		assert.deepEqual(signedFor, [`${BASE}/wechat/studio.html`]);
		s.token = await page.evaluate(() => localStorage.getItem('aiphoto.token'));
		s.user = await apiOk('GET', '/user/me', {token: s.token});
		s.pricing = await apiOk('GET', '/config/pricing');
		// the largest package that leaves a batch of 50 out of reach: enough for a batch of 5,
		// a try-on and a batch to cancel
		const need = 10 * s.pricing.photography + s.pricing.fitting;
		const packages = (await apiOk('GET', '/credits/packages')).filter((p) => p.credits + p.bonus_credits >= need &&
			p.credits + p.bonus_credits < 50 * s.pricing.photography - need);
		assert.ok(packages.length, 'a package of the right size');
		await buyCredits(s.token, packages[0].id);
		await page.reload();
		await page.locator('#view').waitFor({state: 'visible'});
		s.credits = (await apiOk('GET', '/user/credits', {token: s.token})).credits;
		assert.equal(await textOf(page, '#balance'), String(s.credits));
		assert.equal(await textOf(page, '#unit-price'), String(s.pricing.photography));
		assert.equal(await textOf(page, '#total-price'), String(5 * s.pricing.photography));
		assert.equal(await page.locator('#generate').isDisabled(), true, 'nothing chosen yet');
		// the tab bar leads to every page, this one marked
		assert.deepEqual(await page.locator('.ap-tabbar a').evaluateAll((n) => n.map((a) =>
			[a.getAttribute('href'), a.getAttribute('aria-current')])), [['member.html', null],
			['studio.html', 'page'], ['task.html', null], ['works.html', null], ['credits.html', null]]);
		// touch targets: every button and link on the page is at least 44 px high
		const small = await page.evaluate(() => Array.from(document.querySelectorAll('button, .ap-tabbar a'))
			.filter((n) => n.offsetParent !== null && n.getBoundingClientRect().height < 44)
			.map((n) => n.id || n.textContent));
		assert.deepEqual(small, [], 'touch targets under 44 px');
		// inside WeChat the page loads WeChat's JS-SDK from this server (the real vendored file,
		// which defines wx and jWeixin); a headless browser has no WeixinJSBridge, so wx.config
		// never confirms and the page settles on the file input
		await page.locator('html[data-wx="off"]').waitFor({state: 'attached'});
		assert.deepEqual([...new Set(sdk)], [`${BASE}/wechat/vendor/jweixin/jweixin.js`]);
		assert.equal(await page.evaluate(() => typeof window.jWeixin.chooseImage === 'function' && window.wx === window.jWeixin), true);
		assert.deepEqual(errors, []);
		await shot(page, size, 'studio');
		s.ctx = ctx;
		s.page = page;
	});

	test(`${label}: a refused upload shows the server's message`, async () => {
		const {page} = s;
		const bytes = Buffer.from('this is a text file, not a photo\n');
		const direct = await call(api, 'POST', '/api/v1/uploads', {token: s.token,
			multipart: {file: {name: 'notes.jpg', mimeType: 'image/jpeg', buffer: bytes}}});
		assert.equal(direct.status, 415, JSON.stringify(direct.body));
		await page.locator('#photo-input').setInputFiles({name: 'notes.jpg', mimeType: 'image/jpeg', buffer: bytes});
		await page.locator('#upload-error', {hasText: direct.body.message}).waitFor({state: 'visible'});
		await page.locator('#ap-tip', {hasText: direct.body.message}).waitFor({state: 'visible'});
		assert.equal(await page.locator('#photos [data-asset]').count(), 0);
		await shot(page, size, 'upload-refused', {keepTip: true});
	});

	test(`${label}: two photos uploaded (a very large one scaled down first), a scene chosen`, async () => {
		const {page} = s;
		const uploads = [];
		page.on('response', async (r) => {
			if (r.url().endsWith('/api/v1/uploads') && r.request().method() === 'POST') {
				try { uploads.push((await r.json()).data); } catch (e) { uploads.push(null); }
			}
		});
		// the way a person does it: the "add" tile opens the phone's picker
		const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('#add-photos').click()]);
		assert.equal(chooser.isMultiple(), true);
		await chooser.setFiles([
			{name: 'big.png', mimeType: 'image/png', buffer: png(4200, 3000, [200, 150, 120])},
			{name: 'small.png', mimeType: 'image/png', buffer: png(640, 800, [90, 140, 200])}
		]);
		await page.waitForFunction(() => document.querySelectorAll('#photos [data-asset]').length === 2,
			null, {timeout: 30000});
		for (let i = 0; i < 50 && uploads.length < 2; i++) await page.waitForTimeout(100);
		assert.equal(uploads.length, 2);
		const sizes = uploads.map((a) => [a.width, a.height]).sort((a, b) => b[0] - a[0]);
		assert.deepEqual(sizes[0], [3072, 2194], 'the 4200×3000 photo was sent as 3072 wide');
		assert.equal(uploads.find((a) => a.width === 3072).mime, 'image/jpeg');
		assert.deepEqual(sizes[1], [640, 800], 'a normal photo is sent as it is');
		s.assets = uploads.map((a) => a.asset_id);

		const scenes = await apiOk('GET', '/scenes');
		const cats = [...new Set(scenes.map((x) => x.category))];
		assert.equal(await page.locator('#categories .ap-chip').count(), cats.length);
		const cat = cats[cats.length - 1];
		await page.locator('#categories .ap-chip', {hasText: cat}).click();
		const scene = scenes.find((x) => x.category === cat);
		await page.locator(`.ap-scene[data-scene="${scene.id}"]`).click();
		assert.equal(await page.locator(`.ap-scene[data-scene="${scene.id}"]`).getAttribute('aria-pressed'), 'true');
		// scene tiles keep their square whether or not the thumbnail loads: no layout jump
		const box = await page.locator(`.ap-scene[data-scene="${scene.id}"]`).boundingBox();
		assert.ok(Math.abs(box.width - box.height) < 1.5, JSON.stringify(box));
		assert.equal(await page.locator('#generate').isEnabled(), true);
		s.scene = scene;
		await shot(page, size, 'studio-ready');
	});

	test(`${label}: generating 5 charges once, after a lost answer and a double tap`, async () => {
		const {page, ctx} = s;
		const posts = [];
		page.on('request', (r) => {
			if (r.url().endsWith('/api/v1/tasks/photography')) posts.push(r.headers()['idempotency-key']);
		});
		// the first answer is lost on the way back: the server has made the task, the page
		// sees a network error, and the user taps again
		let lost = false;
		await ctx.route('**/api/v1/tasks/photography', async (route) => {
			if (lost) return route.continue();
			lost = true;
			await route.fetch();
			return route.abort('connectionreset');
		});
		await page.locator('#generate').click();
		await page.locator('#ap-tip', {hasText: '网络连接失败'}).waitFor({state: 'visible'});
		const after1 = (await apiOk('GET', '/user/credits', {token: s.token})).credits;
		assert.equal(after1, s.credits - 5 * s.pricing.photography, 'the lost request was charged');
		await page.locator('#generate').dblclick();
		await page.waitForURL(/\/wechat\/task\.html\?id=\d+$/, {timeout: 30000});
		s.task = Number(new URL(page.url()).searchParams.get('id'));
		assert.equal(posts.length, 2, 'the double tap sent one request');
		assert.equal(posts[0], posts[1], 'the same Idempotency-Key both times');
		const tasks = await apiOk('GET', '/tasks', {token: s.token});
		assert.deepEqual(tasks.items.map((t) => t.id), [s.task], 'one task');
		const credits = (await apiOk('GET', '/user/credits', {token: s.token})).credits;
		assert.equal(credits, s.credits - 5 * s.pricing.photography, 'charged exactly once');
		s.credits = credits;
		const t = await apiOk('GET', `/tasks/${s.task}`, {token: s.token});
		assert.equal(t.count, 5);
		assert.equal(t.credits_charged, 5 * s.pricing.photography);
		await ctx.unroute('**/api/v1/tasks/photography');
		await page.locator('#task-status[data-status="queued"]').waitFor();
		assert.equal(await page.locator('.ap-work').count(), 5, 'five places kept for the images');
		await shot(page, size, 'task-queued');
	});

	test(`${label}: the batch completes while the page watches`, async () => {
		const {page} = s;
		await dispatch();
		await page.locator('#task-status[data-status="completed"]').waitFor({timeout: 30000});
		await page.waitForFunction(() => document.querySelectorAll('.ap-work[data-status="succeeded"] img').length === 5);
		assert.match(await textOf(page, '#task-progress'), /已完成 5 张 · 失败 0 张 · 剩余 0 张/);
		assert.equal(await page.locator('#cancel').isVisible(), false);
		assert.equal(await page.locator('#task-refund').isVisible(), false);
		// the page stops asking once the task has ended
		let polls = 0;
		page.on('request', (r) => { if (r.url().includes(`/api/v1/tasks/${s.task}`)) polls++; });
		await page.waitForTimeout(2500);
		assert.equal(polls, 0, 'no polling after the end');
		await shot(page, size, 'task-completed');
		// coming back later: the page says it ended
		await page.goto(`${BASE}/wechat/task.html`);
		await page.locator(`.ap-task-row[data-task="${s.task}"]`, {hasText: '已完成'}).waitFor();
		await shot(page, size, 'tasks');
		await page.locator(`.ap-task-row[data-task="${s.task}"]`).click();
		await page.locator('#task-status[data-status="completed"]').waitFor();
		assert.equal((await apiOk('GET', '/user/credits', {token: s.token})).credits, s.credits);
	});

	test(`${label}: works: favourite, delete one, delete two, full image`, async () => {
		const {page} = s;
		await page.goto(`${BASE}/wechat/works.html`);
		await page.locator('.weui-navbar__item.weui-bar__item_on[data-tab="all"]').waitFor();
		await page.waitForFunction(() => document.querySelectorAll('#works .ap-work').length === 5);
		const ids = await page.locator('#works .ap-work').evaluateAll((n) => n.map((x) => Number(x.dataset.work)));
		const listed = await apiOk('GET', '/works?tab=all', {token: s.token});
		assert.deepEqual(ids, listed.items.map((w) => w.id));
		// batch download is offered only where the server has the route
		const probe = await call(api, 'POST', '/api/v1/works/download', {token: s.token, json: {ids: []}});
		const hasZip = probe.status !== 404 && probe.status !== 405 && probe.status < 500;

		const first = page.locator(`#works .ap-work[data-work="${ids[0]}"]`);
		await first.locator('.ap-tile-fav').click();
		await page.locator(`#works .ap-work[data-work="${ids[0]}"] .ap-tile-fav[aria-pressed="true"]`).waitFor();
		assert.equal((await apiOk('GET', `/works/${ids[0]}`, {token: s.token})).is_favorite, true);
		await page.locator('.weui-navbar__item[data-tab="favorite"]').click();
		await page.waitForFunction(() => document.querySelectorAll('#works .ap-work').length === 1);
		await shot(page, size, 'works-favorites');
		await page.locator('.weui-navbar__item[data-tab="all"]').click();
		await page.waitForFunction(() => document.querySelectorAll('#works .ap-work').length === 5);

		// the full image; inside WeChat the page says how to save it
		await page.locator(`#works .ap-work[data-work="${ids[1]}"] img`).click();
		await page.locator('#ap-viewer', {hasText: '长按'}).waitFor({state: 'visible'});
		await shot(page, size, 'works-viewer');
		await page.locator('#ap-viewer-close').click();

		await page.locator('#select-mode').click();
		assert.equal(await page.locator('#download-selected').isVisible(), false,
			'inside WeChat no ZIP download is offered');
		await page.locator(`#works .ap-work[data-work="${ids[4]}"]`).click();
		await page.locator('#delete-selected').click();
		await page.locator('#ap-confirm').waitFor({state: 'visible'});
		await shot(page, size, 'works-confirm-delete');
		// cancelling the confirmation deletes nothing
		await page.locator('#ap-confirm-cancel').click();
		assert.equal((await apiOk('GET', '/works?tab=all', {token: s.token})).items.length, 5);
		await page.locator('#delete-selected').click();
		await page.locator('#ap-confirm-ok').click();
		await page.locator(`#works .ap-work[data-work="${ids[4]}"]`).waitFor({state: 'detached'});
		assert.equal((await apiOk('GET', '/works?tab=all', {token: s.token})).items.length, 4);

		await page.locator(`#works .ap-work[data-work="${ids[2]}"]`).click();
		await page.locator(`#works .ap-work[data-work="${ids[3]}"]`).click();
		await page.locator('#delete-selected', {hasText: '删除 2 张'}).click();
		await page.locator('#ap-confirm-ok').click();
		await page.waitForFunction(() => document.querySelectorAll('#works .ap-work').length === 2);
		const left = (await apiOk('GET', '/works?tab=all', {token: s.token})).items.map((w) => w.id);
		assert.deepEqual(left, [ids[0], ids[1]]);
		await page.locator('#select-mode').click();
		await shot(page, size, 'works');

		// outside WeChat the ZIP download is offered exactly when the server answers it
		const plain = await H.newContext(browser, {who: me, blocked, viewport: size, wechat: false});
		await plain.addInitScript((t) => localStorage.setItem('aiphoto.token', t), s.token);
		const p2 = (await open(plain, 'works.html')).page;
		await p2.waitForFunction(() => document.querySelectorAll('#works .ap-work').length === 2);
		await p2.locator('#select-mode').click();
		assert.equal(await p2.locator('#download-selected').isVisible(), hasZip);
		assert.equal(await p2.locator('#save-hint').isVisible(), false);
		await plain.close();
	});

	test(`${label}: a try-on end to end through WeChat's chooseImage`, async () => {
		const ctx = await H.newContext(browser, {who: me, blocked, viewport: size});
		await ctx.addInitScript((t) => localStorage.setItem('aiphoto.token', t), s.token);
		// a stand-in for WeChat's JS-SDK, served in place of the vendored file the page loads:
		// chooseImage hands back local ids whose data getLocalImgData gives as base64, the way
		// WeChat does
		const person = png(600, 800, [230, 200, 180]).toString('base64');
		const garment = png(500, 500, [30, 60, 160]).toString('base64');
		const sdkLoads = await serveStandIn(ctx, {'wxLocalResource://person': person, 'wxLocalResource://garment': garment});
		const signed = [];
		ctx.on('response', async (r) => {
			if (r.url().startsWith(`${BASE}/api/v1/auth/wechat/jssdk?`)) signed.push({url: r.url(), body: await r.json()});
		});
		const uploaded = [];
		ctx.on('response', async (r) => {
			if (r.url() === `${BASE}/api/v1/uploads` && r.request().method() === 'POST') uploaded.push((await r.json()).data);
		});
		const {page, errors} = await open(ctx, 'studio.html?kind=fitting');
		await page.locator('#fitting-section').waitFor({state: 'visible'});
		await page.locator('html[data-wx="ready"]').waitFor({state: 'attached'});
		assert.equal(sdkLoads.length, 1);
		assert.equal(await textOf(page, '#unit-price'), String(s.pricing.fitting));
		await page.locator('#count').fill('1');
		await page.locator('#count').dispatchEvent('change');
		await page.locator('#add-person').click();
		await page.locator('#slot-person [data-asset]').waitFor();
		await page.locator('#add-garment').click();
		await page.locator('#slot-garment [data-asset]').waitFor();
		const calls = await page.evaluate(() => window.__wxCalls);
		const config = calls.find((c) => c[0] === 'config')[1];
		assert.ok(config.jsApiList.includes('chooseImage') && config.jsApiList.includes('getLocalImgData'), JSON.stringify(config));
		// wx.config got exactly what /auth/wechat/jssdk signed for this page's address, and the
		// signature is WeChat's: SHA-1 over the simulator's jsapi_ticket, the nonce, the time and
		// the address without its fragment
		assert.equal(signed.length, 1);
		const pageUrl = page.url().split('#')[0];
		assert.equal(new URL(signed[0].url).searchParams.get('url'), pageUrl);
		const sig = signed[0].body.data;
		assert.deepEqual({appId: config.appId, timestamp: config.timestamp, nonceStr: config.nonceStr, signature: config.signature},
			{appId: sig.appId, timestamp: sig.timestamp, nonceStr: sig.nonceStr, signature: sig.signature});
		const ticket = (await call(sim, 'GET', '/__sim/stats')).body.jsapi_ticket;
		assert.equal(sig.signature, crypto.createHash('sha1')
			.update(`jsapi_ticket=${ticket}&noncestr=${sig.nonceStr}&timestamp=${sig.timestamp}&url=${pageUrl}`).digest('hex'));
		assert.equal(calls.filter((c) => c[0] === 'chooseImage').length, 2);
		// the photos getLocalImgData gave went up through the page's one upload path
		assert.deepEqual(uploaded.map((a) => [a.width, a.height]), [[600, 800], [500, 500]]);
		assert.deepEqual(uploaded.map((a) => String(a.asset_id)), [
			await page.locator('#slot-person [data-asset]').getAttribute('data-asset'),
			await page.locator('#slot-garment [data-asset]').getAttribute('data-asset')]);
		assert.equal(await textOf(page, '#total-price'), String(s.pricing.fitting));
		await shot(page, size, 'tryon-ready');
		await page.locator('#generate').click();
		await page.waitForURL(/\/wechat\/task\.html\?id=\d+$/);
		const id = Number(new URL(page.url()).searchParams.get('id'));
		const t = await apiOk('GET', `/tasks/${id}`, {token: s.token});
		assert.equal(t.type, 'fitting');
		assert.equal(t.credits_charged, s.pricing.fitting);
		await dispatch();
		await page.locator('#task-status[data-status="completed"]').waitFor({timeout: 30000});
		await page.locator('.ap-work[data-status="succeeded"] img').click();
		await page.waitForFunction(() => window.__wxCalls.some((c) => c[0] === 'previewImage'));
		await shot(page, size, 'tryon-completed');
		s.credits -= s.pricing.fitting;
		assert.equal((await apiOk('GET', '/user/credits', {token: s.token})).credits, s.credits);
		assert.deepEqual(errors, []);
		await ctx.close();
	});

	test(`${label}: outside WeChat the JS-SDK is never requested, the file input is used`, async () => {
		const ctx = await H.newContext(browser, {who: me, blocked, viewport: size, wechat: false});
		await ctx.addInitScript((t) => localStorage.setItem('aiphoto.token', t), s.token);
		const asked = [];
		ctx.on('request', (r) => {
			const u = r.url();
			if (u.includes('jweixin') || u.includes('/auth/wechat/jssdk')) asked.push(u);
		});
		const {page, errors} = await open(ctx, 'studio.html');
		await page.locator('#view').waitFor({state: 'visible'});
		await page.locator('html[data-wx="off"]').waitFor({state: 'attached'});
		const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('#add-photos').click()]);
		assert.equal(chooser.isMultiple(), true);
		await page.goto(`${BASE}/wechat/works.html`);
		await page.locator('#works .ap-work img').first().click();
		await page.locator('#ap-viewer').waitFor({state: 'visible'});
		assert.equal(await page.locator('#ap-viewer', {hasText: '长按'}).count(), 0, 'no WeChat hint outside WeChat');
		assert.equal(await page.evaluate(() => typeof window.wx), 'undefined');
		assert.deepEqual(asked, []);
		assert.deepEqual(errors, []);
		await ctx.close();
	});

	test(`${label}: cancelling a running batch refunds what had not started`, async () => {
		const {page} = s;
		const price = s.pricing.photography;
		const t = await apiOk('POST', '/tasks/photography', {token: s.token,
			json: {scene_id: s.scene.id, asset_ids: s.assets, count: 5},
			headers: {'Idempotency-Key': 'studio-cancel-' + crypto.randomBytes(6).toString('hex')}});
		assert.equal((await apiOk('GET', '/user/credits', {token: s.token})).credits, s.credits - t.credits_charged);
		await page.goto(`${BASE}/wechat/task.html?id=${t.id}`);
		await page.locator('#cancel').waitFor({state: 'visible'});
		// slow images, one at a time: the batch is running when the user cancels it
		await call(sim, 'POST', '/__sim/ai/config', {json: {latency_ms: 1500}});
		const running = run(path.join(BUILD, 'aiphoto-dispatch'), ['--until-idle'],
			{DISPATCH_RETRY_BASE_MS: '100', DISPATCH_BUDGET_SECONDS: '60', DISPATCH_CONCURRENCY: '1'});
		try {
			await page.locator('.ap-work[data-status="succeeded"]').first().waitFor({timeout: 30000});
			await page.locator('#cancel').click();
			await page.locator('#ap-confirm').waitFor({state: 'visible'});
			await shot(page, size, 'task-confirm-cancel');
			const answer = page.waitForResponse((r) => r.url().endsWith(`/api/v1/tasks/${t.id}/cancel`));
			await page.locator('#ap-confirm-ok').click();
			const canceled = (await (await answer).json()).data;
			assert.ok(canceled.canceled >= 1 && canceled.done >= 1, JSON.stringify(canceled));
			assert.equal(canceled.credits_refunded, canceled.canceled * price);
			await page.locator('#task-refund', {hasText: `已退还 ${canceled.credits_refunded} 积分`}).waitFor({state: 'visible'});
			await shot(page, size, 'task-canceled');
			await running;
		} finally {
			await call(sim, 'POST', '/__sim/ai/config', {json: {latency_ms: 0}});
			await running.catch(() => {});
		}
		// the image in flight when the user cancelled was finished: the page shows the end
		const end = await apiOk('GET', `/tasks/${t.id}`, {token: s.token});
		assert.ok(['canceled', 'partial', 'completed'].includes(end.status), end.status);
		await page.locator(`#task-status[data-status="${end.status}"]`).waitFor({timeout: 30000});
		assert.equal(end.done + end.canceled + end.failed, 5);
		assert.equal(end.credits_charged - end.credits_refunded, end.done * price, 'paid for what was made');
		assert.equal(await page.locator('.ap-work[data-status="succeeded"] img').count(), end.done);
		s.credits -= end.done * price;
		assert.equal((await apiOk('GET', '/user/credits', {token: s.token})).credits, s.credits);
		await shot(page, size, 'task-canceled-end');
	});

	test(`${label}: a short balance links to buying credits and back`, async () => {
		const {page} = s;
		await page.goto(`${BASE}/wechat/studio.html?kind=photography`);
		await page.locator('#view').waitFor({state: 'visible'});
		await page.locator('#photo-input').setInputFiles({name: 'again.png', mimeType: 'image/png',
			buffer: png(640, 800, [90, 140, 200])});
		await page.locator('#photos [data-asset]').first().waitFor();
		await page.locator('.ap-scene').first().click();
		await page.locator('#count').fill('50');
		await page.locator('#count').dispatchEvent('change');
		await page.locator('#short').waitFor({state: 'visible'});
		assert.equal(await page.locator('#generate').isDisabled(), true);
		await shot(page, size, 'studio-short');
		await page.locator('#buy-link').click();
		await page.waitForURL(`${BASE}/wechat/credits.html?back=studio.html`);
		await page.locator('#back-link').waitFor({state: 'visible'});
		await page.locator('#back-link').click();
		await page.waitForURL(`${BASE}/wechat/studio.html`);
		await page.locator('#photos [data-asset]').first().waitFor();
		assert.equal(await page.locator('#count').inputValue(), '50', 'the choices came back');
		assert.equal(await page.locator('.ap-scene[aria-pressed="true"]').count(), 1);
		await s.ctx.close();
	});
	test(`${label}: the gallery loads the next page on the cursor as it scrolls`, async () => {
		const t = await apiOk('POST', '/tasks/photography', {token: s.token,
			json: {scene_id: s.scene.id, asset_ids: s.assets, count: 12},
			headers: {'Idempotency-Key': 'studio-scroll-' + crypto.randomBytes(6).toString('hex')}});
		await dispatch();
		const done = await apiOk('GET', `/tasks/${t.id}`, {token: s.token});
		assert.equal(done.status, 'completed');
		const all = [];
		for (let cursor = null, first = true; first || cursor; first = false) {
			const page = await apiOk('GET', '/works?tab=all' + (cursor ? `&cursor=${cursor}` : ''), {token: s.token});
			all.push(...page.items.map((w) => w.id));
			cursor = page.next_cursor;
		}
		assert.ok(all.length > 12, `${all.length} works`);
		const ctx = await H.newContext(browser, {who: me, blocked, viewport: size});
		await ctx.addInitScript((tok) => localStorage.setItem('aiphoto.token', tok), s.token);
		// listened to before the page opens: it may ask for the next page before goto returns
		const asked = [];
		ctx.on('request', (r) => { if (r.url().includes('/api/v1/works?')) asked.push(new URL(r.url()).searchParams.get('cursor')); });
		const {page, errors} = await open(ctx, 'works.html');
		await page.waitForFunction(() => document.querySelectorAll('#works .ap-work').length >= 12);
		await page.locator('#sentinel').scrollIntoViewIfNeeded();
		await page.locator('#works-end', {hasText: '没有更多了'}).waitFor({state: 'visible'});
		const ids = await page.locator('#works .ap-work').evaluateAll((n) => n.map((x) => Number(x.dataset.work)));
		assert.deepEqual(ids, all, 'every work once, newest first, across the pages');
		assert.ok(asked.some((c) => c), 'the next page was asked for with the cursor');
		assert.equal(await page.locator('#more-area').isVisible(), false, 'no button where scrolling does it');
		assert.deepEqual(errors, []);
		await ctx.close();
	});
}

test('WeChat on iOS: the JS-SDK is signed for the address the page was opened at', async () => {
	const me = {openid: 'ostudioios' + crypto.randomBytes(8).toString('hex'), nickname: '苹果用户'};
	const ctx = await H.newContext(browser, {who: me, blocked, viewport: {width: 390, height: 844},
		userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) ' +
			'Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN'});
	const loads = await serveStandIn(ctx, {'wxLocalResource://a': png(64, 64, [1, 2, 3]).toString('base64')});
	const signed = [];
	ctx.on('response', async (r) => {
		if (r.url().startsWith(`${BASE}/api/v1/auth/wechat/jssdk?`)) signed.push({url: r.url(), body: await r.json()});
	});
	// signed out: the page goes through OAuth and lands back with code and state, which it
	// then removes from the address bar
	const {page, navs, errors} = await open(ctx, 'studio.html?kind=fitting');
	await page.locator('html[data-wx="ready"]').waitFor({state: 'attached'});
	const landing = navs.find((u) => u.startsWith(`${BASE}/wechat/studio.html?`) && u.includes('code='));
	assert.ok(landing, navs.join('\n'));
	assert.equal(page.url(), `${BASE}/wechat/studio.html?kind=fitting`);
	assert.equal(loads.length, 1);
	assert.equal(signed.length, 1);
	assert.equal(new URL(signed[0].url).searchParams.get('url'), landing.split('#')[0]);
	const config = (await page.evaluate(() => window.__wxCalls)).find((c) => c[0] === 'config')[1];
	assert.equal(config.signature, signed[0].body.data.signature);
	const ticket = (await call(sim, 'GET', '/__sim/stats')).body.jsapi_ticket;
	const sig = signed[0].body.data;
	assert.equal(sig.signature, crypto.createHash('sha1')
		.update(`jsapi_ticket=${ticket}&noncestr=${sig.nonceStr}&timestamp=${sig.timestamp}&url=${landing.split('#')[0]}`).digest('hex'));
	assert.deepEqual(errors, []);
	await ctx.close();
});

test('inside WeChat, a refused wx.config or a failing signature leaves the file input', async () => {
	const me = {openid: 'ostudiowxfail' + crypto.randomBytes(8).toString('hex'), nickname: '签名失败'};
	for (const why of ['wx.config refused', '/auth/wechat/jssdk answers 503', 'the SDK file is missing']) {
		const ctx = await H.newContext(browser, {who: me, blocked});
		const loads = why === 'the SDK file is missing' ? null :
			await serveStandIn(ctx, {'wxLocalResource://a': 'AA=='}, why === 'wx.config refused');
		if (why === 'the SDK file is missing') {
			await ctx.route(`${BASE}/wechat/vendor/jweixin/jweixin.js`, (route) => route.fulfill({status: 404, body: ''}));
		}
		if (why === '/auth/wechat/jssdk answers 503') {
			await ctx.route(`${BASE}/api/v1/auth/wechat/jssdk?**`, (route) => route.fulfill({status: 503,
				contentType: 'application/json', body: JSON.stringify({success: false, code: 'UPSTREAM_UNAVAILABLE', message: '微信暂不可用'})}));
		}
		const {page} = await open(ctx, 'studio.html');
		await page.locator('#view').waitFor({state: 'visible'});
		await page.locator('html[data-wx="off"]').waitFor({state: 'attached'});
		const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('#add-photos').click()]);
		assert.equal(chooser.isMultiple(), true, why);
		if (loads) {
			assert.equal(loads.length, 1, why);
			const calls = await page.evaluate(() => window.__wxCalls);
			assert.equal(calls.filter((c) => c[0] === 'chooseImage').length, 0, why);
			assert.equal(calls.filter((c) => c[0] === 'config').length, why === 'wx.config refused' ? 1 : 0, why);
		}
		await ctx.close();
	}
});

test('every page weighs less than the budget before its images', async () => {
	const me = {openid: 'ostudioweight' + crypto.randomBytes(8).toString('hex'), nickname: '页面重量'};
	// inside WeChat, so that the pages that use it load the JS-SDK too; the context routes every
	// request, which keeps Chromium's cache out: each page is weighed as a first visit
	const ctx = await H.newContext(browser, {who: me, blocked});
	// signed in first, so that each measured page loads without the trip through OAuth
	const first = (await open(ctx, 'member.html')).page;
	await first.locator('#view').waitFor({state: 'visible'});
	await first.close();
	const lines = [];
	for (const file of PAGES) {
		const page = await ctx.newPage();
		const seen = [];
		page.on('requestfinished', (req) => seen.push((async () => {
			const res = await req.response();
			const type = req.resourceType();
			if (!res || type === 'image' || res.status() >= 300) return null;
			const sizes = await req.sizes();
			const headers = await res.allHeaders();
			return {url: req.url(), type, wire: sizes.responseHeadersSize + sizes.responseBodySize,
				raw: (await res.body()).length, encoding: headers['content-encoding'] || ''};
		})()));
		await page.goto(`${BASE}/wechat/${file}`);
		await page.locator('#view').waitFor({state: 'visible'});
		await page.waitForTimeout(1500); // what the page asks for once shown (the works' probe, the JS-SDK)
		const got = (await Promise.all(seen)).filter(Boolean);
		const code = got.filter((x) => ['document', 'stylesheet', 'script'].includes(x.type));
		const wire = got.reduce((n, x) => n + x.wire, 0);
		const raw = got.reduce((n, x) => n + x.raw, 0);
		const own = code.filter((x) => !x.url.includes('/vendor/')).reduce((n, x) => n + x.raw, 0);
		const encodings = [...new Set(code.map((x) => x.encoding))].join(',');
		lines.push(`${file}: ${got.length} answers, ${raw} bytes, ${wire} bytes transferred ` +
			`(headers included; page, styles and scripts sent as ${encodings}), own code ${own}`);
		// Chromium asks for compression as a phone does ("gzip, deflate, br"), and the server
		// gives it: every page, style and script arrives compressed, and the page's weight is
		// what was transferred
		for (const x of code) assert.ok(['br', 'gzip'].includes(x.encoding), `${x.url} sent as "${x.encoding}"`);
		assert.ok(wire < BUDGET, `${file}: ${wire} bytes transferred before images`);
		assert.ok(own < BUDGET, `${file}: ${own} bytes of its own code`);
		await page.close();
	}
	fs.writeFileSync(path.join(ARTIFACTS, 'studio-page-weight.txt'), lines.join('\n') + '\n');
	await ctx.close();
});

test('every state has a screenshot of its size and nothing left the machine', () => {
	assert.ok(shots.length >= 2 * 14, `${shots.length} screenshots`);
	for (const {name, size} of shots) {
		assert.deepEqual(pngSize(path.join(ARTIFACTS, name)), {width: size.width, height: size.height}, name);
	}
	assert.deepEqual(blocked, [], 'requests to other hosts');
});
