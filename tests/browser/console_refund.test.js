'use strict';
/*
 * The console's refund dialog (orders page) against the refunds API:
 *   POST /api/v1/admin/orders/:out_trade_no/refunds (operator, Idempotency-Key)
 *        {"amount_fen"?, "reason" (1..80), "if_spent": "refuse"|"take_remaining"} → {"refund": …};
 *        409 when credits were spent and if_spent is "refuse"
 *   GET  /api/v1/admin/orders/:out_trade_no/refunds → {"items": [refund]}
 *
 * In tests/browser/run's default run; by name: tests/browser/run
 * tests/browser/console_refund.test.js. Should the route answer 404 it fails with "refund API
 * missing", never skips.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const {request} = require('playwright-core');
const H = require('./helpers');
const C = require('./console_helpers');

const {BASE, call} = H;

let browser;
let api;
let sim;
const blocked = [];

test.before(async () => {
	browser = await H.launch();
	api = await request.newContext({baseURL: BASE, extraHTTPHeaders: {Connection: 'close'}});
	sim = await request.newContext({baseURL: H.SIM, extraHTTPHeaders: {Connection: 'close'}});
});

test.after(async () => {
	if (browser) await browser.close();
	if (api) await api.dispose();
	if (sim) await sim.dispose();
});

test('refund an order from the orders page (needs the refunds API)', async () => {
	const operator = await C.adminToken(api, 'demo_operator');
	const who = await H.apiSignIn(api, sim, 'oconsolerefund' + crypto.randomBytes(8).toString('hex'));
	const pkg = (await H.apiOk(api, 'GET', '/credits/packages'))[0];
	const order = await H.buyCredits(api, sim, who.token, pkg.id, 'console-refund-');
	const probe = await call(api, 'GET', `/api/v1/admin/orders/${order.out_trade_no}/refunds`, {token: operator});
	if (probe.status === 404) assert.fail(`refund API missing: GET /api/v1/admin/orders/:out_trade_no/refunds answers 404 (${JSON.stringify(probe.body)})`);
	assert.equal(probe.status, 200, JSON.stringify(probe.body));
	assert.deepEqual(probe.body.data.items, []);
	// the user spends a credit: a refund that refuses to take spent credits back answers 409
	await H.apiOk(api, 'POST', '/credits/consume', {token: who.token, json: {amount: 1},
		headers: {'Idempotency-Key': 'console-refund-' + crypto.randomBytes(8).toString('hex')}});

	const {page, errors} = await C.openConsole(browser, blocked, '');
	await C.login(page, 'demo_operator');
	await page.goto(`${BASE}/admin/#/orders?user=${who.user.id}`);
	const row = page.locator('.pager tbody tr', {hasText: order.out_trade_no});
	await row.waitFor();
	await row.locator('button.refund').click();
	await page.locator('#dialog[open]').waitFor();
	// the form's messages
	await page.locator('#f-amount_fen').fill(String(order.amount_fen + 1));
	await page.locator('#dialog-ok').click();
	await page.locator('.field-error[data-field="amount_fen"]', {hasText: '不能大于'}).waitFor();
	await page.locator('.field-error[data-field="reason"]', {hasText: '请填写退款原因'}).waitFor();
	await page.locator('#f-amount_fen').fill('');
	await page.locator('#f-reason').fill('控制台测试退款');
	await page.locator('#f-if_spent').selectOption('refuse');
	await page.locator('#dialog-ok').click();
	await page.locator('#dialog-error:not(:empty)').waitFor();
	const refused = (await page.locator('#dialog-error').textContent()).trim();
	assert.equal((await page.locator('#msg.error').textContent()).trim(), refused);
	await C.shot(page, 'refund');
	assert.deepEqual((await H.apiOk(api, 'GET', `/admin/orders/${order.out_trade_no}/refunds`, {token: operator})).items, []);
	// taking what is left of the credits back
	await page.locator('#f-if_spent').selectOption('take_remaining');
	const answer = page.waitForResponse((r) => r.url().endsWith(`/api/v1/admin/orders/${order.out_trade_no}/refunds`) &&
		r.request().method() === 'POST' && r.status() < 300);
	await page.locator('#dialog-ok').click();
	const refund = (await (await answer).json()).data.refund;
	assert.equal(refund.amount_fen, order.amount_fen);
	assert.equal(refund.reason, '控制台测试退款');
	assert.equal(refund.if_spent, 'take_remaining');
	await page.locator('#msg.ok', {hasText: `退款 ${refund.out_refund_no}`}).waitFor();
	assert.equal(await page.locator('#dialog[open]').count(), 0);
	const listed = (await H.apiOk(api, 'GET', `/admin/orders/${order.out_trade_no}/refunds`, {token: operator})).items;
	assert.deepEqual(listed.map((r) => r.out_refund_no), [refund.out_refund_no]);
	// the order's refunds, as the console lists them
	await row.locator('button.refunds').click();
	await page.locator('#dialog[open]', {hasText: refund.out_refund_no}).waitFor();
	await C.shot(page, 'refunds');
	assert.deepEqual(errors, []);
	assert.deepEqual(blocked, []);
	await page.context().close();
});
