-- Sticky main content: where `content = "auto"` found a watch's statement
-- on its last check with text (an element path, see
-- src/normalize/extract.rs). The next check prefers that region while it
-- still exists, so the text's boundaries do not move as the statement is
-- edited. NULL: never chosen, or the whole page is kept.
ALTER TABLE watches ADD COLUMN region TEXT;
