/*
 * dev-bridge.js — for a local development stack only: a stand-in for the WeixinJSBridge that
 * WeChat's browser provides, so that a purchase can be tried in an ordinary browser.
 *
 * app.js loads it only when the page is served from a loopback address (127.0.0.1,
 * localhost, [::1]) and the user asked for it on the outside-WeChat notice. Its payment sheet
 * is a WeUI dialog; "确认支付" asks the WeChat Pay simulator of the stack to pay the order
 * (POST <simulator>/__sim/pay/pay), which then notifies the service the way WeChat Pay does.
 * The page learns the result only from the service, exactly as in WeChat.
 *
 * The simulator listens on the page's port + 10 unless ?sim=<URL> named another.
 */
(function () {
	'use strict';

	if (window.WeixinJSBridge) return;

	var q = new URLSearchParams(location.search);
	var simUrl = q.get('sim') || sessionStorage.getItem('aiphoto.devpay.sim') ||
		location.protocol + '//' + location.hostname + ':' + ((Number(location.port) || 80) + 10);
	try { sessionStorage.setItem('aiphoto.devpay.sim', simUrl); } catch (e) { /* ignore */ }

	function dialog(order, done) {
		var AP = window.AP;
		var root = AP.el('div', {id: 'ap-devpay'}, [
			AP.el('div', {class: 'weui-mask'}),
			AP.el('div', {class: 'weui-dialog', role: 'dialog'}, [
				AP.el('div', {class: 'weui-dialog__hd'}, [
					AP.el('strong', {class: 'weui-dialog__title', text: '模拟微信支付（开发环境）'})
				]),
				AP.el('div', {class: 'weui-dialog__bd', text: order ?
					'支付 ' + AP.yuan(order.amount_fen) + '，获得 ' + order.credits + ' 积分。由本机的微信支付模拟器完成。' :
					'找不到要支付的订单。'}),
				AP.el('div', {class: 'weui-dialog__ft'}, [
					AP.el('a', {href: 'javascript:', role: 'button', id: 'ap-devpay-cancel',
						class: 'weui-dialog__btn weui-dialog__btn_default', text: '取消'}),
					AP.el('a', {href: 'javascript:', role: 'button', id: 'ap-devpay-confirm',
						class: 'weui-dialog__btn weui-dialog__btn_primary', text: '确认支付'})
				])
			])
		]);
		function close(result) {
			if (root.parentNode) root.parentNode.removeChild(root);
			done(result);
		}
		root.querySelector('#ap-devpay-cancel').addEventListener('click', function () { close('cancel'); });
		root.querySelector('#ap-devpay-confirm').addEventListener('click', function () {
			if (!order) { close('fail'); return; }
			// the simulator sends no CORS headers: the request goes out, its answer stays opaque
			fetch(simUrl + '/__sim/pay/pay', {
				method: 'POST',
				mode: 'no-cors',
				headers: {'Content-Type': 'text/plain'},
				body: JSON.stringify({out_trade_no: order.out_trade_no})
			}).then(function () { close('ok'); }, function () { close('fail'); });
		});
		document.body.appendChild(root);
	}

	window.WeixinJSBridge = {
		invoke: function (name, params, cb) {
			if (name !== 'getBrandWCPayRequest') {
				cb({err_msg: name + ':fail', err_desc: 'not simulated'});
				return;
			}
			var order = window.AP && window.AP.pendingOrder;
			if (order && order.pay_params && order.pay_params.package !== params.package) order = null;
			dialog(order, function (r) {
				cb({err_msg: 'get_brand_wcpay_request:' + r});
			});
		}
	};
	document.dispatchEvent(new Event('WeixinJSBridgeReady'));
})();
