-- Why: a watch with `render = "browser"` stores as its raw body the page's
-- DOM after its scripts ran, not the bytes the server sent. The evidence
-- export must say so (a `resource` record of the rendered page beside the
-- main document's response head, not a `response` record that would claim
-- the server sent that body), so each check's heads record which browser
-- rendered it. NULL: the body is the response as received.
ALTER TABLE check_heads ADD COLUMN rendered_by TEXT;
