-- seed-demo.sql — demo data for the local stack.
--
-- Loaded by `aiphotoctl seed` after the migrations on every `stack up`, inside
-- one transaction (so no BEGIN/COMMIT here). Idempotent: rows carry fixed ids
-- and ON CONFLICT DO NOTHING, so a re-run never duplicates anything and never
-- overwrites what an admin (or a test) changed since. The identity sequences
-- are moved past the fixed ids at the end, so later inserts cannot collide.
--
-- Fixtures tests may rely on:
--   packages 1–3 active, 4 inactive
--   scenes   1–5 active (categories 写真, 古风, 职业照), 6 inactive
--   prompt templates 1 (photography) and 2 (fitting), both generic (no scene),
--            3 (photography, scene 3 only); {{name}} placeholders
--   ai_models 1–4 on the local simulator: each kind has an OpenAI-style sync
--             model and a DashScope-style async one, at different priorities
--   system_config pricing, checkin, invite, backend_config, notify (the simulator's
--            templates: sim-task-done-template for the Official Account,
--            sim-mp-task-done for the mini program), content_check (off)
-- The demo admins (one per role) are not here: scripts/stack creates them with
-- `aiphotoctl admin add`, which hashes their password (docs/admin.md).

-- ---------------------------------------------------------------- packages
INSERT INTO packages (id, name, price_fen, credits, bonus_credits, active, sort_order)
OVERRIDING SYSTEM VALUE VALUES
    (1, '入门包',   600,   60,   0, true,  10),
    (2, '标准包',  3000,  300,  30, true,  20),
    (3, '超值包',  6800,  680, 120, true,  30),
    (4, '旧版礼包', 1200, 100,  10, false, 40)
ON CONFLICT DO NOTHING;

-- ------------------------------------------------------------------ scenes
INSERT INTO scenes (id, name, category, description, thumbnail_url, parameters, active, sort_order)
OVERRIDING SYSTEM VALUE VALUES
    (1, '清新日系', '写真', '柔光、浅色背景的日系人像',
        '/media/demo/scene-1.jpg',
        '{"styles":["自然","胶片","逆光"],"aspect":"3:4"}', true, 10),
    (2, '城市街拍', '写真', '都市街头的时尚抓拍',
        '/media/demo/scene-2.jpg',
        '{"styles":["白天","夜景"],"aspect":"3:4"}', true, 20),
    (3, '汉服古韵', '古风', '传统汉服与园林布景',
        '/media/demo/scene-3.jpg',
        '{"styles":["唐风","宋韵","明制"],"aspect":"2:3"}', true, 10),
    (4, '水墨仙侠', '古风', '水墨山水间的仙侠造型',
        '/media/demo/scene-4.jpg',
        '{"styles":["水墨","工笔"],"aspect":"2:3"}', true, 20),
    (5, '商务形象照', '职业照', '纯色背景的正装形象照',
        '/media/demo/scene-5.jpg',
        '{"styles":["蓝底","白底","灰底"],"aspect":"1:1","attire":["西装","衬衫"]}', true, 10),
    (6, '复古港风', '写真', '已下线的旧场景',
        '/media/demo/scene-6.jpg',
        '{"styles":["霓虹"],"aspect":"3:4"}', false, 30)
ON CONFLICT DO NOTHING;

-- -------------------------------------------------------- prompt templates
INSERT INTO prompt_templates (id, name, type, scene_id, template, negative_prompt, active)
OVERRIDING SYSTEM VALUE VALUES
    (1, '通用写真模板', 'photography', NULL,
        'A high-quality portrait photo of the person in the reference images, scene: {{scene}} ({{category}}), style: {{style}}, aspect ratio {{aspect}}, natural skin texture, professional lighting. {{extra}}',
        'blurry, deformed face, extra fingers, watermark, text, low quality', true),
    (2, '通用试衣模板', 'fitting', NULL,
        'The person from the first image wearing the garment from the second image, same pose and background, realistic fabric folds and fit. {{extra}}',
        'distorted body, wrong garment, watermark, text, low quality', true),
    (3, '汉服古韵模板', 'photography', 3,
        'A traditional hanfu portrait of the person in the reference images in a classical Chinese garden ({{scene}}), style: {{style}}, aspect ratio {{aspect}}, soft natural light. {{extra}}',
        'modern clothing, blurry, deformed face, watermark, text, low quality', true)
ON CONFLICT DO NOTHING;
-- Stacks seeded before templates used {{name}} placeholders: bring the demo rows up to date
-- (only while they still hold the old single-brace text).
UPDATE prompt_templates
   SET template = regexp_replace(template, '\{([a-z_]+)\}', '{{\1}}', 'g')
 WHERE id IN (1, 2) AND template !~ '\{\{';

-- ---------------------------------------------------------------- ai_models
-- Endpoints are base URLs on the local simulator; the key is read from the
-- environment variable named in api_key_env (the stack exports a dummy one).
INSERT INTO ai_models (id, name, provider, mode, kind, endpoint, api_key_env, model,
                       priority, weight, timeout_ms, poll_interval_ms, options, active)
OVERRIDING SYSTEM VALUE VALUES
    (1, 'sim-openai-photography', 'openai', 'sync', 'photography',
        'http://127.0.0.1:18090/openai/v1', 'AIPHOTO_SIM_KEY', 'sim-image-1',
        10, 1, 30000, 1000, '{"size":"768x1024"}', true),
    (2, 'sim-dashscope-photography', 'dashscope', 'async', 'photography',
        'http://127.0.0.1:18090/dashscope/api/v1', 'AIPHOTO_SIM_KEY', 'sim-wanx-1',
        20, 1, 30000, 500, '{"size":"768*1024"}', true),
    (3, 'sim-dashscope-fitting', 'dashscope', 'async', 'fitting',
        'http://127.0.0.1:18090/dashscope/api/v1', 'AIPHOTO_SIM_KEY', 'sim-tryon-1',
        10, 1, 30000, 500, '{}', true),
    (4, 'sim-openai-fitting', 'openai', 'sync', 'fitting',
        'http://127.0.0.1:18090/openai/v1', 'AIPHOTO_SIM_KEY', 'sim-image-1',
        20, 1, 30000, 1000, '{"size":"768x1024"}', true)
ON CONFLICT DO NOTHING;

-- ----------------------------------------------------------- system_config
-- pricing:        credits per generated image, by task type
-- checkin:        base_credits + streak_bonus × min(streak − 1, max_bonus_days)
-- invite:         credits to the invitee and to the inviter, once per invitee
-- backend_config: mini-program gray release (GET /config/backend,
--                 docs/gray-release.md); the server_url answered is
--                 PUBLIC_BASE_URL (the adapter appends /api/...) unless a
--                 server_url is set here
-- notify:         how a user hears that a task ended (docs/wechat.md "Task
--                 notices"): task_template_id (+ task_page_url, which the
--                 stack sets to its own member page) for the Official Account's
--                 template message; mp for the mini program's subscribe
--                 message: its template_id, the page it opens ({task_id} and
--                 the other placeholders are filled in), miniprogram_state,
--                 lang, and data: each of the template's keys → a value
--                 template, cut to the limit of the key's type
-- content_check:  WeChat's content security on nicknames, prompt text and
--                 uploads (docs/wechat.md "Content safety"); off by default
INSERT INTO system_config (key, value) VALUES
    ('pricing', '{"photography":10,"fitting":15}'),
    ('checkin', '{"base_credits":5,"streak_bonus":1,"max_bonus_days":6}'),
    ('invite', '{"invitee_bonus":10,"inviter_bonus":20}'),
    ('backend_config',
        '{"backend_type":"server","gray_release":false,"gray_percent":0,"white_list":[],"black_list":[]}'),
    ('notify',
        '{"task_template_id":"sim-task-done-template",
          "mp":{"template_id":"sim-mp-task-done",
                "page":"pages/works/works?task_id={task_id}",
                "miniprogram_state":"formal","lang":"zh_CN",
                "data":{"thing1":"{kind}","phrase2":"{outcome}",
                        "character_string3":"{task_id}","time4":"{finished_at}",
                        "thing5":"已生成{done}张，共{count}张"}}}'),
    ('content_check',
        '{"enabled":false,"text":true,"media":true,"on_error":"open","refuse_review":false}')
ON CONFLICT DO NOTHING;

-- ------------------------------------------------------ identity sequences
-- Move each sequence to at least the largest id in use (fixed ids included),
-- never backwards, so the next generated id cannot collide.
DO $$
DECLARE
    t    text;
    seq  text;
    top  bigint;
BEGIN
    FOREACH t IN ARRAY ARRAY['packages', 'scenes', 'prompt_templates', 'ai_models'] LOOP
        seq := pg_get_serial_sequence(t, 'id');
        EXECUTE format('SELECT max(id) FROM %I', t) INTO top;
        SELECT GREATEST(top, s.last_value, 1) INTO top
          FROM pg_sequences s
         WHERE format('%I.%I', s.schemaname, s.sequencename)::regclass = seq::regclass;
        PERFORM setval(seq, top);
    END LOOP;
END;
$$;
