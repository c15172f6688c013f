-- 0013 — an order is for one app, and says which.
--
-- One merchant (WXPAY_MCHID) is bound to both apps: the Official Account (WECHAT_APPID, its
-- H5 pages pay with getBrandWCPayRequest) and the mini program (WECHAT_MP_APPID, it pays with
-- wx.requestPayment). A JSAPI order is placed with the appid of the app the payer uses and
-- that app's openid of the payer: until now every order was the Official Account's; from now
-- on create-order places a mini-program order for a mini-program token. orders.appid, written
-- since 0001 with WECHAT_APPID, is that appid: the notify, the order query and the
-- reconciliation compare WeChat Pay's appid with the order's own (model/orders.c), no longer
-- with the Official Account's.
--
-- The column never said it must not be empty. Every version of the service wrote a non-empty
-- appid, but a row made by hand may not have one: such an order counts as the Official
-- Account's (the only app orders were placed with before). From now on an order carries an
-- appid of 1-32 characters (WeChat's appids are at most 32): the constraint holds for every
-- order made after this migration and leaves the ones already there as they are (so an old
-- order without an appid can still be settled, closed or refunded).

DO $$
BEGIN
    EXECUTE format(
        'ALTER TABLE orders ADD CONSTRAINT orders_appid_check CHECK '
        '(id <= %s OR (appid <> %L AND char_length(appid) <= 32))',
        (SELECT coalesce(max(id), 0) FROM orders), '');
END
$$;

COMMENT ON COLUMN orders.appid IS
    'The appid the order was placed with at WeChat Pay: the Official Account''s (WECHAT_APPID) '
    'or the mini program''s (WECHAT_MP_APPID); its payer_openid is a user of that app. '
    'Empty only on rows older than migration 0013: those count as the Official Account''s.';
