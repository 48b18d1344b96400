-- Why: the evidence export (`chancery export --warc`) writes every stored
-- response as it was received, so a third party can check what a page said
-- and when. That needs the request and response heads (status line and
-- headers as HTTP/1 text), the time the request was sent and the server's
-- address, which `checks` does not keep. One row per check whose body is
-- in `bodies` (kept with it, or the same bytes kept earlier): the checks an
-- export can write. Not for every response: on a watch answering 304 that
-- measured +520 bytes per check, three times the rest of its history.
-- Checks recorded before this migration have no row and are exported
-- without headers.
CREATE TABLE check_heads (
    check_id      INTEGER PRIMARY KEY NOT NULL REFERENCES checks (id),
    -- Unix milliseconds, when the request was sent.
    requested_at  INTEGER NOT NULL,
    remote_ip     TEXT,
    -- `GET /path HTTP/1.1` and the request headers chancery set, CRLF lines,
    -- ending with an empty line.
    request_head  BLOB NOT NULL,
    -- The status line and response headers as received, same layout.
    response_head BLOB NOT NULL
);
