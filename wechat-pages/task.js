/*
 * task.js — task.html?id=N: the progress of one generation task. Each finished image appears
 * as it completes; the page asks GET /tasks/:id again with a growing pause (1 s, then ×1.5 up
 * to 8 s) and only while it is visible, and at once when it becomes visible again. The items
 * not started yet can be cancelled, and the refund is shown. A task that ended while the user
 * was away says so on the next visit: the state always comes from the server.
 *
 * task.html without an id lists the user's tasks, newest first, each linking to its progress.
 */
(function () {
	'use strict';
	var $ = AP.$;
	var el = AP.el;
	var FIRST = 1000;
	var LONGEST = 8000;
	var ENDED = ['completed', 'partial', 'failed', 'canceled'];
	var STATUS = {
		queued: '排队中', running: '生成中', completed: '已完成', partial: '部分完成',
		failed: '生成失败', canceled: '已取消'
	};
	var TYPE = {photography: 'AI 写真', fitting: 'AI 试衣'};

	var id = new URLSearchParams(location.search).get('id');
	var task = null;
	var delay = FIRST;
	var timer = null;
	var inFlight = false;

	function ended(t) {
		return ENDED.indexOf(t.status) >= 0;
	}

	function remaining(t) {
		return Math.max(0, t.count - t.done - t.failed - (t.canceled || 0));
	}

	function workTile(w, urls) {
		if (w.status === 'succeeded' && (w.thumb_url || w.image_url)) {
			return el('button', {type: 'button', class: 'ap-tile ap-work', 'data-work': w.id, 'data-status': w.status,
				'aria-label': '查看大图',
				onclick: function () { AP.showImage(w.image_url || w.thumb_url, urls); }}, [
				el('img', {src: w.thumb_url || w.image_url, alt: '生成的图片 ' + w.id})
			]);
		}
		var text = {failed: '失败', canceled: '已取消', running: '生成中…'}[w.status] || '排队中…';
		return el('div', {class: 'ap-tile ap-work', 'data-work': w.id, 'data-status': w.status}, [
			el('span', {class: 'ap-tile-state', text: text})
		]);
	}

	/* Redraws what changed: finished tiles are replaced, the others stay as they are. */
	function render(t) {
		task = t;
		var finished = t.done + t.failed + (t.canceled || 0);
		AP.setText('#task-title', (TYPE[t.type] || '生成') + ' · ' + t.count + ' 张');
		$('#task-bar i').style.width = (t.count ? Math.round(finished * 100 / t.count) : 0) + '%';
		$('#task-bar').setAttribute('aria-valuemax', String(t.count));
		$('#task-bar').setAttribute('aria-valuenow', String(finished));
		AP.setText('#task-progress', '已完成 ' + t.done + ' 张 · 失败 ' + t.failed + ' 张 · 剩余 ' + remaining(t) + ' 张' +
			(t.canceled ? ' · 已取消 ' + t.canceled + ' 张' : ''));
		var status = STATUS[t.status] || t.status;
		if (t.status === 'completed') status = '全部完成，共 ' + t.done + ' 张';
		else if (t.status === 'partial') {
			status = '已结束：成功 ' + t.done + ' 张' + (t.failed ? '，失败 ' + t.failed + ' 张' : '') +
				(t.canceled ? '，取消 ' + t.canceled + ' 张' : '');
		}
		else if (t.status === 'canceled') status = '已取消';
		else if (t.status === 'failed') status = '生成失败';
		AP.setText('#task-status', status);
		$('#task-status').setAttribute('data-status', t.status);
		var refund = Number(t.credits_refunded) || 0;
		AP.setText('#task-refund', '已退还 ' + refund + ' 积分（共扣 ' + t.credits_charged + ' 积分）');
		$('#task-refund').classList.toggle('ap-hidden', refund <= 0);
		$('#cancel').classList.toggle('ap-hidden', ended(t) || remaining(t) === 0);
		$('#to-works').classList.toggle('ap-hidden', t.done === 0);

		var box = $('#works');
		var urls = t.works.filter(function (w) { return w.status === 'succeeded'; }).map(function (w) {
			return w.image_url || w.thumb_url;
		});
		t.works.forEach(function (w, i) {
			var old = box.children[i];
			if (old && old.getAttribute('data-work') === String(w.id) &&
				old.getAttribute('data-status') === w.status) return;
			var tile = workTile(w, urls);
			if (old) box.replaceChild(tile, old);
			else box.appendChild(tile);
		});
		$('#task').classList.remove('ap-hidden');
		$('#works-section').classList.toggle('ap-hidden', !t.works.length);
		$('#task-actions').classList.remove('ap-hidden');
	}

	async function refresh() {
		if (inFlight) return;
		inFlight = true;
		try {
			var t = await AP.api('GET', '/tasks/' + encodeURIComponent(id));
			var before = task ? task.done + task.failed : -1;
			render(t);
			// something moved: look again soon; nothing did: wait longer each time
			delay = before < 0 || t.done + t.failed !== before ? FIRST : Math.min(LONGEST, Math.round(delay * 1.5));
		} catch (e) {
			if (e.status === 404) throw e;
			AP.tip(AP.errorText(e));
			delay = Math.min(LONGEST, delay * 2);
		} finally {
			inFlight = false;
		}
		schedule();
	}

	function schedule() {
		clearTimeout(timer);
		timer = null;
		if (!task || ended(task) || document.visibilityState === 'hidden') return;
		timer = setTimeout(function () { refresh().catch(function (e) { AP.tip(AP.errorText(e)); }); }, delay);
	}

	document.addEventListener('visibilitychange', function () {
		if (!id || !task) return;
		if (document.visibilityState === 'hidden') {
			clearTimeout(timer);
			timer = null;
		} else if (!ended(task)) {
			delay = FIRST;
			refresh().catch(function (e) { AP.tip(AP.errorText(e)); });
		}
	});

	$('#cancel').addEventListener('click', function () {
		var btn = this;
		AP.confirm('取消生成', '还没开始的 ' + remaining(task) + ' 张将不再生成，积分会退回。已完成的作品保留。', '确认取消')
			.then(function (ok) {
				if (!ok) return;
				AP.busy(btn, async function () {
					var t = await AP.api('POST', '/tasks/' + encodeURIComponent(id) + '/cancel');
					render(t);
					schedule();
					AP.toast('已取消，退还 ' + t.credits_refunded + ' 积分');
				});
			});
	});

	/* ------------------------------------------------------------ the list */

	var cursor = null;

	function taskRow(t) {
		return el('a', {class: 'weui-cell weui-cell_access ap-task-row', 'data-task': t.id,
			href: 'task.html?id=' + encodeURIComponent(t.id)}, [
			el('div', {class: 'weui-cell__bd'}, [
				el('p', {text: (TYPE[t.type] || t.type) + ' · ' + t.count + ' 张'}),
				el('p', {class: 'ap-muted', text: AP.when(t.created_at)})
			]),
			el('div', {class: 'weui-cell__ft', text: (STATUS[t.status] || t.status) +
				(ended(t) ? '' : ' ' + t.done + '/' + t.count)})
		]);
	}

	async function loadList() {
		var d = await AP.api('GET', '/tasks?limit=12' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
		d.items.forEach(function (t) { $('#tasks').appendChild(taskRow(t)); });
		cursor = d.next_cursor || null;
		$('#more-area').classList.toggle('ap-hidden', !cursor);
		$('#tasks-end').classList.toggle('ap-hidden', !!cursor);
		if (!$('#tasks').children.length) AP.setText('#tasks-end-text', '还没有任务，去“创作”生成第一组照片吧');
	}

	$('#load-more').addEventListener('click', function () { AP.busy(this, loadList); });

	AP.start({
		scope: 'snsapi_base',
		load: async function () {
			$('#view').classList.remove('ap-hidden');
			if (!id) {
				document.title = '我的任务';
				$('#list-view').classList.remove('ap-hidden');
				await loadList();
				return;
			}
			AP.wxReady(); // inside WeChat: previewImage for the full image, set up ahead of a tap
			await refresh();
		}
	});
})();
