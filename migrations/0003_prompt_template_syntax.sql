-- 0003: documents the placeholder syntax of prompt templates (no data or structure change).
--
-- A template is text with placeholders {{name}}: name is 1-32 of A-Z a-z 0-9 _, spaces may
-- stand inside the braces ({{ style }}).  When a task is submitted (and for POST
-- /prompts/generate) each placeholder is replaced, in one pass, by the first value found in:
-- the request's params, the scene's parameters, then {"scene": scene name, "category":
-- scene category}; a name found nowhere becomes the empty string.  The result is frozen in
-- tasks.prompt / tasks.negative_prompt.

COMMENT ON COLUMN prompt_templates.template IS
    'prompt text with {{name}} placeholders (name: [A-Za-z0-9_]{1,32}); values from request params, then scene.parameters, then scene/category; unknown names render empty';
COMMENT ON COLUMN prompt_templates.negative_prompt IS
    'negative prompt, rendered with the same {{name}} placeholders as template';
COMMENT ON COLUMN prompt_templates.scene_id IS
    'the scene this template is for; NULL = the type''s general template (used when the scene has none)';
