-- Why: changing a watch's select/exclude/ignore changes its normalized text
-- without the page changing. Remembering a fingerprint of the filters that
-- produced the last snapshot lets the pipeline notice the change and record
-- the re-normalized last snapshot as a new baseline ("rebaselined") instead
-- of reporting a false edit. NULL for watches recorded before this migration:
-- their next check just stores the current fingerprint.
ALTER TABLE watches ADD COLUMN filters_sha256 TEXT;
